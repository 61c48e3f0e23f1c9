"""GPU workers: a long-lived process that trains the classroom server's runs on its own device.

    python -m ganlab worker --device cuda:1 --listen 127.0.0.1:7001 --slots 2 --authkey-file worker.key
    python app.py --worker 127.0.0.1:7001 --worker-authkey-file worker.key

    place = WorkerPlace("127.0.0.1", 7001, key)        # a place the server's Scheduler puts runs on
    place.probe()                                      # {"device": "cuda:1", "slots": 2, "busy": 0}
    e = RemoteEngine.new(cfg, run_dir, worker=place)   # a run trained there, driven like a local child

The worker listens on a TCP port (127.0.0.1 unless told otherwise). Every
connection must prove it holds the shared key (multiprocessing's HMAC
challenge, both ways) before anything it sends is unpickled: the key is the
whole of the protection, so anyone who has it can run code as the worker's
user. A run takes two connections, as a local child takes two pipes: one for
calls and answers, one for the state changes the run pushes. The worker
forks a child for each run (from its fork server, like RemoteEngine), hands
it both sockets, and the child serves them with remote._serve, so a run on a
worker answers exactly as a run in a local child does. The run's config is
pinned to the worker's device.

Run folders are paths on a filesystem both machines see at the same path
(the same machine, or a shared mount): the server makes the folder, the
worker's child writes into it, and the server's pages read it. A worker
that cannot see the folder says so, and the server places the run
elsewhere.

When the worker exits (Ctrl-C, SIGTERM, or killed), every child notices its
"alive" pipe close, hangs up both sockets, saves a final checkpoint and
exits; the server marks those runs failed with a sentence saying the worker
went away, and its scheduler frees their slots and passes the worker over
for a while.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import (
    AuthenticationError,
    Connection,
    Listener,
    answer_challenge,
    deliver_challenge,
)
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import GanlabError
from .remote import START_SECONDS, _build_new, _build_open, _context, _describe, _raise, _serve, warm_up
from .scheduler import RETRY_SECONDS, Place, PlaceUnavailable

log = logging.getLogger(__name__)

CONNECT_SECONDS = 5.0          # a worker must accept and answer the key challenge by then
HELLO_SECONDS = 10.0           # a connection that has proved the key must say what it wants by then
PAIR_SECONDS = 30.0            # a run's events connection must follow its calls connection by then
STOP_SECONDS = 60.0            # on exit, the runs' final checkpoints get this long, all together
MIN_KEY = 16                   # characters of a key file
DEVICE_RE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


# ---- settings both sides read ------------------------------------------------------------------------
def parse_address(text: str, what: str = "--listen") -> Tuple[str, int]:
    """'127.0.0.1:7001' -> ('127.0.0.1', 7001); GanlabError on anything else."""
    host, sep, port = str(text).strip().rpartition(":")
    host = host.strip("[]")                                  # [::1]:7001
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise GanlabError(f"{what} takes HOST:PORT, e.g. 127.0.0.1:7001 (got {text!r}).")
    return host, int(port)


def read_authkey(path) -> bytes:
    """The shared key in a file (its whitespace stripped); GanlabError when it is missing or too short."""
    try:
        key = Path(path).expanduser().read_bytes().strip()
    except OSError as e:
        raise GanlabError(f"Cannot read the worker key file {path} ({e.strerror}).") from None
    if len(key) < MIN_KEY:
        raise GanlabError(f"The worker key in {path} is shorter than {MIN_KEY} characters; make one with "
                          "python -c \"import secrets; print(secrets.token_hex(32))\" > worker.key")
    return key


def check_device(name: str) -> str:
    """The worker's device as torch spells it; GanlabError when it is malformed or absent (cuda:1 on a CPU box)."""
    import torch

    from ..trainer import pick_device
    name = str(name).strip()
    if not DEVICE_RE.fullmatch(name):
        raise GanlabError(f"Unknown device {name!r}; use cpu, cuda, cuda:N, mps or auto.")
    dev = pick_device(name)
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise GanlabError(f"{name} was asked for but this machine has {n} CUDA GPU(s) (cuda:0 to cuda:{n - 1}).")
    return str(dev)


