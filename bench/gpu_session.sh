#!/usr/bin/env bash
# Everything that needs a CUDA GPU, in one go, for a session that is lent one (the `device` tool).
#
# Here, first:   ../shared/tools/offline-wheels.sh altair pandas    (fills .whl/; carry it with the run)
# There:         bash bench/gpu_session.sh                           (about 8 minutes on one H100/H200)
#
# It installs the carried wheels, runs the tests marked gpu, then bench/gpu_train.py: the fp32/bf16/
# QLoRA table and (a) TRL default / (b) TRL tuned / (c) the workbench on a Llama-3.2-1B shape in bf16
# LoRA and QLoRA, with MFU. Outputs land in $OUT (or ./gpu-out) to copy into README and the issue.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
# The tests marked gpu, FSDP (LoRA and QLoRA) through the accelerate config the workbench writes included.
timeout 300 python3 -m pytest -q -s -m gpu tests/workbench/training -p no:cacheprovider 2>&1 | tail -30 \
  | tee "$out/pytest-gpu.txt"
timeout 420 python3 bench/gpu_train.py --steps 20 --shapes llama-3.2-1b 2>&1 | grep -v Warning \
  | tee "$out/gpu_train.txt"
