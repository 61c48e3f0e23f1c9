"""Per-browser state for a server shared by many users (a classroom: one server, 30 browsers).

    sessions = Sessions(options=ServerOptions(runs=Path("runs"), max_runs=8))
    s = sessions.bind(request)              # this browser's Session (made on first use), marked as seen
    s.who                                   # its Identity: the signed-in user, or this browser
    sessions.access                         # the path rules (ganlab.access): runs, uploads, datasets
    sessions.scheduler                      # training slots for the whole server, with a line
    sessions.budget                         # bytes all runs together may use
    sessions.data.get(cfg.data, seed)       # datasets are loaded once and shared by all sessions
    sessions.close(key)                     # demo.unload, or silent too long: runs stop, folders stay

Each browser gets its own runs and never sees another's unless it was
shared. The session keeps what its tabs show (cursors, rows read so far),
because gr.State deep-copies its values and an engine must not be copied.
"""
from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import gradio as gr

from ..access import Access, Identity
from ..data.cache import DataCache
from ..engine import Evaluator, Scheduler, in_background
from ..errors import GanlabError
from ..server import TEACHER, ServerOptions
from .throttle import Throttle

log = logging.getLogger(__name__)
NO_SESSION = ("This request carries no browser session, so it cannot act for anyone; open the app's page, or "
              "give gradio_client calls their own session.")

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
SWEEP_SECONDS = 30.0                  # look for silent browsers at most this often


class Classroom:
    """What the teacher has set for the whole class: a run broadcast to every Train tab, a pushed lesson."""

    def __init__(self, enabled: bool = False, password: Optional[str] = None):
        self.enabled, self._password = enabled, password
        self.broadcast: Optional[Path] = None      # the run every student's Train tab shows beside their own
        self.lesson: Optional[str] = None          # the Playground lesson pushed to everyone
        self.lesson_seq = 0                        # bumped on every push, so each browser loads it once
        self.frame_lock = threading.Lock()
        self.frame: Optional[Dict[str, Any]] = None  # the broadcast run drawn once for every page
        # browsers that signed in as the teacher (their Identity.owner): a reload keeps the role, since the
        # browser's secret comes back with the page; a request without that secret cannot claim it
        self.teacher_owners: set = set()
        self.guesses = Throttle()                  # wrong passwords, per client address and server-wide

    def check(self, password: Any) -> bool:
        import hmac
        if not self.enabled or not self._password or not isinstance(password, str):
            return False
        return hmac.compare_digest(self._password.encode(), password.encode())

    def push_lesson(self, key: str) -> int:
        self.lesson, self.lesson_seq = key, self.lesson_seq + 1
        return self.lesson_seq


@dataclass
class TrainView:
    """What a browser's Train tab shows: its own run (queued, training, or ended) or someone's, read-only."""
    path: Optional[Path] = None            # the run folder (None while its job waits for a slot)
    ticket: Any = None                     # the scheduler ticket of this browser's own run
    mine: bool = True
    source: Any = None                     # a read-only run: where to read it (ui.runview)
    cursor: int = 0                        # position in the run's metrics stream
    rows: List[Dict] = field(default_factory=list)
    shown_step: int = -1                   # step of the samples on screen; -1 = redraw
    redraw: bool = True                    # curves need a redraw even without new rows
    status_text: str = ""
    health_text: str = ""
    real: Optional[object] = None          # a few hundred real points for the 2-D scatter
    redraw_classes: bool = True
    classes_shown: bool = False            # the class histogram is visible on the page
    shows: str = ""                        # "grid" or "points": which sample view the page shows
    failed_shown: bool = False             # a failed start was reported once
    label: str = ""                        # "alice · fashion-mnist · dcgan" for the teacher's table
    notice: str = ""                       # said once above the status when the page comes back (away, paused)

    def shown_afresh(self) -> "TrainView":
        """Forget what a page was shown, so the next poll draws everything again (a reloaded page)."""
        self.cursor, self.rows, self.shown_step, self.redraw = 0, [], -1, True
        self.status_text, self.health_text, self.shows = "", "", ""
        self.redraw_classes, self.classes_shown, self.real = True, False, None
        return self

    @property
    def engine(self):
        t = self.ticket
        return t.engines[0] if t is not None and t.engines else None