class PlainConnection(Connection):
    """A Connection that pickles by value. multiprocessing's own pickler sends a tensor as a shared-memory
    handle, which only a process with the sender's authkey on the same machine can open: the worker's
    children and the server are neither, so a snapshot's samples travel inside the message instead."""

    def send(self, obj) -> None:
        self.send_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _plain(conn: Connection) -> PlainConnection:
    """The same socket as a PlainConnection (the original handle is closed)."""
    plain = PlainConnection(os.dup(conn.fileno()))
    conn.close()
    return plain


# ---- the server's side: where runs can go, and starting one there ----------------------------------------
class WorkerPlace(Place):
    """A worker as the scheduler sees it: an address, the key, and its slots (as it last said)."""
    remote = True

    def __init__(self, host: str, port: int, authkey: bytes, slots: int = 1):
        super().__init__(f"worker {host}:{port}", slots, memory=None)   # its memory is its own device's
        self.host, self.port, self.authkey = host, int(port), authkey
        self.device = ""

    def connect(self) -> Connection:
        """A connection that has passed the key challenge both ways; PlaceUnavailable when it cannot be had."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=CONNECT_SECONDS)
        except OSError as e:
            raise PlaceUnavailable(f"The {self.name} cannot be reached ({e.strerror or e}).") from None
        sock.setblocking(True)                     # Connection reads the descriptor itself: no socket timeouts
        conn = PlainConnection(sock.detach())
        try:
            if not conn.poll(CONNECT_SECONDS):
                raise TimeoutError
            answer_challenge(conn, self.authkey)
            deliver_challenge(conn, self.authkey)
        except AuthenticationError:
            conn.close()
            raise PlaceUnavailable(f"The {self.name} refused the key; give the app the worker's key file "
                                   "(--worker-authkey-file).") from None
        except (EOFError, OSError, TimeoutError):
            conn.close()
            raise PlaceUnavailable(f"The {self.name} did not answer.") from None
        return conn

    def probe(self) -> Dict[str, Any]:
        """Its device, slots and runs now (and remember the first two); PlaceUnavailable when it cannot tell."""
        conn = self.connect()
        try:
            conn.send(("hello",))
            kind, value = _answer(conn, self)
        finally:
            conn.close()
        self.slots, self.device = int(value["slots"]), str(value["device"])
        return value

    def went_away(self) -> None:
        """One of its runs lost it: new runs go elsewhere for a while."""
        self.down_until = time.monotonic() + RETRY_SECONDS


def _answer(conn: Connection, place: WorkerPlace) -> tuple:
    try:
        if not conn.poll(CONNECT_SECONDS):
            raise TimeoutError
        kind, value = conn.recv()
    except (EOFError, OSError, TimeoutError):
        raise PlaceUnavailable(f"The {place.name} did not answer.") from None
    if kind == "unavailable":
        raise PlaceUnavailable(value)
    if kind != "ok":
        _raise(value)
    return kind, value


def start_run(place: WorkerPlace, kind: str, args: tuple, kwargs: dict) -> Tuple[Connection, Connection, dict]:
    """Ask the worker for a run ("new" or "open", Engine's arguments): (calls, events, first status).

    PlaceUnavailable when the worker cannot take it (unreachable, full, wrong key, folder unseen, gone while
    starting); GanlabError when the run itself is wrong (a bad dataset, a checkpoint that does not fit)."""
    conn = place.connect()
    events = None
    try:
        conn.send(("run", kind, args, kwargs))
        _, (token, slots) = _answer(conn, place)
        place.slots = int(slots)                   # it may have been restarted with another --slots
        events = place.connect()
        events.send(("events", token))
        if not conn.poll(START_SECONDS):
            raise GanlabError(f"The run's training process on the {place.name} did not start in time; try again.")
        answer, value = conn.recv()
    except (EOFError, OSError):
        answer, value = None, None
    except BaseException:
        _close(conn, events)
        raise
    if answer is None:
        _close(conn, events)
        raise PlaceUnavailable(f"The {place.name} went away while the run started.")
    if answer != "ok":
        _close(conn, events)
        _raise(value)
    return conn, events, value


def _close(*conns) -> None:
    for c in conns:
        if c is not None:
            c.close()


class OnWorker:
    """The host of a run on a worker, for RemoteEngine: nothing here to join or kill, only to name."""
    pid = None

    def __init__(self, place: WorkerPlace):
        self.place = place

    def died(self) -> bool:
        return True                                 # its events socket closed before we asked it to stop

    def lost(self, hung: bool) -> str:
        self.place.went_away()
        if hung:
            return f"on the {self.place.name} stopped answering"
        return f"on the {self.place.name} went away (the worker stopped, or cannot be reached)"

    def reap(self) -> None:
        """The worker's child exits by itself once we hang up."""


# ---- the worker's side ---------------------------------------------------------------------------------
@dataclass
class _Pending:
    """A run whose calls connection came and whose events connection is awaited."""
    events: Optional[Connection] = None
    ready: threading.Event = field(default_factory=threading.Event)


def _on_device(device: str, cfg) -> tuple:
    """Engine.open's ``changes``: the run trains on this worker's device, whatever its config said."""
    cfg.train.device = device
    return ("device",)


def _hang_up(conn: Connection) -> None:
    """Shut the socket down, so a recv() blocked on it in another thread returns EOF (close() would not)."""
    try:
        s = socket.socket(fileno=os.dup(conn.fileno()))
    except (OSError, ValueError):
        return
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        s.close()


def _serve_run(conn, events, build, nice: int, alive) -> None:
    """A worker's child: remote._serve, and when the worker goes, hang up so _serve saves and returns."""
    conn, events = _plain(conn), _plain(events)

    def watch() -> None:
        try:
            alive.recv()                            # nothing is ever sent: this returns when the worker exits
        except (EOFError, OSError):
            pass
        _hang_up(events)
        _hang_up(conn)
    threading.Thread(target=watch, name="ganlab-worker-alive", daemon=True).start()
    _serve(conn, events, build, nice)


class Worker:
    """Accepts runs on a listener and trains each in a child of its own, on ``device``, at most ``slots`` at once."""

    def __init__(self, device: str, slots: int, authkey: bytes, nice: int = 0):
        self.device, self.slots, self.nice = device, int(slots), nice
        self._key = authkey
        self._lock = threading.Lock()
        self._children: List[Any] = []
        self._pending: Dict[str, _Pending] = {}
        # every child holds the read end; only this process holds the write end, so its exit is their EOF
        self._alive_r, self._alive_w = _context().Pipe(duplex=False)
        self.threads = max(1, (os.cpu_count() or 1) // self.slots)

    def busy(self) -> int:
        with self._lock:
            self._children = [p for p in self._children if p.is_alive()]
            return len(self._children) + len(self._pending)

    def serve(self, listener: Listener) -> None:
        """Accept connections until interrupted; each is checked and served on a thread of its own."""
        while True:
            try:
                conn = listener.accept()
            except OSError:                          # the listener was closed
                return
            threading.Thread(target=self._handle, args=(conn,), name="ganlab-worker-conn", daemon=True).start()

    def _handle(self, conn: Connection) -> None:
        # the key challenge here, not in Listener.accept(), so a silent client holds up only its own thread
        try:
            deliver_challenge(conn, self._key)
            answer_challenge(conn, self._key)
        except (AuthenticationError, EOFError, OSError) as e:
            log.warning("refused a connection: %s", e or "it did not answer the key challenge")
            conn.close()
            return
        try:
            if not conn.poll(HELLO_SECONDS):
                raise TimeoutError
            msg = conn.recv()
            if msg[0] == "hello":
                conn.send(("ok", {"device": self.device, "slots": self.slots, "busy": self.busy()}))
            elif msg[0] == "run":
                self._take(conn, *msg[1:])
                return                               # the run's child owns the connection now
            elif msg[0] == "events":
                self._pair(conn, msg[1])
                return
        except Exception as e:                       # noqa: BLE001 (a broken client must not stop the worker)
            log.warning("dropped a connection: %s: %s", type(e).__name__, e)
        conn.close()

    def _unseen(self, kind: str, args: tuple) -> Optional[str]:
        """Why this worker cannot serve the run's folder, or None: both machines must see the same path."""
        folder = Path(args[-1] if kind == "new" else args[0])
        seen = folder.parent if kind == "new" else folder
        if folder.is_absolute() and seen.is_dir():
            return None
        return (f"The worker cannot see the run folder {folder}; the server and its workers need the runs "
                "folder at the same path (the same machine, or a shared mount).")

    def _build(self, kind: str, args: tuple, kwargs: dict):
        """What the child calls to make the Engine: Engine.new or .open, on this worker's device."""
        if kind == "new":
            cfg, run_dir = args
            cfg.train.device = self.device
            allowed = {k: kwargs[k] for k in ("init", "checkpoint_seconds", "init_generator_only") if k in kwargs}
            return partial(_build_new, cfg, run_dir, threads=self.threads, **allowed)
        if kind == "open":
            allowed = {k: kwargs[k] for k in ("steps", "checkpoint_seconds") if k in kwargs}
            return partial(_build_open, args[0], threads=self.threads, changes=partial(_on_device, self.device),
                           **allowed)
        raise GanlabError(f"A worker starts runs with 'new' or 'open', not {kind!r}.")

    def _take(self, conn: Connection, kind: str, args: tuple, kwargs: dict) -> None:
        unseen = self._unseen(kind, args)
        if unseen:
            conn.send(("unavailable", unseen))
            conn.close()
            return
        try:
            build = self._build(kind, args, kwargs)
        except Exception as e:                        # noqa: BLE001 (said to the server)
            conn.send(("error", _describe(e)))
            conn.close()
            return
        token, box = secrets.token_hex(16), _Pending()
        with self._lock:                              # counted and claimed at once: two servers cannot overfill it
            self._children = [p for p in self._children if p.is_alive()]
            full = len(self._children) + len(self._pending) >= self.slots
            if not full:
                self._pending[token] = box
        if full:
            conn.send(("unavailable", f"The worker is full ({self.slots} run(s) training)."))
            conn.close()
            return
        conn.send(("ok", (token, self.slots)))
        paired = box.ready.wait(PAIR_SECONDS)
        with self._lock:
            self._pending.pop(token, None)
            if not paired:
                conn.close()
                return
            proc = _context().Process(target=_serve_run, args=(conn, box.events, build, self.nice, self._alive_r),
                                      name=f"ganlab-{Path(str(args[-1] if kind == 'new' else args[0])).name}")
            proc.start()
            self._children.append(proc)
        conn.close()                                  # the child holds its own copies now
        box.events.close()
        log.info("run %s (%s) training on %s", args[-1] if kind == "new" else args[0], kind, self.device)

    def _pair(self, events: Connection, token: str) -> None:
        with self._lock:
            box = self._pending.get(token)
            if box is None or box.events is not None:
                events.close()
                return
            box.events = events
            box.ready.set()

    def close(self) -> None:
        """Tell every child the worker is going (they checkpoint and exit); end the ones that take too long."""
        self._alive_w.close()
        deadline = time.monotonic() + STOP_SECONDS
        with self._lock:
            children = list(self._children)
        for p in children:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()


def run_worker(device: str, listen: str, slots: int, authkey: bytes, nice: int = 0) -> None:
    """``python -m ganlab worker``: check the device, listen, and serve runs until Ctrl-C or SIGTERM."""
    device = check_device(device)
    host, port = parse_address(listen)
    if slots < 1:
        raise GanlabError(f"--slots must be at least 1 (got {slots}).")
    try:
        listener = Listener((host, port), family="AF_INET")
    except OSError as e:
        raise GanlabError(f"Cannot listen on {host}:{port} ({e.strerror or e}); pick another --listen port.") from None
    warm_up()                                          # the fork server imports torch once, before the first run
    worker = Worker(device, slots, authkey, nice)
    # SIGTERM (systemd, docker stop) unwinds like Ctrl-C, so the runs save their checkpoints
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"ganlab worker listening on {host}:{listener.address[1]}, training on {device}, {slots} slot(s)",
          flush=True)
    try:
        worker.serve(listener)
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
        worker.close()


__all__ = ["WorkerPlace", "Worker", "OnWorker", "start_run", "run_worker", "parse_address", "read_authkey",
           "check_device"]
