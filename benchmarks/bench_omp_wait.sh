#!/bin/bash
# OpenMP's wait policy under a busy CPU: wall time of a short demo training run (recipes/demo.toml, threads = 2)
# beside one CPU hog, with libgomp's default spin (GOMP_SPINCOUNT=300000, what it does when OMP_WAIT_POLICY is unset)
# against the passive wait `axk1` now sets (axk1/cli.py, _passive_omp_wait).
#
#   bash benchmarks/bench_omp_wait.sh RECIPE [STEPS] [ROUNDS]
#
# RECIPE: recipes/demo.toml with [data] manifest and [run] out_dir made absolute (the shards from `axk1 demo`'s data
# step or `axk1 data run recipes/data/starter.toml`); its out_dir is deleted before every run.
set -euo pipefail
recipe=$(realpath "$1"); steps=${2:-12}; rounds=${3:-2}
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
out=$("$python" -c "import sys, tomllib; print(tomllib.load(open(sys.argv[1], 'rb'))['run']['out_dir'])" "$recipe")
for round in $(seq "$rounds"); do
  for policy in spin passive; do
    rm -rf "$out"
    nice -n 10 yes > /dev/null &
    hog=$!
    extra=(); [ "$policy" = spin ] && extra=(GOMP_SPINCOUNT=300000)
    start=$(date +%s.%N)
    env "${extra[@]}" PYTHONPATH="$repo" nice -n 10 "$python" -m axk1 train "$recipe" --max-steps "$steps" > /dev/null 2>&1
    end=$(date +%s.%N)
    kill "$hog"
    echo "round $round $policy: $(echo "$end - $start" | bc) s, load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
