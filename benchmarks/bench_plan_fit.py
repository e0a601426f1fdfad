"""A scaling law fitted from this machine's own runs, and checked on a larger run it never saw.

    .venv/bin/python benchmarks/bench_plan_fit.py --out /tmp/axk1-sweep

1. `axk1 plan sweep -o OUT`: the default grid (4 budgets x 5 sizes) of tiny dense models on the standard library's
   source (bytes), plus a held-out run at 1.5x the largest budget;
2. `axk1 train OUT/runs/<name>/recipe.toml` for each, --jobs at a time (one thread each: 2 on a 2-core machine; a
   run whose metrics already hold a validation loss is not trained again, so an interrupted benchmark resumes);
3. `axk1 plan fit OUT/runs/* -o OUT/law.json --check OUT/holdout --plot OUT/fit.png`;
4. `axk1 train OUT/holdout/recipe.toml`, then the fit's prediction for it against its measured validation loss.
Prints the wall time of every run and the figures benchmarks/RESULTS.md quotes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def axk1(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "axk1.cli", *args], cwd=ROOT, capture_output=True, text=True)


def trained(folder: Path) -> bool:
    metrics = folder / "metrics.jsonl"
    return metrics.exists() and any("val_loss" in json.loads(line) for line in metrics.read_text().splitlines()
                                    if line.strip())


def train(folder: Path) -> float:
    if trained(folder):
        return 0.0
    start = time.perf_counter()
    proc = axk1("train", str(folder / "recipe.toml"))
    if proc.returncode != 0:
        sys.exit(f"{folder}: axk1 train failed\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/axk1-sweep")
    ap.add_argument("--jobs", type=int, default=2, help="runs trained at once (each on one thread)")
    args = ap.parse_args()
    out = Path(args.out)
    if not (out / "sweep.json").exists():
        proc = axk1("plan", "sweep", "-o", str(out))
        print(proc.stdout, proc.stderr)
    sweep = json.loads((out / "sweep.json").read_text())
    start = time.perf_counter()

    def one(run: dict) -> None:
        seconds = train(Path(run["folder"]))
        print(f"{run['name']:>14}  M {run['scale']:.3g}  D {run['tokens']:>9,}  {seconds:6.1f} s", flush=True)

    # largest budgets first, so the last ones to finish are short
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, sorted(sweep["runs"], key=lambda r: -r["budget"] * r["scale"] ** 0.1)))
    print(f"sweep: {len(sweep['runs'])} runs, {(time.perf_counter() - start) / 60:.1f} min of wall time with "
          f"{args.jobs} at a time (this invocation)")
    seconds = train(Path(sweep["holdout"]["folder"]))
    print(f"holdout: M {sweep['holdout']['scale']:.3g}  D {sweep['holdout']['tokens']:,}  {seconds:.1f} s")
    runs = [str(Path(r["folder"])) for r in sweep["runs"]]
    proc = axk1("plan", "fit", *runs, "-o", str(out / "law.json"), "--check", sweep["holdout"]["folder"],
                "--plot", str(out / "fit.png"))
    print(proc.stdout, proc.stderr)


if __name__ == "__main__":
    main()
