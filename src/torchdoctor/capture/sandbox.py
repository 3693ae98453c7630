"""Keep a confirmation re-run from touching the user's files.

A re-run executes the user's script again, with a changed learning rate or a
bypassed module. A script that saves a checkpoint, a log or a plot would then
overwrite what the real run wrote with what the experiment wrote. Inside a
re-run (never in the observed run, which is the user's own), every write to a
path outside the sandbox folder is redirected into it; later reads of the same
path follow the redirection, so a script that saves and reloads still works.
Deleting or renaming a user's file becomes a no-op on the real file.

Left alone: folders the re-run itself creates in the system's temporary folder
(tempfile.mkdtemp, DataLoader worker sockets, torch.compile builds) and torch's
caches (inductor, triton, ~/.cache). Not caught: writes made by C code or other processes (os.system,
subprocess); sqlite3 databases opened by path are redirected like files.
"""
from __future__ import annotations

import builtins
import hashlib
import io
import os
import shutil
import tempfile
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class WriteSandbox:
    def __init__(self, root: str, temp_dir: str | None = None) -> None:
        self.root = os.path.realpath(root) + os.sep
        self.map: dict[str, str] = {}
        self._saved: list[tuple[Any, str, Any]] = []
        tmp = os.path.realpath(temp_dir or tempfile.gettempdir())
        home = os.path.expanduser("~")
        self.tmp = tmp + os.sep
        self.exempt: tuple[str, ...] = (
            self.root, "/dev/", "/proc/", os.path.join(tmp, "torchinductor"),
            os.path.join(home, ".cache") + os.sep, os.path.join(home, ".triton") + os.sep)

    # ---- path mapping -------------------------------------------------------
    def _real(self, file: Any) -> str | None:
        if isinstance(file, int) or not isinstance(file, (str, bytes, os.PathLike)):
            return None
        path = os.path.abspath(os.fsdecode(file))
        parent = os.path.dirname(path)
        # compare real paths (the temp folder may be reached through a symlink)
        return os.path.join(os.path.realpath(parent), os.path.basename(path)) if parent else path

    def _exempt(self, path: str) -> bool:
        return path.startswith(self.exempt)

    def redirect(self, file: Any, writing: bool, keep_content: bool = False) -> Any:
        path = self._real(file)
        if path is None or self._exempt(path):
            return file
        if path in self.map:
            return self.map[path]
        if not writing:
            return file
        digest = hashlib.sha1(path.encode()).hexdigest()[:12]
        new = os.path.join(self.root, f"{digest}-{os.path.basename(path) or 'dir'}")
        if keep_content and os.path.isfile(path):
            shutil.copyfile(path, new)                 # append/update modes see the old content
        self.map[path] = new
        return new

    # ---- patched functions ----------------------------------------------------
    def _open(self, orig):
        def open_(file, mode="r", *args, **kwargs):
            writing = any(c in mode for c in "wax+")
            return orig(self.redirect(file, writing, keep_content="a" in mode or "+" in mode), mode,
                        *args, **kwargs)
        return open_

    def _os_open(self, orig):
        def os_open(path, flags, *args, **kwargs):
            writing = bool(flags & _WRITE_FLAGS)
            return orig(self.redirect(path, writing, keep_content=not flags & os.O_TRUNC), flags,
                        *args, **kwargs)
        return os_open

    def _mkdir(self, orig):
        def mkdir(path, *args, **kwargs):
            real = self._real(path)
            if real is not None and real.startswith(self.tmp) and not self._exempt(real) \
                    and not os.path.exists(real):
                result = orig(path, *args, **kwargs)     # a new temp folder of the re-run's own
                self.exempt += (real + os.sep,)
                return result
            if real is not None and not self._exempt(real) and not os.path.isdir(real):
                os.makedirs(self.redirect(path, True), exist_ok=True)
                return None
            return orig(path, *args, **kwargs)
        return mkdir

    def _remove(self, orig):
        def remove(path, *args, **kwargs):
            real = self._real(path)
            if real is not None and real in self.map:
                return orig(self.map.pop(real), *args, **kwargs)
            if real is not None and not self._exempt(real):
                return None                             # never delete the user's file
            return orig(path, *args, **kwargs)
        return remove

    def _rename(self, orig):
        def rename(src, dst, *args, **kwargs):
            s, d = self._real(src), self._real(dst)
            if d is not None and not self._exempt(d):
                if s is not None and s in self.map:
                    return orig(self.map.pop(s), self.redirect(dst, True), *args, **kwargs)
                if s is not None and not self._exempt(s):
                    shutil.copyfile(s, self.redirect(dst, True))   # the user's src stays where it is
                    return None
            return orig(src, dst, *args, **kwargs)
        return rename

    def _torch_save(self, orig):
        def save(obj, f, *args, **kwargs):               # torch.save writes a path from C++, not via open()
            return orig(obj, self.redirect(f, True), *args, **kwargs)
        return save

    def _sqlite_connect(self, orig):
        def connect(database, *args, **kwargs):
            if database == ":memory:" or (isinstance(database, str) and database.startswith("file:")):
                return orig(database, *args, **kwargs)
            return orig(self.redirect(database, True, keep_content=True), *args, **kwargs)
        return connect

    def __enter__(self) -> "WriteSandbox":
        import sqlite3

        import torch
        import torch.serialization
        patches = [(torch, "save", self._torch_save), (torch.serialization, "save", self._torch_save),
                   (sqlite3, "connect", self._sqlite_connect),
                   (builtins, "open", self._open), (io, "open", self._open), (os, "open", self._os_open),
                   (os, "mkdir", self._mkdir), (os, "makedirs", self._mkdir),
                   (os, "remove", self._remove), (os, "unlink", self._remove),
                   (os, "rename", self._rename), (os, "replace", self._rename)]
        for mod, name, make in patches:
            orig = getattr(mod, name)
            self._saved.append((mod, name, orig))
            setattr(mod, name, make(orig))
        return self

    def __exit__(self, *exc: Any) -> None:
        for mod, name, orig in reversed(self._saved):
            setattr(mod, name, orig)
        self._saved.clear()
