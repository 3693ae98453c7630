"""Time to diagnosis on the seed's examples: the script alone vs `torchdoctor run`, side by side.

For each example, runs `python SCRIPT` and `torchdoctor run --json … SCRIPT` (confirmation
re-runs included), alternating, REPEAT times, and prints the median wall times and their
ratio. Target (issue 2): each example fully diagnosed in under 15 s on a 2-core machine.

    python benchmarks/seed_examples.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "torchdoctor" / "examples" / "seed"
TARGET_S = 15.0


def timed(argv: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, python {sys.version.split()[0]}, {args.repeat} runs each (median)")
    print(f"{'example':<26} {'script s':>9} {'torchdoctor s':>14} {'ratio':>6}  top finding")
    worst = 0.0
    for script in sorted(EXAMPLES.glob("*.py")):
        plain, doctor, top = [], [], "-"
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp, "r.json")
            for _ in range(args.repeat):                 # interleaved: both see the same machine load
                plain.append(timed([sys.executable, str(script)]))
                doctor.append(timed([sys.executable, "-m", "torchdoctor", "run", "--quiet",
                                     "--json", str(out), str(script)]))
            findings = [f for f in json.loads(out.read_text())["findings"] if f["severity"] != "info"]
            if findings:
                top = f"{findings[0]['category']} ({findings[0]['confidence']})"
        p, d = statistics.median(plain), statistics.median(doctor)
        worst = max(worst, d)
        print(f"{script.name:<26} {p:9.2f} {d:14.2f} {d / p:6.1f}  {top}")
    print(f"slowest diagnosis {worst:.1f} s (target < {TARGET_S:.0f} s): {'ok' if worst < TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
