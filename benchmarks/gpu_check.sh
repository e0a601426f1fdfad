#!/usr/bin/env bash
# The GPU check (docs/gpu.md), one script for one GPU under the device tool's 600 s a command: the whole script is
# bounded at BUDGET seconds, each step by `timeout -k` (SIGTERM, then SIGKILL KILL_AFTER seconds later):
#   1. the unit tests that need CUDA, first: exactly those marked `gpu` (tests/conftest.py skips them without CUDA;
#      here none may skip), in the files GPU_TESTS names;
#   2. benchmarks/gpu_check.py with the time left: bf16 training of axk1-gpu-small with MFU and its host syncs,
#      compiled with a profile of where a step's time goes, the same model under torchrun (NCCL + gloo, FSDP2 mixed
#      precision, async checkpoint and resume), the same config in transformers for a ratio, and decoding tokens/s
#      beside transformers'; its JSON is rewritten after each part, and SIGTERM stops it at once with what it had
#      measured written (benchmarks/gpu_check_stop.py).
# Prefer the device kind nvidia-h200: the check's 8 x 4,096-token step needs ~93 GB by the trainer's memory account;
# on an H100 80GB (the tool's default kind) the training parts run 5 sequences a step, say so, and the JSON's
# batch_fit records it (benchmarks/gpu_check_fit.py), so their figures are not the H200's.
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR] [gpu_check.py options]   (OUT_DIR: default gpu-check/)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
BUDGET=570     # seconds for the whole script: the tool's 600 less its own start
KILL_AFTER=15  # after SIGTERM; gpu_check.py stops within seconds, a test run at once
GPU_TESTS=(-m gpu tests/test_generate.py tests/test_memory_account.py tests/test_model.py tests/test_train_device.py)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia-smi.txt"
"$PY" -c "import torch, transformers; assert torch.cuda.is_available(), 'torch sees no GPU'; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)"
status=0
# -rs lists skips: on a GPU none of these may skip
timeout -k "$KILL_AFTER" 150 "$PY" -m pytest -q -rs -p no:cacheprovider "${GPU_TESTS[@]}" 2>&1 | tee "$OUT/pytest.txt" || status=1
left=$((BUDGET - SECONDS - KILL_AFTER))
[ "$left" -gt 0 ] || left=1
echo "gpu_check.py: ${left} s"
timeout -k "$KILL_AFTER" "$left" "$PY" benchmarks/gpu_check.py --json "$OUT/gpu_check.json" "${@:2}" 2>&1 | tee "$OUT/gpu_check.txt" || status=1
exit $status
