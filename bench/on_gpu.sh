#!/usr/bin/env bash
# The GPU measurement in one call of under 10 minutes, most wanted first, each step under its own
# time limit and all of them under one budget (BUDGET seconds, default 560), so that a slow step
# leaves the rest their turn and a late one is cut to what is left, then one table of it all:
#   tests       the CUDA tests (bf16 training, CUDA graphs equal to eager, crops, compiled training)
#   train       bench_train: b/a and b/d at batch 12 and 96, eager and graphed, at precision auto (bf16)
#   concurrent  bench_concurrent: 1, 2, 4, 8 paper-protocol runs sharing the GPU, a paper split's
#               minutes and the paper grid's hours at each
#   tf32        bench_train again at runtime.precision tf32 (fp32 storage, TF32 tensor cores), one round
# `bash bench/on_gpu.sh` runs them all; `bash bench/on_gpu.sh train` one of them.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
# the package of this checkout, where it is not installed (the GPU machine has no network to install it)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out=${OUT:-$(mktemp -d)}
budget=${BUDGET:-560}
[[ $budget =~ ^[0-9]+$ ]] || { echo "on_gpu.sh: BUDGET '$budget': whole seconds expected" >&2; exit 2; }
table_s=20  # kept for the table at the end
step() {  # step SECONDS command...: run it within its limit and the budget left, say how it ended, go on
  local limit=$1 left=$((budget - table_s - SECONDS)); shift
  if [ "$left" -lt "$limit" ]; then limit=$left; fi
  if [ "$limit" -lt 30 ]; then echo "=== skipped, $((left > 0 ? left : 0)) s of the budget left: $*"; return; fi
  echo "=== $* (limit ${limit} s)"
  # SIGINT first: pytest then prints its failures before it stops, a bench script its traceback
  timeout -s INT --kill-after=15 "$limit" "$@"; echo "=== exit $?"
}
run() {
  case "$1" in
    tests) step 150 python -m pytest -q -rfE --tb=short -p no:cacheprovider tests/compute/test_gpu.py ;;
    train) step 170 python bench/bench_train.py --backbones resnet50 --batch-sizes 12 96 --rounds 2 \
             --json "$out/train.json" ;;
    concurrent) step 220 python bench/bench_concurrent.py --at-once 1 2 4 8 --epochs 3 --json "$out/concurrent.json" ;;
    tf32) step 100 python bench/bench_train.py --backbones resnet50 --batch-sizes 12 96 --rounds 1 \
            --precision tf32 --json "$out/tf32.json" ;;
    *) echo "usage: bash bench/on_gpu.sh [tests|train|concurrent|tf32]" >&2; exit 2 ;;
  esac
}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
python -c "import torch; print('torch', torch.__version__)"
if [ $# -eq 0 ]; then for what in tests train concurrent tf32; do run "$what"; done; else run "$1"; fi
python bench/gpu_table.py --train "$out/train.json" "$out/tf32.json" --concurrent "$out/concurrent.json"
