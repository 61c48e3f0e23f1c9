"""Start the web app: ``python app.py [options]`` (``--help`` lists them).

    opts = parse_options(["--classroom", "--teacher-password", "s3cret", "--max-runs", "16"])
    demo = build(opts)                   # the Gradio app with its sessions, scheduler and rules
    launch(demo, opts)                   # serve on opts.host:opts.port until Ctrl-C

Every option has an environment variable (``GANLAB_...``, named in ``--help``),
read when its flag is not given, so Docker and systemd can configure the
server without a command line. A malformed value, typed or from the
environment, is one sentence on stderr and exit status 2, never a traceback.

With no options the app is a personal server on 127.0.0.1: one person on a
laptop, whose command-line runs under ``--runs`` show in the app. ``--auth``
gives every user an account (their runs follow them across browsers and
restarts), and ``--classroom`` adds the teacher's Classroom tab.
``--worker HOST:PORT`` sends runs to GPU workers (``python -m ganlab worker``),
and ``--watch DIR`` shows the runs in DIR (a cluster job's) to every user,
read-only.
"""
from __future__ import annotations

import argparse
import hmac
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .errors import GanlabError

TEACHER = "teacher"            # the account name the teacher signs in with under --auth
MIN_TEACHER_PASSWORD = 12      # a shared server's one secret: long enough that back-off makes guessing hopeless

# flag dest -> environment variable
ENV = {
    "host": "GANLAB_HOST", "port": "GANLAB_PORT", "runs": "GANLAB_RUNS", "auth": "GANLAB_AUTH",
    "auth_file": "GANLAB_AUTH_FILE", "classroom": "GANLAB_CLASSROOM", "teacher_password": "GANLAB_TEACHER_PASSWORD",
    "max_runs": "GANLAB_MAX_RUNS", "data_roots": "GANLAB_DATA_ROOTS", "memory_budget": "GANLAB_MEMORY_BUDGET",
    "torch_threads": "GANLAB_TORCH_THREADS", "play_processes": "GANLAB_PLAY_PROCESSES",
    "train_processes": "GANLAB_TRAIN_PROCESSES", "checkpoint_minutes": "GANLAB_CHECKPOINT_MINUTES",
    "release_minutes": "GANLAB_RELEASE_MINUTES", "idle_minutes": "GANLAB_IDLE_MINUTES",
    "upload_quota": "GANLAB_UPLOAD_QUOTA", "upload_total": "GANLAB_UPLOAD_TOTAL", "max_upload": "GANLAB_MAX_UPLOAD",
    "train_nice": "GANLAB_TRAIN_NICE", "train_cpus": "GANLAB_TRAIN_CPUS", "workers": "GANLAB_WORKERS",
    "worker_authkey_file": "GANLAB_WORKER_AUTHKEY_FILE", "watch": "GANLAB_WATCH",
    "max_runs_per_student": "GANLAB_MAX_RUNS_PER_STUDENT", "max_steps": "GANLAB_MAX_STEPS",
    "run_quota": "GANLAB_RUN_QUOTA",
}
# Gradio's own names for the address, still honoured (Docker images set them)
FALLBACK_ENV = {"host": "GRADIO_SERVER_NAME", "port": "GRADIO_SERVER_PORT"}


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 7860
    runs: Path = Path("runs")
    auth: Dict[str, str] = field(default_factory=dict)       # user -> password
    classroom: bool = False
    teacher_password: Optional[str] = None
    max_runs: int = 8                      # training processes at once (a Playground panel is one)
    data_roots: List[Path] = field(default_factory=list)      # folders a browser may train on (folder:NAME)
    memory_budget: Optional[int] = None    # bytes for all runs together; None: 70% of RAM (or GPU memory)
    torch_threads: Optional[int] = None
    play_processes: bool = True            # Playground runs in child processes
    train_processes: bool = True           # Train-tab runs in child processes
    checkpoint_minutes: float = 5.0        # a UI run checkpoints this often while it trains
    release_minutes: float = 3.0           # a paused run gives its slot back after this long
    idle_minutes: float = 20.0             # a browser silent this long is closed (its runs stop, folders stay)
    upload_quota: int = 200 * 2**20        # bytes of uploads per user
    upload_total: int = 5 * 2**30          # bytes of uploads for the whole server
    max_upload: int = 100 * 2**20          # bytes of one upload request
    train_nice: int = 19                   # training processes run at this niceness, so pages stay quick
    train_cpus: List[int] = field(default_factory=list)      # CPUs the training processes run on; [] = all
    workers: List[str] = field(default_factory=list)          # HOST:PORT of GPU workers (engine/worker.py)
    worker_authkey_file: Optional[Path] = None                 # the key the workers were started with
    watch: List[Path] = field(default_factory=list)           # folders whose runs everyone may watch, read-only
    generated_password: bool = False       # the teacher password was made at start (and printed)
    max_runs_per_student: int = 2          # Train-tab runs one student (identity or address) may hold; 0 = no cap
    max_steps: int = 1_000_000             # the longest run a browser may ask for
    run_quota: int = 2 * 2**30             # bytes of run folders per user on a shared server

    @property
    def personal(self) -> bool:
        """One person on their own machine: no accounts, no classroom, reachable from this machine only."""
        return not self.auth and not self.classroom and self.host in ("127.0.0.1", "localhost", "::1")


