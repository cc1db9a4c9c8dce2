#!/usr/bin/env bash
# What a session lent a GPU should measure, each step one call of the device tool (at most 10 minutes
# a command, 30 minutes in all), e.g. `bash bench/gpu_session.sh bench` there:
#   tests   the CUDA tests (bf16 training, crops, compiled training in default and reduce-overhead modes)
#   bench   bench_train at the paper's batch and at 96, eager and with CUDA graphs (train.compile)
#   paper   one paper-protocol split on a LIVEC-sized set (2 epochs, scaled to 30) and the grid estimate
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  tests) python -m pytest -q tests/test_gpu.py ;;
  bench)
    for mode in none reduce-overhead; do
      python bench/bench_train.py --backbones resnet50 --batch-sizes 12 96 --rounds 3 --compile "$mode"
    done ;;
  paper)
    for mode in none reduce-overhead; do
      python bench/bench_paper_run.py --epochs 2 --compile "$mode"
    done ;;
  *) echo "usage: bash bench/gpu_session.sh tests|bench|paper" >&2; exit 2 ;;
esac
