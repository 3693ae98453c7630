"""The healthy-run suite: correctly set-up training scripts on which torchdoctor must
raise no error-level finding. Prints one row per script and the totals.

    python benchmarks/healthy_suite.py [--only PATTERN]

Exit status 1 if any script got an error-level finding (a false alarm).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent / "healthy"


def run(script: Path) -> tuple[dict | None, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "r.json")
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "torchdoctor", "run", "-q", "--json", str(out), str(script)],
                              cwd=script.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        return (json.loads(out.read_text()) if out.exists() else None), wall, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    scripts = sorted(p for p in HERE.glob("h*.py") if args.only in p.name)
    errors = warnings = ruled_out = 0
    for s in scripts:
        report, wall, rc = run(s)
        if report is None:
            errors += 1
            print(f"{s.name:<36} NO REPORT (exit {rc})")
            continue
        e = [f["category"] for f in report["findings"] if f["severity"] == "error"]
        w = [f["category"] for f in report["findings"] if f["severity"] == "warning"]
        i = [f["category"] for f in report["findings"] if f["severity"] == "info"]
        errors += bool(e)
        warnings += len(w)
        ruled_out += len(i)
        print(f"{s.name:<36} {report['status']:<9} errors={','.join(e) or '-':<24} "
              f"warnings={','.join(w) or '-':<24} ruled out={','.join(i) or '-':<20} {wall:5.1f}s", flush=True)
    print(f"{len(scripts)} healthy scripts: {errors} with an error-level finding (false alarms), "
          f"{warnings} warnings, {ruled_out} suspicions ruled out by re-runs")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