# ---- value parsers: one sentence on anything malformed ----------------------------------------------
def _whole(lo: int, hi: Optional[int] = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(str(text).strip())
        except ValueError:
            raise ValueError(f"must be a whole number (got {text!r})") from None
        if v < lo or (hi is not None and v > hi):
            raise ValueError(f"must be from {lo} to {hi} (got {v})" if hi is not None else
                             f"must be at least {lo} (got {v})")
        return v
    return parse


def _minutes(text: str) -> float:
    try:
        v = float(str(text).strip())
    except ValueError:
        raise ValueError(f"must be a number of minutes (got {text!r})") from None
    if not v >= 0 or v > 7 * 24 * 60:
        raise ValueError(f"must be from 0 to 10080 minutes (got {text})")
    return v


def _bool(text: str) -> bool:
    t = str(text).strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"must be 1 or 0 (got {text!r})")


def _bytes(text: str) -> int:
    """'200MB', '2GB', '512k', '1e9' -> bytes (powers of 1024)."""
    t = str(text).strip().upper().replace(" ", "")
    units = {"K": 2**10, "KB": 2**10, "M": 2**20, "MB": 2**20, "G": 2**30, "GB": 2**30, "T": 2**40, "TB": 2**40,
             "B": 1, "": 1}
    num = t.rstrip("KMGTB")
    unit = t[len(num):]
    try:
        v = float(num) * units[unit]
    except (ValueError, KeyError):
        raise ValueError(f"must be a size such as 200MB or 2GB (got {text!r})") from None
    if not v >= 1:
        raise ValueError(f"must be a positive size (got {text!r})")
    return int(v)


def _cpus(text: str) -> List[int]:
    """'1', '1-3', '0,2-3' (taskset's list form) -> sorted CPU numbers, each one this machine has."""
    have = os.cpu_count() or 1
    out = set()
    for part in str(text).replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"must be CPU numbers such as 1-3 or 0,2 (got {text!r})")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ValueError(f"must list ranges low to high (got {part!r})")
        if last >= have:
            raise ValueError(f"names CPU {last}, but this machine's CPUs are 0-{have - 1}")
        out.update(range(first, last + 1))
    return sorted(out)


def _address(text: str) -> str:
    host, sep, port = str(text).strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"must be HOST:PORT, e.g. 127.0.0.1:7001 (got {text!r})")
    return f"{host}:{int(port)}"


def _budget(text: str) -> int:
    from .budget import parse_budget
    try:
        return parse_budget(text)
    except GanlabError as e:
        raise ValueError(str(e).rstrip(".")) from None


def _account(text: str) -> Tuple[str, str]:
    user, sep, password = str(text).partition(":")
    user = user.strip()
    if not sep or not user or not password:
        raise ValueError(f"must be USER:PASSWORD (got {text.split(':')[0]!r}...)")
    return user, password


PARSERS = {"port": _whole(1, 65535), "max_runs": _whole(1, 1000), "torch_threads": _whole(1, 1024),
           "checkpoint_minutes": _minutes, "release_minutes": _minutes, "idle_minutes": _minutes,
           "upload_quota": _bytes, "upload_total": _bytes, "max_upload": _bytes, "memory_budget": _budget,
           "classroom": _bool, "play_processes": _bool, "train_processes": _bool, "train_nice": _whole(0, 19),
           "train_cpus": _cpus, "workers": _address, "max_runs_per_student": _whole(0, 1000),
           "max_steps": _whole(1, 10**12), "run_quota": _bytes}


