#!/usr/bin/env bash
# The GPU check (docs/gpu.md), one script for one H200, budgeted at about 8 minutes and bounded by its two timeouts
# (430 + 150 s) under the device tool's 600 s a command (its first run, with longer parts: 8 min 49 s):
#   1. benchmarks/gpu_check.py: bf16 training of axk1-gpu-small with MFU and its host syncs, compiled with a profile
#      of where a step's time goes, the same model under torchrun (NCCL + gloo, FSDP2 mixed precision, async
#      checkpoint and resume), the same config in transformers for a ratio, and decoding tokens/s beside
#      transformers'; its JSON is rewritten after each part, so a run cut short keeps what it measured;
#   2. the unit tests that need CUDA (they skip on CPU-only machines; here they must run).
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]   (OUT_DIR gets gpu_check.json and the logs; default: gpu-check/)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia-smi.txt"
"$PY" -c "import torch, transformers; assert torch.cuda.is_available(), 'torch sees no GPU'; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)"
status=0
timeout 430 "$PY" benchmarks/gpu_check.py --json "$OUT/gpu_check.json" "${@:2}" 2>&1 | tee "$OUT/gpu_check.txt" || status=1
# -rs lists skips: on a GPU none of these may skip
timeout 150 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_train_device.py tests/test_precision.py tests/test_model.py tests/test_memory_account.py tests/test_generate.py \
  -k "cuda or gpu or flex or bf16 or device or memory" 2>&1 | tee "$OUT/pytest.txt" || status=1
exit $status
