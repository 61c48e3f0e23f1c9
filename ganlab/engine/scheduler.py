"""Training slots for a whole server: at most N engines train at once, the rest wait in line, in order.

    sched = Scheduler(slots=8, memory=12 * 2**30, release_after=180)
    ticket = sched.request(Job(owner="k", label="alice · ring · mlp", start=build_and_start,
                               memory=est.total, on_idle=checkpoint_and_stop))
    ticket.state                   # "waiting" | "starting" | "active" | "done" | "failed" | "cancelled"
    place, eta_s = sched.position(ticket)       # 1 = next in line; eta_s None when it cannot be told
    ticket.engines                 # what start() returned, once active
    sched.cancel(ticket)           # leave the line (or give the slot back)
    sched.touch(ticket)            # an idle run was used (one Step): its idle time starts again
    sched.tickets()                # every active and waiting ticket, for the teacher's table

A job's ``start()`` runs on a thread of its own when its turn comes: it
builds the run's engines (a Train-tab run is one, a Playground lesson one per
panel) and starts them; nothing is allocated while a job waits. The
scheduler listens to the engines' state changes: when all of them have
ended or finished, the slot goes to the next in line; when none of them has
trained for ``release_after`` seconds (paused, or a Playground opened and
never played), ``on_idle(ticket)`` runs, which checkpoints and stops them,
and so frees their memory, process and slot. A job that does not fit the
memory left waits like one that finds no slot, so the line keeps its order.

Slots live in places: this machine (``slots`` and ``memory``) and any GPU
workers (``ganlab.engine.worker``), each with slots of its own:

    sched = Scheduler(slots=4, workers=[WorkerPlace("127.0.0.1", 7001, key, slots=2)])
    sched.request(Job(owner="k", label="...", start_on=lambda place: [build_on(place)]))

A job that gives ``start_on`` may train anywhere: it goes to the least loaded
worker with a free slot, else to this machine. A job with a plain ``start``
stays here (the Playground). When ``start_on`` raises PlaceUnavailable (the
worker is down, full or refuses the key), that worker is passed over for
RETRY_SECONDS and the job goes back to the head of the line, to start
elsewhere.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import GanlabError

log = logging.getLogger(__name__)

ENDED = ("stopped", "error", "finished")
RETRY_SECONDS = 30.0           # a worker that could not take a run is not tried again before then


class PlaceUnavailable(GanlabError):
    """A worker could not take a run (not reachable, full, or it refused the key): place the job elsewhere."""


class Place:
    """Somewhere runs train, with its own slots: this machine, or a worker (see engine/worker.py)."""
    remote = False             # a worker: only jobs with start_on go there

    def __init__(self, name: str, slots: int, memory: Optional[int] = None):
        self.name = name                     # for logs and the teacher's table: "this machine", "worker HOST:PORT"
        self.slots = int(slots)
        self.memory = memory                 # bytes for its runs together; None: no limit
        self.down_until = 0.0                # time.monotonic() before which it is not tried again

    def __repr__(self) -> str:
        return f"Place({self.name!r}, slots={self.slots})"


@dataclass
class Job:
    owner: str                                   # the session that asked (cancelled with it)
    label: str                                   # for the teacher's table: "alice · ring · mlp"
    start: Optional[Callable[[], Sequence[Any]]] = None    # builds and starts the engines here; returns them
    units: int = 1                               # slots it takes
    memory: int = 0                              # bytes it needs, besides its data
    data_key: Optional[Any] = None               # runs on the same loaded set share it: counted once
    data_bytes: int = 0
    on_idle: Optional[Callable[["Ticket"], None]] = None    # default: stop every engine
    on_end: Optional[Callable[["Ticket"], None]] = None     # every engine ended or finished
    eta: Optional[Callable[[], Optional[float]]] = None     # seconds until it will be done, if known
    start_on: Optional[Callable[[Place], Sequence[Any]]] = None   # instead of start: may train on a worker


@dataclass
class Ticket:
    id: int
    job: Job
    state: str = "waiting"
    engines: List[Any] = field(default_factory=list)
    states: Dict[int, str] = field(default_factory=dict)   # index -> last state reported
    error: str = ""
    queued_at: float = field(default_factory=time.monotonic)
    started_at: Optional[float] = None
    idle_since: Optional[float] = None
    note: str = ""                              # why it ended, when the page should say (e.g. idle too long)
    ready: threading.Event = field(default_factory=threading.Event)   # set once active, failed or cancelled
    place: Optional[Place] = None               # where it trains, once it has left the line

    @property
    def live(self) -> bool:
        return self.state in ("waiting", "starting", "active")


class Scheduler:
    def __init__(self, slots: int, memory: Optional[int] = None, release_after: float = 180.0,
                 workers: Sequence[Place] = ()):
        self.local = Place("this machine", slots, memory)
        self.places: List[Place] = list(workers) + [self.local]    # workers first: they are why they exist
        self.release_after = float(release_after)
        self._cond = threading.Condition()
        self._waiting: List[Ticket] = []
        self._active: List[Ticket] = []          # starting or active: they hold their units and memory
        self._ids = itertools.count(1)
        self._closed = False
        self._timer = threading.Thread(target=self._idle_loop, name="ganlab-scheduler", daemon=True)
        self._timer.start()

    @property
    def slots(self) -> int:
        """Training slots of every place together."""
        return sum(p.slots for p in self.places)

    @property
    def memory(self) -> Optional[int]:
        return self.local.memory

    # ---- asking ------------------------------------------------------------------------------------
    def request(self, job: Job) -> Ticket:
        """Queue ``job``; it starts at once if its turn has come and it fits."""
        if (job.start is None) == (job.start_on is None):
            raise ValueError("a Job needs exactly one of start and start_on")
        most = max(p.slots for p in self.places if job.start_on is not None or not p.remote)
        if job.units > most:
            raise GanlabError(f"This needs {job.units} training slots but the server has {most} in one place; "
                              "ask the teacher to start it with a larger --max-runs.")
        ticket = Ticket(next(self._ids), job)
        with self._cond:
            self._waiting.append(ticket)
            launch = self._pump()
        self._launch_all(launch)
        return ticket

    def cancel(self, ticket: Ticket) -> None:
        """Leave the line, or give back the slot of a started job (its engines are the caller's to stop)."""
        with self._cond:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                ticket.state = "cancelled"
                ticket.ready.set()
            elif ticket in self._active:
                self._active.remove(ticket)
                ticket.state = "done"
            launch = self._pump()
            self._cond.notify_all()
        self._launch_all(launch)

    def touch(self, ticket) -> None:
        """Someone used the idle run (a Step click): its idle time starts again."""
        with self._cond:
            if ticket is not None and ticket.idle_since is not None:
                ticket.idle_since = time.monotonic()
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for t in self._waiting:
                t.state = "cancelled"
                t.ready.set()
            self._waiting.clear()
            self._cond.notify_all()

    # ---- reading ------------------------------------------------------------------------------------
    def position(self, ticket: Ticket) -> Tuple[Optional[int], Optional[float]]:
        """(place in line, 1 = next; about how many seconds until it starts, or None if it cannot be told)."""
        with self._cond:
            if ticket not in self._waiting:
                return None, None
            i = self._waiting.index(ticket)
            need = sum(t.job.units for t in self._waiting[:i + 1])
            free = self.slots - sum(t.job.units for t in self._active)
            frees = sorted(self._frees_in())
        if need <= free:
            return i + 1, 0.0                     # it waits for memory, or is about to start
        got, when = free, None
        for seconds, units in frees:              # slots come back as the running jobs end
            got += units
            if got >= need:
                when = seconds
                break
        return i + 1, when

    def _frees_in(self) -> List[Tuple[float, int]]:
        """(seconds until it gives its slots back, units) for each active job that can tell (lock held)."""
        now, out = time.monotonic(), []
        for t in self._active:
            if t.idle_since is not None:
                out.append((max(0.0, t.idle_since + self.release_after - now), t.job.units))
            elif t.job.eta is not None:
                try:
                    eta = t.job.eta()
                except Exception:                  # an engine that cannot answer cannot tell
                    eta = None
                if eta is not None:
                    out.append((eta, t.job.units))
        return out

    def tickets(self) -> List[Ticket]:
        with self._cond:
            return list(self._active) + list(self._waiting)

    def busy(self) -> int:
        """Slots in use."""
        with self._cond:
            return sum(t.job.units for t in self._active)

    def memory_in_use(self) -> int:
        with self._cond:
            return self._memory_of(self._active)

    # ---- inside ---------------------------------------------------------------------------------------
    @staticmethod
    def _memory_of(tickets: Sequence[Ticket]) -> int:
        data: Dict[Any, int] = {}
        total = 0
        for t in tickets:
            total += t.job.memory
            key = t.job.data_key if t.job.data_key is not None else ("ticket", t.id)
            data[key] = max(data.get(key, 0), t.job.data_bytes)
        return total + sum(data.values())

    def _place_for(self, ticket: Ticket) -> Optional[Place]:
        """(lock held) where the job fits now: the least loaded worker it may use, else this machine; None: wait."""
        now = time.monotonic()
        used = {id(p): [t for t in self._active if t.place is p] for p in self.places}

        def load(p: Place) -> float:
            return sum(t.job.units for t in used[id(p)]) / max(1, p.slots)
        workers = [p for p in self.places if p.remote and ticket.job.start_on is not None and p.down_until <= now]
        for p in sorted(workers, key=load) + [self.local]:          # sorted() is stable: ties keep flag order
            here = used[id(p)]
            if sum(t.job.units for t in here) + ticket.job.units > p.slots:
                continue
            if p.memory is None or not here or self._memory_of(here + [ticket]) <= p.memory:
                return p                                  # alone in a place, a job always gets its turn
        return None

    def _pump(self) -> List[Ticket]:
        """(lock held) move the head of the line to the slots while it fits; strictly in order."""
        launch = []
        while self._waiting and not self._closed:
            place = self._place_for(self._waiting[0])
            if place is None:
                break
            t = self._waiting.pop(0)
            t.state, t.place = "starting", place
            self._active.append(t)
            launch.append(t)
        return launch

    def _launch_all(self, tickets: Sequence[Ticket]) -> None:
        for t in tickets:
            threading.Thread(target=self._launch, args=(t,), name=f"ganlab-start-{t.id}", daemon=True).start()

    def _launch(self, ticket: Ticket) -> None:
        job = ticket.job
        try:
            engines = list(job.start_on(ticket.place) if job.start_on is not None else job.start())
        except PlaceUnavailable as e:
            self._elsewhere(ticket, e)
            return
        except Exception as e:                     # GanlabError (a user's mistake) or a bug: the slot comes back
            if not isinstance(e, GanlabError):
                log.exception("starting %s failed", ticket.job.label)
            with self._cond:
                ticket.state, ticket.error = "failed", str(e) if isinstance(e, GanlabError) else \
                    f"Starting the run failed: {type(e).__name__}: {e}"
                if ticket in self._active:
                    self._active.remove(ticket)
                launch = self._pump()
                ticket.ready.set()
            self._launch_all(launch)
            return
        with self._cond:
            if ticket.state != "starting":           # cancelled while it started: the caller stops it
                ticket.engines = engines
                ticket.ready.set()
                return
            ticket.engines, ticket.state, ticket.started_at = engines, "active", time.monotonic()
        for i, e in enumerate(engines):
            e.listen(lambda state, error, i=i: self._on_state(ticket, i, state))
        for i, e in enumerate(engines):              # a change before listen() was called is not lost
            try:
                self._on_state(ticket, i, e.state)
            except Exception:
                log.exception("reading the state of %s failed", ticket.job.label)
        ticket.ready.set()

    def _elsewhere(self, ticket: Ticket, why: Exception) -> None:
        """Its worker could not take it: pass that worker over for a while; the job keeps its turn."""
        place = ticket.place
        log.warning("%s could not take %s (%s); placing it elsewhere", place.name if place else "?",
                    ticket.job.label, why)
        with self._cond:
            if place is not None and place.remote:
                place.down_until = time.monotonic() + RETRY_SECONDS
            if ticket in self._active:
                self._active.remove(ticket)
            if ticket.state != "starting":           # cancelled meanwhile: nothing to start
                ticket.ready.set()
            elif place is not None and place.remote:
                ticket.state, ticket.place = "waiting", None
                self._waiting.insert(0, ticket)
            else:                                  # this machine has nowhere else to send it
                ticket.state, ticket.error = "failed", str(why)
                ticket.ready.set()
            launch = self._pump()
            self._cond.notify_all()
        self._launch_all(launch)

    def _on_state(self, ticket: Ticket, index: int, state: str) -> None:
        end = False
        with self._cond:
            if ticket not in self._active:
                return
            ticket.states[index] = state
            states = [ticket.states.get(i, "idle") for i in range(len(ticket.engines))]
            if all(s in ENDED for s in states):
                self._active.remove(ticket)
                ticket.state = "done"
                end = True
            elif any(s == "running" for s in states):
                ticket.idle_since = None
            elif ticket.idle_since is None:
                ticket.idle_since = time.monotonic()
            launch = self._pump() if end else []
            self._cond.notify_all()
        if end and ticket.job.on_end is not None:
            self._run(ticket.job.on_end, ticket)
        self._launch_all(launch)

    def _idle_loop(self) -> None:
        """Wake at the next idle deadline; a job idle for release_after seconds gets on_idle()."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                due = [t for t in self._active if t.idle_since is not None
                       and now - t.idle_since >= self.release_after]
                for t in due:
                    t.idle_since = None                  # once: on_idle stops it, and its engines report that
                    self._run(t.job.on_idle or _stop_all, t)
                waits = [t.idle_since + self.release_after - now for t in self._active if t.idle_since is not None]
                self._cond.wait(timeout=max(0.05, min(waits)) if waits else None)

    @staticmethod
    def _run(fn: Callable[[Ticket], None], ticket: Ticket) -> None:
        def call():
            try:
                fn(ticket)
            except Exception:
                log.exception("scheduler callback for %s failed", ticket.job.label)
        threading.Thread(target=call, name=f"ganlab-idle-{ticket.id}", daemon=True).start()


def stop_engines(ticket: Ticket) -> None:
    """Stop every engine of a ticket (each saves its checkpoint); one that has already ended is passed by."""
    for e in ticket.engines:
        try:
            e.stop()
        except GanlabError:
            pass


_stop_all = stop_engines


__all__ = ["Scheduler", "Job", "Ticket", "Place", "PlaceUnavailable", "stop_engines"]