def _arg_type(dest: str) -> Callable[[str], object]:
    parse = PARSERS[dest]

    def typed(text: str):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return typed


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One sentence, not the usage block: ``error: argument --port: must be ...``."""
        print(f"error: {message}; see python app.py --help.", file=sys.stderr)
        sys.exit(2)


def parser() -> argparse.ArgumentParser:
    o = ServerOptions()
    p = _Parser(
        prog="python app.py", description="Serve ganlab in the browser. Every option can also be set by the "
        "environment variable in brackets; a flag wins over its variable.")
    add = p.add_argument

    def env(dest: str) -> str:
        extra = f" or {FALLBACK_ENV[dest]}" if dest in FALLBACK_ENV else ""
        return f" [{ENV[dest]}{extra}]"

    add("--host", help=f"address to listen on (default {o.host}; 0.0.0.0 for every network){env('host')}")
    add("--port", type=_arg_type("port"), help=f"port (default {o.port}){env('port')}")
    add("--runs", type=Path, metavar="DIR", help=f"folder for runs and uploads (default {o.runs}){env('runs')}")
    add("--auth", action="append", metavar="USER:PASS", help="an account; repeat for more (the variable takes "
        f"a comma-separated list){env('auth')}")
    add("--auth-file", type=Path, metavar="FILE", help=f"accounts, one USER:PASS per line{env('auth_file')}")
    add("--classroom", action="store_const", const=True, help="teacher mode: a Classroom tab for the teacher "
        f"(with --teacher-password, or one is made and printed at start){env('classroom')}")
    add("--teacher-password", metavar="PASS", help=f"the teacher's password, at least {MIN_TEACHER_PASSWORD} "
        f"characters{env('teacher_password')}")
    add("--max-runs", type=_arg_type("max_runs"), metavar="N", help=f"training processes at once; more runs wait "
        f"in line (default {o.max_runs}; a Playground panel is one){env('max_runs')}")
    add("--max-runs-per-student", type=_arg_type("max_runs_per_student"), metavar="N", help="Train-tab runs one "
        "student may have training or in line on a shared server, counted per account or browser and per client "
        f"address (default {o.max_runs_per_student}; 0 = no limit){env('max_runs_per_student')}")
    add("--max-steps", type=_arg_type("max_steps"), metavar="N", help="the longest run a browser may ask for "
        f"(default {o.max_steps:,}){env('max_steps')}")
    add("--run-quota", type=_arg_type("run_quota"), metavar="SIZE", help="bytes of run folders each user may "
        f"keep on a shared server; over it, a new run is refused (default 2GB){env('run_quota')}")
    add("--data-roots", nargs="+", type=Path, metavar="DIR", help="folders whose image sub-folders a browser may "
        f"train on, as folder:NAME (default none){env('data_roots')} (separated by '{os.pathsep}')")
    add("--memory-budget", type=_arg_type("memory_budget"), metavar="SIZE", help="memory for all runs together, "
        f"e.g. 12GB or 60%% (default 70%% of RAM, or of the GPU's memory){env('memory_budget')}")
    add("--torch-threads", type=_arg_type("torch_threads"), metavar="N",
        help=f"torch CPU threads of the server process (default 1; one per core with --train-processes 0)"
        f"{env('torch_threads')}")
    add("--play-processes", type=_arg_type("play_processes"), metavar="1|0", help="Playground runs in processes "
        f"of their own (1, default) or on threads of the server (0){env('play_processes')}")
    add("--train-processes", type=_arg_type("train_processes"), metavar="1|0", help="Train-tab runs in processes "
        f"of their own (1, default) or on threads of the server (0){env('train_processes')}")
    add("--train-nice", type=_arg_type("train_nice"), metavar="N", help="niceness of training processes, so "
        f"pages stay quick while runs train (0-19, default {o.train_nice}){env('train_nice')}")
    add("--train-cpus", type=_arg_type("train_cpus"), metavar="LIST", help="CPUs the training processes run on, "
        "e.g. 1-3, so the others stay free for the server (and a browser on this machine); each run's torch "
        f"threads share these (default all){env('train_cpus')}")
    add("--checkpoint-minutes", type=_arg_type("checkpoint_minutes"), metavar="M", help="a run in the app saves a "
        f"checkpoint this often (default {o.checkpoint_minutes:g}; 0 = only when it stops){env('checkpoint_minutes')}")
    add("--release-minutes", type=_arg_type("release_minutes"), metavar="M", help="a paused run checkpoints and "
        f"gives its slot back after this long (default {o.release_minutes:g}){env('release_minutes')}")
    add("--idle-minutes", type=_arg_type("idle_minutes"), metavar="M", help="a closed or silent page's run trains "
        "on this long for the page to come back, then checkpoints and pauses (a paused run gives its slot back "
        f"after --release-minutes) (default {o.idle_minutes:g}){env('idle_minutes')}")
    add("--upload-quota", type=_arg_type("upload_quota"), metavar="SIZE",
        help=f"uploads kept per user (default 200MB){env('upload_quota')}")
    add("--upload-total", type=_arg_type("upload_total"), metavar="SIZE",
        help=f"uploads kept for the whole server (default 5GB){env('upload_total')}")
    add("--max-upload", type=_arg_type("max_upload"), metavar="SIZE",
        help=f"largest single upload (default 100MB){env('max_upload')}")
    add("--worker", dest="workers", action="append", type=_arg_type("workers"), metavar="HOST:PORT",
        help="a GPU worker (python -m ganlab worker) that trains Train-tab runs; repeat for more; runs go to "
        f"the least loaded worker with a free slot, else here{env('workers')} (comma-separated)")
    add("--worker-authkey-file", type=Path, metavar="FILE", help="the key file the workers were started with "
        f"(--authkey-file){env('worker_authkey_file')}")
    add("--watch", action="append", type=Path, metavar="DIR", help="a folder of runs (e.g. a cluster job's) "
        f"that every user may watch, read-only; repeat for more{env('watch')} (separated by '{os.pathsep}')")
    return p


def parse_options(argv: Optional[Sequence[str]] = None, environ: Optional[Dict[str, str]] = None) -> ServerOptions:
    """Flags first, then the environment, then the defaults; GanlabError names a malformed value."""
    environ = os.environ if environ is None else environ
    args = vars(parser().parse_args(argv))
    opts = ServerOptions()
    for dest in ENV:
        value = args.get(dest)
        if value is None:
            value = _from_env(dest, environ)
        if value is not None:
            setattr(opts, dest, value)
    opts.auth = _accounts(args.get("auth"), args.get("auth_file"), environ)
    _check(opts)
    return opts


def _from_env(dest: str, environ: Dict[str, str]):
    names = [ENV[dest]] + ([FALLBACK_ENV[dest]] if dest in FALLBACK_ENV else [])
    for name in names:
        text = environ.get(name)
        if text is None or text.strip() == "" and dest != "teacher_password":
            continue
        if dest in ("auth", "auth_file"):
            return None                                     # read by _accounts
        if dest == "runs":
            return Path(text)
        if dest in ("data_roots", "watch"):
            return [Path(t) for t in text.split(os.pathsep) if t.strip()]
        if dest == "worker_authkey_file":
            return Path(text)
        if dest == "workers":
            try:
                return [_address(t) for t in text.split(",") if t.strip()]
            except ValueError as e:
                raise GanlabError(f"{name} {e}.") from None
        if dest in PARSERS:
            try:
                return PARSERS[dest](text)
            except ValueError as e:
                raise GanlabError(f"{name} {e}.") from None
        return text
    return None


def _accounts(typed: Optional[List[str]], file: Optional[Path], environ: Dict[str, str]) -> Dict[str, str]:
    lines: List[Tuple[str, str]] = []                       # (where it came from, USER:PASS)
    for t in typed or []:
        lines.append(("--auth", t))
    if not typed and environ.get(ENV["auth"], "").strip():
        lines += [(ENV["auth"], t) for t in environ[ENV["auth"]].split(",") if t.strip()]
    file = file or (Path(environ[ENV["auth_file"]]) if environ.get(ENV["auth_file"], "").strip() else None)
    if file is not None:
        try:
            text = Path(file).read_text()
        except OSError as e:
            raise GanlabError(f"Cannot read the accounts file {file} ({e.strerror}).") from None
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append((f"{file} line {i}", line.strip()))
    accounts: Dict[str, str] = {}
    for where, text in lines:
        try:
            user, password = _account(text)
        except ValueError as e:
            raise GanlabError(f"{where}: an account {e}.") from None
        accounts[user] = password
    return accounts


def _check(o: ServerOptions) -> None:
    if o.classroom and not o.teacher_password:
        o.teacher_password = secrets.token_urlsafe(12)     # 16 characters; main() prints it at start
        o.generated_password = True
    if o.teacher_password is not None and len(o.teacher_password) < MIN_TEACHER_PASSWORD:
        raise GanlabError(f"The teacher password must be at least {MIN_TEACHER_PASSWORD} characters long (a "
                          "short one can be guessed); choose a longer one, or leave it out and one is made for you.")
    if o.classroom and TEACHER in o.auth:
        raise GanlabError(f"The account name {TEACHER!r} is kept for the teacher (who signs in with the teacher "
                          "password); rename that account.")
    for root in o.data_roots:
        if not Path(root).expanduser().is_dir():
            raise GanlabError(f"--data-roots: {root} is not a folder.")
    if o.workers and o.worker_authkey_file is None:
        raise GanlabError("--worker needs the workers' key: add --worker-authkey-file FILE (the file the workers "
                          f"were started with), or set {ENV['worker_authkey_file']}.")
    for folder in o.watch:
        if not Path(folder).expanduser().is_dir():
            raise GanlabError(f"--watch: {folder} is not a folder.")
    if o.upload_quota > o.upload_total:
        raise GanlabError("--upload-quota (per user) cannot be larger than --upload-total (the whole server).")


# ---- accounts --------------------------------------------------------------------------------------
def check_login(opts: ServerOptions) -> Optional[Callable[[str, str], bool]]:
    """Gradio's auth callable: an account's password, or the teacher password for "teacher"; None = no login page."""
    if not opts.auth:
        return None
    accounts = dict(opts.auth)
    if opts.classroom and opts.teacher_password:
        accounts[TEACHER] = opts.teacher_password

    def ok(user: str, password: str) -> bool:
        want = accounts.get(user)
        return want is not None and hmac.compare_digest(want.encode(), (password or "").encode())
    return ok


# ---- the app -----------------------------------------------------------------------------------------
def build(opts: ServerOptions):
    """The Gradio app for ``opts`` (not yet launched)."""
    from .trainer import configure_threads
    from .ui import build_app
    # the server's own torch work is small (a G forward per slider move, a few ms): one thread, or the
    # idle-spinning thread pools of 30 pages' requests eat the cores the runs train on. Runs in child
    # processes pick their own counts; on threads (--train-processes 0) they share this one.
    configure_threads(opts.torch_threads or (1 if opts.train_processes else None))
    return build_app(options=opts)


def launch(demo, opts: ServerOptions) -> None:
    from .engine import in_background
    from .engine.remote import warm_up
    from .ui import CSS, QUEUE_LIMIT
    if opts.train_processes or opts.play_processes:
        in_background(warm_up, "fork-server")
    if hasattr(demo, "warm_up"):
        in_background(demo.warm_up, "models")
    demo.queue(default_concurrency_limit=QUEUE_LIMIT)
    auth = check_login(opts)
    routes = getattr(demo, "ganlab_routes", None)          # Explore's in-browser rendering (ui/explore_client)
    from .ui.gate import gate_middleware, install_log_bounds
    install_log_bounds()                                   # no log line carries a 20 MB value a client sent
    app_kwargs = {"middleware": [gate_middleware(opts.max_upload, opts.upload_quota, opts.upload_total)]}
    if routes:
        app_kwargs["routes"] = routes
    demo.launch(server_name=opts.host, server_port=opts.port, auth=auth, max_file_size=opts.max_upload,
                head=getattr(demo, "ganlab_head", None), app_kwargs=app_kwargs,
                auth_message="Sign in with the account your teacher gave you." if opts.classroom else None,
                allowed_paths=[], show_error=False, css=CSS,
                # Gradio keeps a closed browser's state for an hour and evicts only beyond this many sessions;
                # a class with reloads stays far below it, and it bounds what a long-lived server keeps
                state_session_capacity=1000)


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        opts = parse_options(argv)
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        # Gradio recomputes its queue statistics (a pandas groupby over the last events) after every event
        # unless told otherwise: with 30 pages polling, that was a tenth of the server's time
        os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
        demo = build(opts)
        if opts.generated_password:
            print(f"teacher password (made for this start; give --teacher-password to choose one): "
                  f"{opts.teacher_password}", file=sys.stderr, flush=True)
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    launch(demo, opts)
    return 0


__all__ = ["ServerOptions", "parse_options", "parser", "build", "launch", "main", "check_login", "TEACHER"]