@dataclass
class Session:
    key: str
    who: Identity
    last_seen: float = field(default_factory=time.monotonic)
    token: Optional[str] = None            # the browser's own secret (gr.BrowserState), when it sent one
    address: str = ""                      # the client address it last came from (per-address limits)
    opened: float = field(default_factory=time.monotonic)   # when this page's session began
    silent_for: float = 0.0                # seconds it had been silent when it was closed (0: it said goodbye)
    away_since: float = 0.0                # an "away:" stand-in: when its page closed (time.time())
    away_timer: Any = None                 # ... and the timer that pauses its run after the grace period
    train: Optional[TrainView] = None
    scratch: Optional[Path] = None         # temp folder for downloads (zips, GIFs)
    play: Optional[object] = None          # the 2-D Playground's state (ui.playground.Playground)
    play_ticket: Any = None                # its scheduler ticket
    play_layers: Optional[tuple] = None    # the Playground layers this browser shows (None: all)
    lesson_seen: int = 0                   # the last lesson the teacher pushed that this browser loaded
    broadcast_seen: Optional[tuple] = None  # (run, version) of the teacher's broadcast this page shows
    notice_text: str = ""                  # the classroom notice on screen
    poll_every: float = 1.0                # the Train tab's poll period this page was last told

    @property
    def engine(self):
        """The Train tab's live engine (None when nothing of this browser's trains)."""
        return self.train.engine if self.train is not None and self.train.mine else None

    def engines(self, tab: Optional[str] = None) -> List[Any]:
        out: List[Any] = []
        if tab in (None, "train") and self.engine is not None:
            out.append(self.engine)
        if tab in (None, "play") and self.play is not None:
            out += self.play.engines()
        return out


