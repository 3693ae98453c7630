"""Run a user's training script in this process, as `python SCRIPT ARGS` would.

The script runs as `__main__` with its own `sys.argv`, its folder first on
`sys.path`, and its output going where it always goes. Whatever the script
does (finish, crash, call sys.exit, get stopped by a budget or Ctrl-C), the
interpreter state that was changed for it is put back and the outcome is
returned, never raised.
"""
from __future__ import annotations

import builtins
import contextlib
import io
import os
import signal
import sys
import threading
import traceback
import types
from dataclasses import dataclass
from typing import Any

from .hooks import StopTraining

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
EXAMPLES_DIR = os.path.join(PACKAGE_DIR, "examples") + os.sep


@dataclass
class ScriptResult:
    outcome: str                # finished | max_steps | timeout | crashed | exit | interrupted
    exit_code: int = 0          # the script's own sys.exit code, where it called it
    error: str | None = None    # one line: "ValueError: …"
    traceback: str | None = None   # the script's traceback, frames inside torchdoctor removed
    namespace: dict[str, Any] | None = None   # the script's globals, to name its models


class _Null(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


class _Timer:
    """Raise StopTraining("timeout") in the main thread after `seconds` (SIGALRM),
    and again every second after that, in case the script swallows it."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.active = bool(seconds) and threading.current_thread() is threading.main_thread() \
            and hasattr(signal, "setitimer")

    def _fire(self, signum, frame):
        raise StopTraining("timeout")

    def __enter__(self):
        if self.active:
            self._old = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds, 1.0)
        return self

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)


def load_source(path: str) -> Any:
    """Compile the script; raises OSError or SyntaxError for the caller to report."""
    with open(path, "rb") as f:
        return compile(f.read(), path, "exec", dont_inherit=True)


def run_script(path: str, args: list[str], *, quiet: bool = False,
               timeout: float | None = None) -> ScriptResult:
    """Execute the script at `path`; the caller installs any hooks around this call."""
    path = os.path.abspath(path)
    try:
        code = load_source(path)
    except SyntaxError as e:
        return ScriptResult("crashed", exit_code=1, error=f"SyntaxError: {e}",
                            traceback="".join(traceback.format_exception_only(type(e), e)))
    module = types.ModuleType("__main__")
    module.__dict__.update({"__file__": path, "__builtins__": builtins, "__cached__": None,
                            "__spec__": None, "__loader__": None, "__package__": None})
    saved_main = sys.modules.get("__main__")
    saved_argv, saved_path, saved_cwd = sys.argv, list(sys.path), os.getcwd()
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    saved_exit, main_pid = os._exit, os.getpid()

    def _exit(code: int = 0) -> None:
        # os._exit would end torchdoctor with the script, before any report: in this
        # process it ends only the script. Forked children (DataLoader workers) exit as asked.
        if os.getpid() == main_pid:
            raise SystemExit(code)
        saved_exit(code)
    os._exit = _exit
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(path))
    sys.modules["__main__"] = module
    redirect = (contextlib.redirect_stdout(_Null()), contextlib.redirect_stderr(_Null())) if quiet else ()
    result = ScriptResult("finished")
    try:
        with contextlib.ExitStack() as stack:
            for r in redirect:
                stack.enter_context(r)
            stack.enter_context(_Timer(timeout))
            exec(code, module.__dict__)
    except StopTraining as e:
        result = ScriptResult(e.reason)
    except SystemExit as e:
        code_ = e.code
        if code_ is None or code_ == 0 or code_ is False:
            result = ScriptResult("finished")
        elif isinstance(code_, int):                 # bool included: sys.exit(True) is 1
            result = ScriptResult("exit", exit_code=int(code_))
        else:                                        # sys.exit("message") prints it and exits with 1
            result = ScriptResult("exit", exit_code=1, error=str(code_))
    except KeyboardInterrupt:
        result = ScriptResult("interrupted", exit_code=130, error="KeyboardInterrupt")
    except BaseException as e:  # the script's own failure, reported, never re-raised
        # exit code 1: what `python SCRIPT` would have exited with
        result = ScriptResult("crashed", exit_code=1, error=_one_line(e), traceback=_user_traceback(e))
    finally:
        os._exit = saved_exit
        sys.argv = saved_argv
        sys.path[:] = saved_path
        _restore_streams(saved_streams)
        try:
            os.chdir(saved_cwd)
        except OSError:
            pass
        if saved_main is not None:
            sys.modules["__main__"] = saved_main
    result.namespace = module.__dict__
    return result


def _restore_streams(saved: tuple) -> None:
    """Put back stdin/stdout/stderr as they were; a stream the script closed is reopened
    on its file descriptor, so the report still reaches the terminal."""
    for name, stream, fd, mode in zip(("stdin", "stdout", "stderr"), saved, (0, 1, 2), ("r", "w", "w")):
        if stream is None or getattr(stream, "closed", False):
            try:
                stream = open(fd, mode, closefd=False)
            except OSError:
                stream = open(os.devnull, mode)
        setattr(sys, name, stream)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _user_traceback(e: BaseException) -> str:
    """The traceback as Python would print it, less the frames of torchdoctor itself."""
    tb = e.__traceback__
    frames = [f for f in traceback.extract_tb(tb)
              if not f.filename.startswith(PACKAGE_DIR) or f.filename.startswith(EXAMPLES_DIR)]
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(e), e)
    return "".join(lines)
