#!/usr/bin/env bash
# What matters on a GPU, in under 6 minutes: the device, the GPU-relevant tests, our LSTM
# (cuDNN, and forced onto XLA's loops) against Flax's nn.RNN and PyTorch's cuDNN LSTM, one
# short experiment, and a 2-process run where there are two GPUs. Run from the repository root after
#   pip install -e ".[cuda12,dev,torch]"
# Everything is printed and, where $OUT is set, also kept in $OUT/gpu_check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
log="${OUT:-/tmp}/gpu_check.log"
exec > >(tee "$log") 2>&1
step() { echo; echo "== $1 ($(date -u +%H:%M:%S))"; }

step "machine"
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import jax; print('jax', jax.__version__, jax.devices())"
gpus=$(python -c "import jax; print(sum(d.platform == 'gpu' for d in jax.devices()))")

step "tests on the GPU (cells, scans, the fused layers, models, training)"
JAX_PLATFORMS=cuda timeout 180 python -m pytest -q -x -p no:cacheprovider \
    tests/test_cells.py tests/test_scan.py tests/test_fused_layers.py tests/test_fused_cudnn.py \
    tests/test_convert_cudnn.py tests/test_nnx_layers.py tests/test_models.py tests/test_train.py

step "bench_cells: our LSTM (cuDNN; ours:fused = XLA's loops) / Flax nn.RNN / PyTorch nn.LSTM (cuDNN)"
timeout 180 python -m scripts.bench_cells --cells lstm --repeats 3 --steps 20 --no-nnx --paths fused

step "one short experiment: the time-series demo"
timeout 60 python -m experiments.timeseries --workdir /tmp/gpu_check_ts

if [ "${gpus:-0}" -ge 2 ]; then
    step "2 processes, one GPU each (jax.distributed on 127.0.0.1)"
    for i in 0 1; do
        CUDA_VISIBLE_DEVICES=$i timeout 90 python -m experiments.timeseries \
            --workdir /tmp/gpu_check_dist --dist.coordinator 127.0.0.1:23456 \
            --dist.num-processes 2 --dist.process-id $i &
    done
    wait
else
    step "2-process run skipped: ${gpus:-0} GPU(s)"
fi
step "done"