class Sessions:
    def __init__(self, runs_root=None, max_runs: Optional[int] = None, options: Optional[ServerOptions] = None,
                 models_root: Path = MODELS_DIR, processes: Optional[bool] = None):
        opts = options or ServerOptions(train_processes=False)     # library default: runs on threads (tests)
        if runs_root is not None:
            opts.runs = Path(runs_root)
        if max_runs is not None:
            opts.max_runs = int(max_runs)
        self.options = opts
        self.root = Path(opts.runs)
        self.models_root = Path(models_root)
        self.processes = opts.train_processes if processes is None else processes
        self.access = Access(self.root, self.models_root, opts.data_roots, personal=opts.personal,
                             watch_roots=opts.watch)
        self.budget = opts.memory_budget if opts.memory_budget is not None else _default_budget()
        self.scheduler = Scheduler(opts.max_runs, memory=self.budget, release_after=opts.release_minutes * 60,
                                   workers=_workers(opts))
        self.data = DataCache()            # one copy of each dataset, shared by every browser's run
        self.evaluator = Evaluator()       # one thread scores every in-process run's FID estimates, in turn
        self.classroom = Classroom(opts.classroom, opts.teacher_password)
        self._sessions: Dict[str, Session] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()
        self.on_close: List[Any] = []      # tabs' cleanups, called with the closing Session
        self.closing = False               # close_all has begun: pages' runs stop instead of waiting for them
        self.on_open: List[Any] = []       # tabs' welcomes, called with a Session once its browser is known
        # runs that train with no page showing them, as stand-in sessions (ui.train_handlers): a closed page's
        # ("away:<owner>", for the grace period) and the original of a run its owner forked ("forked:<path>")
        self.unattended: Dict[str, Session] = {}

    @property
    def max_runs(self) -> int:
        return self.scheduler.slots

    # ---- who is asking ---------------------------------------------------------------------------------
    def bind(self, request) -> Session:
        """The session of a gr.Request (its user, when signed in), marked as seen now."""
        key = session_key(getattr(request, "session_hash", None))
        user = getattr(request, "username", None)
        s = self.get(key, user=user)
        s.last_seen = time.monotonic()
        client = getattr(request, "client", None)
        s.address = str(getattr(client, "host", "") or "")
        self.sweep()
        return s

    def get(self, key: Optional[str], user: Optional[str] = None) -> Session:
        key = session_key(key)             # nothing falls back to a key shared by every hash-less caller
        with self._lock:
            s = self._sessions.get(key)
            if s is None:
                s = self._sessions[key] = Session(key, self._identity(key, user, None))
            elif user and s.who.owner != f"user:{user}":
                s.who = self._identity(key, user, s.token)
            return s

    def peek(self, key: Optional[str]) -> Optional[Session]:
        return self._sessions.get(key) if key else None

    def who(self, key: Optional[str]) -> Identity:
        return self.get(key).who

    def _identity(self, key: str, user: Optional[str], token: Optional[str]) -> Identity:
        if user:
            return Identity.user(user, teacher=self.classroom.enabled and user == TEACHER)
        return Identity.browser(token or f"session:{key}")

    def adopt_token(self, key: str, token: Any) -> str:
        """The browser's stored secret (gr.BrowserState): its runs are the ones made with it, across reloads
        and restarts. A missing or malformed one is replaced by a new one, which the page then stores."""
        s = self.get(key)
        if not (isinstance(token, str) and 32 <= len(token) <= 128 and token.isalnum()):
            token = secrets.token_hex(24)
        if s.who.owner.startswith("browser:"):
            who = Identity.browser(token)
            teacher = s.who.teacher or (self.classroom.enabled and who.owner in self.classroom.teacher_owners)
            s.token, s.who = token, Identity.browser(token, teacher)
            if s.who.teacher:
                self.classroom.teacher_owners.add(s.who.owner)
        for fn in self.on_open:                # e.g. the Train tab takes back the run a reloaded page left
            try:
                fn(s)
            except Exception:
                log.exception("opening a session failed")
        return token

    def unlock_teacher(self, key: str, password: str, address: Optional[str] = None) -> None:
        """The in-app teacher sign-in (no --auth): the right password makes this browser the teacher.

        Wrong guesses are counted per client ``address`` and for the whole server (ui/throttle), not per
        session, so a client that starts a fresh session before each guess is slowed down all the same."""
        s = self.get(key)
        self.classroom.guesses.check(address)
        if not self.classroom.check(password):
            self.classroom.guesses.failed(address)
            raise GanlabError("That is not the teacher password.")
        self.classroom.guesses.succeeded(address)
        log.warning("%s signed in as the teacher from %s", s.who.label, address or "an unknown address")
        s.who = s.who.as_teacher()
        if s.who.owner.startswith("browser:") and s.token:
            self.classroom.teacher_owners.add(s.who.owner)

    def is_teacher(self, key: Optional[str]) -> bool:
        s = self.peek(key)
        return s is not None and s.who.teacher

    def sessions(self) -> List[Session]:
        with self._lock:
            return list(self._sessions.values())

    def everyone(self) -> List[Session]:
        """Every page's session and every unattended run's stand-in: whatever trains on this server."""
        with self._lock:
            for k, u in list(self.unattended.items()):
                t = u.train.ticket if u.train is not None else None
                if not k.startswith("away:") and (t is None or not t.live):
                    del self.unattended[k]                 # a forked original that has ended
            return list(self._sessions.values()) + list(self.unattended.values())

    def __len__(self) -> int:
        return len(self._sessions)

    # ---- ending ----------------------------------------------------------------------------------------
    def sweep(self) -> None:
        """Close browsers that have been silent for the idle timeout (a tab that vanished without unload)."""
        now = time.monotonic()
        idle = self.options.idle_minutes * 60
        if now - self._swept < SWEEP_SECONDS or idle <= 0:
            return
        self._swept = now
        for s in self.sessions():
            if now - s.last_seen > idle:
                log.info("closing session %s after %.0f s without a request", s.who.label, now - s.last_seen)
                in_background(lambda key=s.key: self.close(key, silent_for=now - s.last_seen), "close-idle")

    def close(self, key: Optional[str], silent_for: float = 0.0) -> None:
        """The browser left (or was ``silent_for`` the idle time already): its tabs let go of it (the Train
        tab keeps its run for the grace period, ui.train_handlers), and it is forgotten."""
        with self._lock:
            s = self._sessions.pop(key, None) if key else None
        if s is None:
            return
        s.silent_for = silent_for
        for fn in self.on_close:
            try:
                fn(s)
            except Exception:                              # never let cleanup errors escape
                log.exception("closing a session failed")
        if s.scratch is not None:
            shutil.rmtree(s.scratch, ignore_errors=True)

    def close_all(self) -> None:
        """The server stops: every page's runs stop (no grace period now), and so do unattended ones."""
        self.closing = True
        for key in list(self._sessions):
            self.close(key)
        for u in list(self.unattended.values()):
            if u.away_timer is not None:
                u.away_timer.cancel()
            for fn in self.on_close:
                try:
                    fn(u)
                except Exception:
                    log.exception("stopping an unattended run failed")
        self.unattended.clear()
        self.scheduler.close()
        self.evaluator.close()

    # ---- folders -----------------------------------------------------------------------------------------
    def scratch_dir(self, key: Optional[str]) -> Path:
        """A temp folder for this session's downloads, removed when the session closes."""
        s = self.get(key)
        if s.scratch is None or not s.scratch.exists():
            s.scratch = Path(tempfile.mkdtemp(prefix="ganlab-ui-"))
        return s.scratch

    def browser_secret(self) -> str:
        """The key gr.BrowserState encrypts with, kept in the runs folder so a restart can read what browsers hold."""
        path = self.root / ".browser-secret"
        try:
            text = path.read_text().strip()
            if len(text) >= 16:
                return text
        except OSError:
            pass
        self.root.mkdir(parents=True, exist_ok=True)
        text = secrets.token_hex(16)
        path.write_text(text)
        path.chmod(0o600)
        return text


