#!/usr/bin/env bash
# The GPU measurements in one call of at most 10 minutes, most wanted first, each under its own time
# limit so that a slow step leaves the rest their turn:
#   tests   the CUDA tests (bf16 training and its distinct scores, crops, compiled training)
#   paper   one paper-protocol split on a LIVEC-sized set (2 epochs, scaled to 30) and the grid estimate
#   bench   bench_train at the paper's batch and at 96, eager, then with CUDA graphs (runtime.compile)
# `bash bench/on_gpu.sh` runs them all; `bash bench/on_gpu.sh bench` one of them.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
step() {  # step SECONDS command...: run it, say how it ended, go on either way
  local limit=$1; shift
  echo "=== $* (limit ${limit} s)"
  timeout "$limit" "$@"; echo "=== exit $?"
}
run() {
  case "$1" in
    tests) step 180 python -m pytest -q -p no:cacheprovider tests/test_gpu.py ;;
    paper) step 100 python bench/bench_paper_run.py --epochs 2 ;;
    bench)
      step 100 python bench/bench_train.py --backbones resnet50 --batch-sizes 12 96 --rounds 2 --compile none
      step 180 python bench/bench_train.py --backbones resnet50 --batch-sizes 12 96 --rounds 2 --compile reduce-overhead ;;
    *) echo "usage: bash bench/on_gpu.sh [tests|paper|bench]" >&2; exit 2 ;;
  esac
}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
python -c "import torch; print('torch', torch.__version__)"
if [ $# -eq 0 ]; then for what in tests paper bench; do run "$what"; done; else run "$1"; fi
