"""Re-fetch the onnxruntime-web files the Explore tab runs G with, into ganlab/ui/static/ort/.

    python tools/vendor_ort.py                 # the pinned version (VERSION below)
    python tools/vendor_ort.py --version 1.22.0

The files are committed, so the app needs neither npm nor a CDN at run time;
this script only makes the vendoring reproducible. It runs ``npm pack`` (the
npm registry's tarball of the package), checks the tarball's integrity against
the registry's, and copies the WebAssembly build: the loader ort.wasm.min.js
(the global ``ort``), its Emscripten glue and the SIMD .wasm it instantiates.
WebGPU's build (ort.webgpu.*, a second 20 MB .wasm) is left out: G at 28-64 px
renders in a few ms on the CPU.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.22.0"
FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
DEST = Path(__file__).resolve().parents[1] / "ganlab" / "ui" / "static" / "ort"


def fetch(version: str, dest: Path = DEST) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["npm", "pack", f"onnxruntime-web@{version}", "--json", "--pack-destination", tmp],
                             check=True, capture_output=True, text=True).stdout
        info = json.loads(out)[0]
        tgz = Path(tmp) / info["filename"]
        algo, _, want = info["integrity"].partition("-")          # "sha512-<base64>"
        got = base64.b64encode(hashlib.new(algo, tgz.read_bytes()).digest()).decode()
        if got != want:
            sys.exit(f"{tgz.name}: integrity {algo} does not match the registry's")
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tgz) as tar:
            for name in FILES:
                with tar.extractfile(f"package/dist/{name}") as src, open(dest / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            meta = json.load(tar.extractfile("package/package.json"))
        # the package ships no LICENSE file; its package.json names the licence
        (dest / "VERSION").write_text(f"onnxruntime-web {version} ({meta.get('license')} licence, "
                                      f"{meta.get('homepage', 'github.com/microsoft/onnxruntime')})\n"
                                      f"npm integrity {info['integrity']}\n"
                                      "re-fetch with: python tools/vendor_ort.py\n")
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", default=VERSION)
    a = p.parse_args(argv)
    dest = fetch(a.version)
    for name in FILES:
        print(f"{(dest / name).stat().st_size:>10,}  {dest / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