class NoSession(GanlabError, gr.Error):
    """A request without a usable session hash: a GanlabError for the handlers, and a gr.Error so that Gradio
    answers the caller with the sentence (not a 500 and a traceback in the log)."""

    def __init__(self):
        gr.Error.__init__(self, NO_SESSION, print_exception=False)

    def __str__(self) -> str:
        return NO_SESSION


def session_key(key: Any) -> str:
    """A request's session hash, or NoSession: a missing or malformed one never shares another's session."""
    if not isinstance(key, str) or not 1 <= len(key) <= 64 or not all(c.isalnum() or c in "-_" for c in key):
        raise NoSession()
    return key


def _workers(opts: ServerOptions) -> list:
    """The --worker places, each asked once for its device and slots; one that does not answer yet is tried
    again when a run could go to it."""
    if not opts.workers:
        return []
    from ..engine.scheduler import PlaceUnavailable
    from ..engine.worker import WorkerPlace, parse_address, read_authkey
    key = read_authkey(opts.worker_authkey_file)
    places = []
    for text in opts.workers:
        place = WorkerPlace(*parse_address(text, "--worker"), key)
        try:
            info = place.probe()
            log.warning("%s: training on %s, %d slot(s)", place.name, info["device"], info["slots"])
        except PlaceUnavailable as e:
            log.warning("%s Runs go elsewhere until it answers.", e)
        places.append(place)
    return places


def _default_budget() -> int:
    from ..budget import default_budget
    return default_budget()
