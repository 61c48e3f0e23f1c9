"""Who may reach what, from a browser: identities, run ownership, uploads, and the datasets a page may name.

Every path rule of the web app lives here, and every tab asks this module; the
CLI, run by the machine's owner, has none of these limits.

    access = Access("runs", models_root="models", data_roots=["/srv/pictures"])
    who = Identity.user("alice")                  # signed in (--auth); Identity.browser(secret) otherwise
    name = access.dataset("upload:cats", who)     # the name a run config stores, or GanlabError; opens no file
    run = access.new_run_dir(who, "fashion-mnist")   # runs/ui/<time>-fashion-mnist-<random>, owned by alice
    access.can_read(run, who), access.can_write(run, who)
    access.visible_runs(who)                      # RunEntry per run alice may open, newest first
    folder = access.new_upload(who, "cats")       # runs/ui/uploads/<random>/, owned by alice

A run's owner is written into its folder (``owner.json``), so ownership
survives restarts and folder names carry nothing of the owner (no part of a
browser's session key, no user name). A browser sees its own runs and uploads,
the shipped models, and runs their owner or the teacher shared; the teacher
sees everything. Runs with no ``owner.json`` (the CLI's) belong to the
machine's owner: in personal mode (one person, no accounts, 127.0.0.1) that is
whoever uses the page, otherwise only the teacher sees them.

    access = Access("runs", watch_roots=["/shared/runs"])   # python app.py --watch /shared/runs
    access.is_watched(path)                       # inside a watched folder: everyone reads it, nobody writes it
    access.ref(path)                              # "watch:runs/ddp-64px": no server path on the page

Watched folders are what the server's operator published (a cluster job
writing a run folder): every user may read the runs in them and nobody may
change them from the app. Their refs name the folder, never the server's
path, and a ref that climbs out of it (``watch:runs/../..``) reaches nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from .errors import GanlabError
from .runs import find_runs

OWNER_FILE = "owner.json"
UPLOADS = Path("ui") / "uploads"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")     # upload names, torchvision set names
CAPTIONED_RE = re.compile(r"^[a-z+\-]{1,80}$")


@dataclass(frozen=True)
class Identity:
    owner: str                  # "user:alice", "browser:<hash>", or "operator" (the CLI's runs)
    label: str                  # what the teacher's table shows
    teacher: bool = False

    @classmethod
    def user(cls, name: str, teacher: bool = False) -> "Identity":
        return cls(f"user:{name}", name, teacher)

    @classmethod
    def browser(cls, secret: str, teacher: bool = False) -> "Identity":
        """A browser without an account, known by a secret it keeps (never written anywhere: only its hash is)."""
        digest = hashlib.sha256(secret.encode()).hexdigest()[:32]
        return cls(f"browser:{digest}", f"guest {digest[:4]}", teacher)

    def as_teacher(self) -> "Identity":
        return Identity(self.owner, self.label, True)


OPERATOR = Identity("operator", "the machine's owner")


@dataclass
class RunEntry:
    path: Path
    owner: str                  # the owner id ("operator" for a CLI run)
    owner_label: str
    shared: bool
    mine: bool
    kind: str                   # "yours" | "shared" | "shipped" | "cli"

    @property
    def writable(self) -> bool:
        return self.mine


def _read_json(path: Path) -> Optional[Dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: Dict) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _real(path) -> str:
    """The absolute path with every symlink and '..' resolved; lstat and readlink only, no file is opened."""
    return os.path.realpath(os.path.expanduser(str(path)))


class Access:
    def __init__(self, runs_root, models_root=None, data_roots: Sequence = (), personal: bool = False,
                 watch_roots: Sequence = ()):
        self.runs_root = Path(runs_root)
        self.models_root = Path(models_root) if models_root is not None else None
        self.data_roots = [Path(r).expanduser() for r in data_roots]
        self.personal = personal
        self.uploads_root = self.runs_root / UPLOADS
        self.watch_roots: Dict[str, Path] = {}      # the name a page uses -> the folder
        for root in watch_roots:
            root = Path(root).expanduser()
            name = root.resolve().name or "root"
            while name in self.watch_roots:         # two folders called runs: runs, runs-2
                name = f"{root.resolve().name or 'root'}-{len(self.watch_roots) + 1}"
            self.watch_roots[name] = root

    # ---- runs ----------------------------------------------------------------------------------------
    def new_run_dir(self, who: Identity, dataset: str, forked_from: str = "", area: str = "") -> Path:
        """A fresh run folder owned by ``who``: ``ui/<time>-<dataset>-<random>``, nothing of the owner in its name.
        ``area="playground"``: under ``ui/playground/``, which no run list shows (a lesson's panels are not runs
        anyone opens later)."""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.display_dataset(dataset).split(":")[-1]).strip("-").lower()[:30]
        base = self.runs_root / "ui" / area if area else self.runs_root / "ui"
        while True:
            path = base / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug or 'data'}-{secrets.token_hex(3)}"
            if not path.exists():
                break
        path.mkdir(parents=True)
        self.claim(path, who, forked_from=forked_from)
        return path

    def claim(self, run_dir, who: Identity, forked_from: str = "") -> None:
        record = {"owner": who.owner, "label": who.label, "shared": False, "created": time.time()}
        if forked_from:
            record["forked_from"] = forked_from
        _write_json(Path(run_dir) / OWNER_FILE, record)

    def record(self, run_dir) -> Optional[Dict]:
        """The run's owner.json, or None for a run made outside the app (the CLI's)."""
        rec = _read_json(Path(run_dir) / OWNER_FILE)
        return rec if rec and isinstance(rec.get("owner"), str) else None

    def is_shipped(self, path) -> bool:
        return self.models_root is not None and _inside(_real(path), _real(self.models_root))

    def _watch_root(self, path) -> Optional[str]:
        """The name of the watched folder ``path`` lies in (symlinks followed), or None."""
        real = _real(path)
        for name, root in self.watch_roots.items():
            if _inside(real, _real(root)):
                return name
        return None

    def is_watched(self, path) -> bool:
        return self._watch_root(path) is not None

    def _in_runs(self, path) -> bool:
        real = _real(path)
        return _inside(real, _real(self.runs_root)) and not _inside(real, _real(self.uploads_root))

    def can_read(self, run_dir, who: Identity) -> bool:
        if self.is_shipped(run_dir) or self.is_watched(run_dir):
            return True
        if not self._in_runs(run_dir):
            return False
        if who.teacher:
            return True
        rec = self.record(run_dir)
        if rec is None:
            return self.personal
        return rec["owner"] == who.owner or bool(rec.get("shared"))

    def can_write(self, run_dir, who: Identity) -> bool:
        """Train it on, save into it: its owner only (and, in personal mode, whoever has the CLI's runs)."""
        if self.is_shipped(run_dir) or self.is_watched(run_dir) or not self._in_runs(run_dir):
            return False
        rec = self.record(run_dir)
        if rec is None:
            return self.personal
        return rec["owner"] == who.owner

    def share(self, run_dir, shared: bool, who: Identity) -> None:
        """Show the run to everyone (read-only) or stop: its owner or the teacher."""
        if self.is_shipped(run_dir) or self.is_watched(run_dir) or not self._in_runs(run_dir):
            raise GanlabError("Only runs in the app's runs folder can be shared.")
        rec = self.record(run_dir) or {"owner": OPERATOR.owner, "label": OPERATOR.label, "created": time.time()}
        if rec["owner"] != who.owner and not who.teacher and not (self.personal and rec["owner"] == OPERATOR.owner):
            raise GanlabError("Only the run's owner or the teacher can share it.")
        rec["shared"] = bool(shared)
        _write_json(Path(run_dir) / OWNER_FILE, rec)

    def entry(self, run_dir, who: Identity) -> Optional[RunEntry]:
        if not self.can_read(run_dir, who):
            return None
        path = Path(run_dir)
        if self.is_shipped(path):
            return RunEntry(path, "shipped", "ganlab", True, False, "shipped")
        if self.is_watched(path):
            return RunEntry(path, "watched", "the server", True, False, "watched")
        rec = self.record(path)
        if rec is None:
            return RunEntry(path, OPERATOR.owner, OPERATOR.label, False, self.personal, "cli")
        mine = rec["owner"] == who.owner
        return RunEntry(path, rec["owner"], str(rec.get("label") or ""), bool(rec.get("shared")), mine,
                        "yours" if mine else "shared" if rec.get("shared") else "other")

    def visible_runs(self, who: Identity) -> List[RunEntry]:
        """Every run under the runs folder that ``who`` may open, newest first (shipped models not included),
        then the runs in the watched folders."""
        out = []
        for path in find_runs(self.runs_root):
            e = self.entry(path, who)
            if e is not None and e.kind != "watched":          # a watched folder inside the runs: listed below
                out.append(e)
        for root in self.watch_roots.values():
            out += [self.entry(path, who) for path in find_runs(root) if self.is_watched(path)]
        return out

    def run_bytes(self, who: Identity) -> int:
        """Bytes of every run folder ``who`` owns under ``ui/`` (the app's runs), for the per-user run quota."""
        base = self.runs_root / "ui"
        if not base.is_dir():
            return 0
        total = 0
        for path in base.iterdir():
            rec = self.record(path) if path.is_dir() else None
            if rec is not None and rec["owner"] == who.owner:
                total += _size(path)
        return total

    def ref(self, path) -> str:
        """How a page names a run or model folder: ``models/NAME`` or the path under the runs folder."""
        real = _real(path)
        if self.models_root is not None and _inside(real, _real(self.models_root)):
            return "models/" + os.path.relpath(real, _real(self.models_root))
        name = self._watch_root(path)
        if name is not None:
            rel = os.path.relpath(real, _real(self.watch_roots[name]))
            return f"watch:{name}" + ("" if rel == "." else f"/{rel}")
        if _inside(real, _real(self.runs_root)):
            return os.path.relpath(real, _real(self.runs_root))
        return str(path)

    def resolve(self, text: str) -> Path:
        """The folder a ref (or a path typed by hand) names; nothing is checked here."""
        text = (text or "").strip()
        if text.startswith("models/") and self.models_root is not None:
            return self.models_root / text[len("models/"):]
        if text.startswith("watch:"):                    # an unknown name names nothing (can_read says no)
            name, _, rel = text[len("watch:"):].partition("/")
            root = self.watch_roots.get(name)
            return root / rel if root is not None else self.runs_root / ".no-such-watch" / rel
        path = Path(text).expanduser()
        if path.is_absolute():
            return path
        under = self.runs_root / path
        return path if not under.exists() and path.exists() else under      # "runs/x" typed from the checkout

    def run_path(self, text: str, who: Identity, write: bool = False) -> Path:
        """A run or model folder named in the browser (a listed path), checked; the same sentence whether it
        does not exist or is not ``who``'s, so nobody learns which folders exist."""
        text = (text or "").strip()
        if not text:
            raise GanlabError("Pick a run from the list first.")
        try:
            path = self.resolve(text)
            allowed = self.can_write(path, who) if write else self.can_read(path, who)
            allowed = allowed and path.is_dir()
        except (OSError, ValueError):                  # a name too long for the filesystem, a NUL byte ...
            allowed = False
        if not allowed:
            what = "a run of yours" if write else "a run you may open"
            raise GanlabError(f"`{text}` is not {what}; pick one from the list (your runs, shared runs and "
                              "the shipped models).")
        return path

    # ---- uploads ----------------------------------------------------------------------------------------
    def new_upload(self, who: Identity, stem: str) -> Path:
        """A fresh folder for one upload, owned by ``who``; its name for the dataset box is ``upload:<name>``."""
        stem = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()[:30] or "images"
        taken = {u["name"] for u in self.uploads(who)}
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}"
        folder = self.uploads_root / secrets.token_hex(8)
        folder.mkdir(parents=True)
        _write_json(folder / OWNER_FILE, {"owner": who.owner, "label": who.label, "name": name,
                                          "created": time.time()})
        return folder

    def _upload_records(self) -> Iterable[tuple]:
        if not self.uploads_root.is_dir():
            return
        for folder in sorted(self.uploads_root.iterdir()):
            rec = _read_json(folder / OWNER_FILE) if folder.is_dir() and not folder.is_symlink() else None
            if rec and isinstance(rec.get("owner"), str) and isinstance(rec.get("name"), str):
                yield folder, rec

    def uploads(self, who: Identity) -> List[Dict]:
        """``who``'s uploads: dicts with name, folder, bytes."""
        return [dict(name=rec["name"], folder=folder, bytes=_size(folder))
                for folder, rec in self._upload_records() if rec["owner"] == who.owner]

    def upload_bytes(self, who: Optional[Identity] = None) -> int:
        """Bytes of ``who``'s uploads, or of everyone's."""
        return sum(_size(folder) for folder, rec in self._upload_records() if who is None or rec["owner"] == who.owner)

    def upload_folder(self, name: str, who: Identity) -> Path:
        for u in self.uploads(who):
            if u["name"] == name:
                return u["folder"]
        names = ", ".join(f"upload:{u['name']}" for u in self.uploads(who)) or "none yet"
        raise GanlabError(f"You have no upload called {name!r} (yours: {names}).")

    def remove_upload(self, name: str, who: Identity) -> int:
        """Delete one of ``who``'s uploads; returns the bytes freed."""
        import shutil
        folder = self.upload_folder(name, who)
        size = _size(folder)
        shutil.rmtree(folder, ignore_errors=True)
        return size

    def _own_upload(self, real: str, who: Identity) -> Optional[Path]:
        for folder, rec in self._upload_records():
            if rec["owner"] == who.owner and _inside(real, _real(folder)):
                return folder
        return None

    # ---- datasets ---------------------------------------------------------------------------------------
    def dataset(self, typed: str, who: Identity) -> str:
        """The dataset a browser asked for, as a run config stores it; GanlabError for anything not allowed.

        Allowed: the built-in sets, ``torchvision:NAME``, ``captioned:PARTS``, the browser's own uploads
        (``upload:NAME``, or a ``folder:``/``points:`` path inside one), and ``folder:PATH`` under the
        operator's data roots. Only names are compared and symlinks resolved: no file is opened.
        """
        from .data import DATASETS
        name = (typed or "").strip()
        key, sep, arg = name.partition(":")
        arg = arg.strip()
        if not sep and name in DATASETS and not name.endswith(":"):
            return name
        if sep and key == "torchvision" and NAME_RE.match(arg):
            return f"torchvision:{arg}"
        if sep and key == "captioned" and CAPTIONED_RE.match(arg):
            return name
        if sep and key == "upload" and arg:
            folder = self.upload_folder(arg, who)
            zips = sorted(folder.glob("*.zip"))
            return f"folder:{zips[0] if len(zips) == 1 and not _has_images(folder) else folder}"
        if sep and key in ("folder", "points") and arg:
            resolved = self._allowed_path(arg, who, folders=key == "folder")
            if resolved is not None:
                return f"{key}:{resolved}"
        raise GanlabError(self._allowed_sentence(name, who))

    def may_use_dataset(self, name: str, who: Identity) -> bool:
        """Whether ``who`` may see images of the set a run config names (nearest-image views, forks)."""
        if who.teacher:
            return True
        try:
            self.dataset(name, who)
            return True
        except GanlabError:
            return False

    def _allowed_path(self, arg: str, who: Identity, folders: bool) -> Optional[str]:
        p = Path(arg).expanduser()
        candidates = [p] if p.is_absolute() else [root / p for root in self.data_roots] if folders else []
        for c in candidates:
            real = _real(c)
            if self._own_upload(real, who) is not None:
                return real
            if folders and any(_inside(real, _real(root)) for root in self.data_roots):
                return real
        return None

    def _allowed_sentence(self, name: str, who: Identity) -> str:
        from .data import DATASETS
        builtin = ", ".join(n for n in DATASETS.names() if not n.endswith(":"))
        mine = [f"upload:{u['name']}" for u in self.uploads(who)]
        parts = [f"a built-in set ({builtin})", "torchvision:NAME (downloaded into the server's data folder)",
                 "one of your uploads (" + (", ".join(mine) if mine else "upload:NAME, once you upload images") + ")"]
        if self.data_roots:
            parts.append("folder:NAME for a folder under the server's data folders")
        return (f"{name!r} is not a dataset this server lets a browser use; name " + "; ".join(parts[:-1])
                + f"; or {parts[-1]}.")

    def scrub(self, text: str) -> str:
        """A message for a page: the server's paths (uploads, the runs folder, data roots) as the page names them."""
        for folder, rec in self._upload_records():
            for p in (folder / "images.zip", folder):
                for spelling in {str(p), _real(p)}:
                    text = text.replace(spelling, f"upload:{rec['name']}")
        for root in self.data_roots:
            for spelling in {str(root), _real(root)}:
                text = text.replace(spelling.rstrip(os.sep) + os.sep, "folder:")
        for name, root in self.watch_roots.items():
            for spelling in {str(root.absolute()), _real(root)}:
                text = text.replace(spelling.rstrip(os.sep) + os.sep, f"watch:{name}/")
        for spelling in sorted({str(self.runs_root.absolute()), _real(self.runs_root)}, key=len, reverse=True):
            text = text.replace(spelling.rstrip(os.sep) + os.sep, "")
        return text

    def display_dataset(self, name: str) -> str:
        """How a config's dataset reads on screen: uploads as ``upload:NAME``, no server paths."""
        key, sep, arg = (name or "").partition(":")
        if not sep or key not in ("folder", "points"):
            return name
        real = _real(arg)
        for folder, rec in self._upload_records():
            if _inside(real, _real(folder)):
                return f"upload:{rec['name']}" if key == "folder" else "my drawing"
        for root in self.data_roots:
            if _inside(real, _real(root)):
                return f"folder:{os.path.relpath(real, _real(root))}"
        return f"{key}:{Path(arg).name}"


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                continue
    return total


def _has_images(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() != ".json" and not p.name.startswith(".")
               and p.suffix.lower() != ".zip" for p in folder.iterdir())


__all__ = ["Access", "Identity", "RunEntry", "OPERATOR", "OWNER_FILE"]
