"""Keeping a browser's uploaded images, within the server's limits.

    name, count = save_upload(sessions, who, files)    # "cats", 1 -> the dataset box reads upload:cats

One upload (a .zip, or several images) is at most ``--max-upload`` bytes; a
user keeps at most ``--upload-quota`` bytes of uploads and the server at most
``--upload-total``. Nothing is unpacked: a zip is kept as it came and read in
memory by the folder loader (ganlab.data.folder), which skips what is not a
usable image.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Optional, Sequence, Tuple

from ..access import Identity
from ..errors import GanlabError


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 2**10:,.0f} KB"


def save_upload(sessions, who: Identity, files: Optional[Sequence[str]]) -> Tuple[Optional[str], int]:
    paths = [Path(f) for f in (files or [])]
    if not paths:
        return None, 0
    opts = sessions.options
    sizes = []
    for p in paths:
        st = os.lstat(p)
        if not p.is_file() or p.is_symlink():
            raise GanlabError(f"{p.name} is not a plain file; upload images or one .zip of them.")
        sizes.append(st.st_size)
    size = sum(sizes)
    if size > opts.max_upload:
        raise GanlabError(f"That upload is {_mb(size)}; one upload can be at most {_mb(opts.max_upload)}. "
                          "Send fewer or smaller images (or a smaller .zip).")
    access = sessions.access
    mine = access.upload_bytes(who)
    if mine + size > opts.upload_quota:
        raise GanlabError(f"Your uploads would take {_mb(mine + size)} of your {_mb(opts.upload_quota)}; press "
                          "'Delete my uploads' (or upload fewer images) first.")
    everyone = access.upload_bytes()
    if everyone + size > opts.upload_total:
        raise GanlabError(f"The server's space for uploads is full ({_mb(everyone)} of {_mb(opts.upload_total)}); "
                          "ask the teacher to make room, or train on a built-in set.")
    single_zip = len(paths) == 1 and paths[0].suffix.lower() == ".zip"
    stem = paths[0].stem if single_zip else "images"
    dest = access.new_upload(who, stem)
    try:
        if single_zip:
            shutil.copyfile(paths[0], dest / "images.zip")
        else:
            for i, p in enumerate(paths):
                safe = re.sub(r"[^A-Za-z0-9._-]+", "_", p.name)[-80:] or "image"
                shutil.copyfile(p, dest / f"{i:05d}-{safe}")
    except OSError as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise GanlabError(f"The upload could not be saved ({e.strerror}); try again.") from None
    name = next(u["name"] for u in access.uploads(who) if u["folder"] == dest)
    return name, len(paths)
