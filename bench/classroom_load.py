"""A classroom on one machine: 30 simulated users and 2 real browsers against one server, on 127.0.0.1 only.

    python bench/classroom_load.py                        # 30 users + 2 browsers, 10 minutes
    python bench/classroom_load.py --users 10 --minutes 2
    python bench/classroom_load.py --soak 60              # one run trained for 60 min, a browser attached
    python bench/classroom_load.py --churn 150            # 150 browsers come and go: memory per browser

Starts `python app.py --classroom` in a temp folder (its defaults: 8 training slots, runs in niced child
processes), then:

* ``--users`` simulated users through gradio_client, spread over ``--workers`` processes (so the load
  generator's own interpreter lock does not add to the latencies it measures). Each user, seeded:
  starts a small run (the ring with the MLP, or 28x28 MNIST with DCGAN) and polls it as the Train tab's
  timer does (every second while it trains, every 3 s while it waits; between its other requests, one at a
  time). In between it drags an Explore slider (a burst of 6-12 renders, each picture fetched as a browser
  fetches it), sends a Text -> Image prompt, pauses and resumes, opens its last run again, or thinks for a
  few seconds; after one to three minutes it closes the tab and comes back as a new browser.
* 2 Chromium pages (Debian's, through Playwright): one trains on the Train tab, one plays the 2-D Playground.

Every request is bounded by a timeout and every user stops at the deadline. It prints errors (exceptions,
timeouts and "Something went wrong" messages; a refusal such as "in line" is not an error), p50/p95 of
polls, slider renders (request + image) and prompts, how long started runs waited in line, runs
finished, and every 30 s the server's memory: RSS and PSS of the server and the sum over its child
processes (the training runs and the fork server).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

PROMPTS = ["a sneaker for jogging", "the digit seven", "a red circle", "a warm winter coat", "blue denim",
           "the numeral 4 in pen", "a small green triangle at the top", "a handbag"]
REQUEST_TIMEOUT = 60.0


# ---- memory of the server and its children --------------------------------------------------------------
def _children(pid: int) -> List[int]:
    kids: Dict[int, List[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _rss_pss(pid: int):
    """(RSS, PSS) in MB from /proc/PID/smaps_rollup."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0, 0.0
    vals = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
            vals[parts[0]] = int(parts[1]) / 1024
    return vals.get("Rss:", 0.0), vals.get("Pss:", 0.0)


def memory(pid: int) -> Dict[str, float]:
    rss, pss = _rss_pss(pid)
    kids = _children(pid)
    krss = kpss = 0.0
    for k in kids:
        r, p = _rss_pss(k)
        krss, kpss = krss + r, kpss + p
    return dict(rss=rss, pss=pss, children=len(kids), child_rss=krss, child_pss=kpss, total_pss=pss + kpss)


def _sampler(pid: int, t0: float, every: float, stop: threading.Event, out: list, extra=None) -> None:
    while True:
        m = memory(pid)
        m["min"] = (time.monotonic() - t0) / 60
        if extra is not None:
            m.update(extra())
        out.append(m)
        note = f"  {m['note']}" if m.get("note") else ""
        print(f"{m['min']:5.1f} min  server RSS {m['rss']:6.0f} MB  PSS {m['pss']:6.0f} MB  | {m['children']:2d} "
              f"children: RSS {m['child_rss']:6.0f} MB  PSS {m['child_pss']:6.0f} MB  | total PSS "
              f"{m['total_pss']:6.0f} MB{note}", flush=True)
        if stop.wait(every):
            return


# ---- one simulated user (in a worker process) -------------------------------------------------------------
def _form(rng: random.Random) -> list:
    from ganlab.ui.train_handlers import DEFAULT_FORM, FORM_FIELDS
    if rng.random() < 0.7:
        values = dict(DEFAULT_FORM, dataset="ring", model="mlp", steps=rng.choice([1500, 2500, 4000]),
                      batch_size=64, seed=rng.randrange(1000))
    else:
        values = dict(DEFAULT_FORM, dataset="mnist", model="dcgan", steps=rng.choice([200, 400]), batch_size=32,
                      lr_g=2e-4, lr_d=2e-4, eval_every=0, seed=rng.randrange(1000))
    return [values[k] for k in FORM_FIELDS]


class User:
    def __init__(self, name: str, url: str, until: float, rng: random.Random, log):
        self.name, self.url, self.until, self.rng, self.log = name, url, until, rng, log
        self.status, self.ref, self.every = "", None, 1.0
        self.queued_at = None
        self.finished_refs = set()

    def call(self, client, kind: str, *args, api: str):
        t0 = time.perf_counter()
        try:
            job = client.submit(*args, api_name=api)
            out = job.result(timeout=REQUEST_TIMEOUT)
        except Exception as e:                                    # a timeout, a dropped connection, a crash
            self.log(kind, 1000 * (time.perf_counter() - t0), error=f"{type(e).__name__}: {str(e)[:160]}")
            return None
        ms = 1000 * (time.perf_counter() - t0)
        first = out[0] if isinstance(out, (list, tuple)) and out else out
        text = first if isinstance(first, str) else ""
        if "Something went wrong" in text:
            self.log(kind, ms, error=text[:200])
        else:
            self.log(kind, ms, refused=text.startswith("⚠️"))
        return out

    def fetch(self, file) -> float:
        """The browser fetches the image the render returned; its time counts."""
        import httpx
        url = file.get("url") if isinstance(file, dict) else getattr(file, "url", None)
        if not url:
            return 0.0
        if getattr(self, "http", None) is None:                  # one connection, as a browser keeps one
            self.http = httpx.Client(timeout=REQUEST_TIMEOUT)
        t0 = time.perf_counter()
        self.http.get(url).raise_for_status()
        return 1000 * (time.perf_counter() - t0)

    def run(self) -> None:
        from gradio_client import Client
        while time.time() < self.until - 5:
            t0 = time.perf_counter()
            try:
                # plain http on 127.0.0.1: ssl_verify=False only spares gradio_client building a CA store for
                # every request (73% of this process's CPU otherwise), which a browser does not do either
                client = Client(self.url, verbose=False, download_files=False, ssl_verify=False)
            except Exception as e:
                self.log("connect", 1000 * (time.perf_counter() - t0), error=f"{type(e).__name__}: {str(e)[:160]}")
                time.sleep(2)
                continue
            self.log("connect", 1000 * (time.perf_counter() - t0))
            self.session(client, time.time() + self.rng.uniform(60, 180))
            client.close()                                       # the tab closes; a new browser comes back

    def session(self, client, leave: float) -> None:
        """One browser tab's life: a run, its poll once a second, and actions between polls."""
        self.polled = time.monotonic()
        self.note(self.call(client, "start", *_form(self.rng), api="/train_start"), started=True)
        while time.time() < min(leave, self.until - 2):
            r = self.rng.random()
            if r < 0.5:
                self.drag(client)
            elif r < 0.62:
                self.call(client, "prompt", self.rng.choice(PROMPTS), 8, 0.7, self.rng.randrange(1000), None,
                          api="/text_go")
            elif r < 0.7:
                self.call(client, "control", api="/train_pause")
                self.wait(client, self.rng.uniform(1, 4))
                self.note(self.call(client, "control", api="/train_resume"))
            elif r < 0.76 and self.ref:
                self.note(self.call(client, "control", self.ref, 6000, api="/train_open"), started=True)
            self.wait(client, self.rng.uniform(1.5, 5.0))         # thinking

    def wait(self, client, seconds: float) -> None:
        """Sleep, polling the run when a poll is due (the Train tab's timer fires every second)."""
        end = time.monotonic() + seconds
        while True:
            self.poll(client)
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, max(0.0, self.polled + self.every - time.monotonic())) or 0.01)

    def poll(self, client) -> None:
        """The Train tab's timer: its period is what the server last said (1 s while the run trains)."""
        if time.monotonic() - self.polled >= self.every:
            self.polled = time.monotonic()
            out = self.call(client, "poll", api="/train_poll")
            pace = out[-1] if out else None                       # gradio_client hands the Timer update over
            if isinstance(pace, dict) and isinstance(pace.get("value"), (int, float)):
                self.every = float(pace["value"])
            self.note(out)

    def drag(self, client) -> None:
        from ganlab.ui.explore_tab import VIEW_KEYS
        seed_a = self.rng.randrange(1000)
        for i in range(self.rng.randint(6, 12)):
            # controls left out (the style ones: W, noise, mixing) are None, which the handlers read as their defaults
            view = dict(seed_a=seed_a, seed_b=seed_a + 1, mode="slerp", t=i / 12, psi=1.0, frames=8, dim=0,
                        dim_amount=0, class_a=None, class_b=None, blend=0.0, **{f"pc{k}": 0 for k in range(5)})
            t0 = time.perf_counter()
            try:
                out = client.submit(*[view.get(k) for k in VIEW_KEYS], api_name="/explore_render").result(
                    timeout=REQUEST_TIMEOUT)
                self.log("image", self.fetch(out[0]))             # the picture's own GET, part of "slider"
            except Exception as e:
                self.log("slider", 1000 * (time.perf_counter() - t0), error=f"{type(e).__name__}: {str(e)[:160]}")
                return
            self.log("slider", 1000 * (time.perf_counter() - t0), error=out[2] if "went wrong" in str(out[2]) else None)
            self.poll(client)                                     # the timer keeps ticking during a drag
            time.sleep(self.rng.uniform(0.03, 0.12))              # the next input event of the drag

    def note(self, out, started: bool = False) -> None:
        """Follow the user's run through its status line: in line, running, finished."""
        if not out:
            return
        text = next((o for o in (out[1:2] if started else out[:1]) if isinstance(o, str)), "")
        if started and isinstance(out[0], str) and "in line" in out[0]:
            self.queued_at = time.time()
        if not text:
            return
        m = re.search(r"run folder `([^`]+)`", text)
        if m:
            self.ref = m.group(1)
        if "RUNNING" in text and self.queued_at is not None:
            self.log("queue_wait", 1000 * (time.time() - self.queued_at))
            self.queued_at = None
        if "FINISHED" in text and self.ref and self.ref not in self.finished_refs:
            self.finished_refs.add(self.ref)
            self.log("finished", 0.0)


def worker(url: str, users: int, seed: int, until: float, out: Path) -> None:
    lock = threading.Lock()
    f = open(out, "w")

    def log(kind, ms, error=None, refused=False):
        with lock:
            f.write(json.dumps({"kind": kind, "ms": ms, "error": error, "refused": refused, "t": time.time()}) + "\n")
            f.flush()
    threads = [threading.Thread(target=User(f"u{seed}-{i}", url, until, random.Random(seed * 1000 + i), log).run,
                                daemon=True) for i in range(users)]
    for t in threads:
        t.start()
        time.sleep(0.3)                                           # users arrive over a few seconds, as a class does
    for t in threads:
        t.join(max(1.0, until - time.time() + REQUEST_TIMEOUT + 30))
    f.close()


# ---- the two real browsers ----------------------------------------------------------------------------------
def browsers(url: str, stop: threading.Event, shots: Path, state: dict) -> None:
    from ganlab.devtools import chromium
    with chromium() as browser:
        train = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        play = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        for p in (train, play):
            p.goto(url, timeout=120_000)
            p.wait_for_selector("#train-start", timeout=120_000)
        train.click("#train-steps input")
        train.fill("#train-steps input", "1000000")
        train.click("#train-start")
        play.get_by_role("tab", name="2-D Playground").click()
        time.sleep(5)
        play.click("#play-play")
        while not stop.wait(10):
            try:
                state["browser"] = train.inner_text("#train-status").split("\n")[0][:90]
            except Exception as e:                                # the page itself failed: that is an error
                state["browser_errors"] = state.get("browser_errors", 0) + 1
                state["browser"] = f"error: {type(e).__name__}"
        train.screenshot(path=str(shots / "classroom-load-train.png"), full_page=True)
        play.screenshot(path=str(shots / "classroom-load-play.png"), full_page=True)


# ---- reports -------------------------------------------------------------------------------------------------
def pct(xs, q):
    import numpy as np
    return float(np.percentile(xs, q)) if xs else float("nan")


def report(events: List[dict], mem: List[dict], state: dict, minutes: float) -> None:
    kinds = ("poll", "slider", "image", "prompt", "start", "control", "connect")
    errors = [e for e in events if e["error"]]
    print(f"\n== {minutes:g} minutes, {len(events):,} requests ==")
    print(f"errors: {len(errors)} (+ {state.get('browser_errors', 0)} in the browsers)")
    for e in errors[:8]:
        print(f"   {e['kind']}: {e['error']}")
    print(f"{'request':10s} {'n':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}  refused")
    for k in kinds:
        xs = [e["ms"] for e in events if e["kind"] == k and not e["error"]]
        refused = sum(1 for e in events if e["kind"] == k and e["refused"])
        if xs:
            print(f"{k:10s} {len(xs):7,d} {pct(xs, 50):8.0f} {pct(xs, 95):8.0f} {max(xs):8.0f}  {refused}")
    waits = [e["ms"] / 1000 for e in events if e["kind"] == "queue_wait"]
    print(f"queue waits: {len(waits)} runs waited for a slot; p50 {pct(waits, 50):.1f} s, p95 {pct(waits, 95):.1f} s, "
          f"max {max(waits) if waits else float('nan'):.1f} s")
    print(f"runs finished: {sum(1 for e in events if e['kind'] == 'finished')}")
    if mem:
        warm = [m for m in mem if m["min"] >= min(2.0, mem[-1]["min"] / 2)]
        print(f"memory (total PSS, server + children): start {mem[0]['total_pss']:.0f} MB, after warm-up "
              f"{warm[0]['total_pss']:.0f} MB, end {mem[-1]['total_pss']:.0f} MB, peak "
              f"{max(m['total_pss'] for m in mem):.0f} MB; server PSS {warm[0]['pss']:.0f} -> {mem[-1]['pss']:.0f} MB")


# ---- main ----------------------------------------------------------------------------------------------------
def load(a) -> None:
    from ganlab.devtools import serve_app
    work = Path(tempfile.mkdtemp(prefix="ganlab-load-"))
    env = {"GANLAB_CLASSROOM": "1", "GANLAB_TEACHER_PASSWORD": "bench-teacher"}
    if a.profile:
        env["GRADIO_PROFILING"] = "1"
    with serve_app(work, env=env, timeout=180) as (url, app):
        print(f"server {url} (pid {app.pid}), runs in {work}/runs; {a.users} users in {a.workers} processes + "
              f"{0 if a.no_browsers else 2} browsers for {a.minutes:g} min", flush=True)
        t0 = time.monotonic()
        until = time.time() + a.minutes * 60
        stop, state, mem = threading.Event(), {}, []
        sampler = threading.Thread(target=_sampler, args=(app.pid, t0, 30, stop, mem, lambda: {"note": state.get(
            "browser", "")}), daemon=True)
        sampler.start()
        shown = threading.Thread(target=browsers, args=(url, stop, Path(a.shots), state), daemon=True)
        if not a.no_browsers:
            shown.start()
        outs, procs = [], []
        per = [a.users // a.workers + (1 if i < a.users % a.workers else 0) for i in range(a.workers)]
        for i, n in enumerate(per):
            out = work / f"worker{i}.jsonl"
            outs.append(out)
            procs.append(subprocess.Popen([sys.executable, __file__, "--worker", url, str(n), str(i + 1),
                                           str(until), str(out)], env=dict(os.environ, PYTHONPATH=str(HERE))))
        for p in procs:
            try:
                p.wait(a.minutes * 60 + 3 * REQUEST_TIMEOUT + 60)
            except subprocess.TimeoutExpired:                     # bounded: a stuck worker is stopped
                p.kill()
        stop.set()
        if not a.no_browsers:
            shown.join(120)
        sampler.join(30)
        events = [json.loads(line) for out in outs if out.exists() for line in out.read_text().splitlines()
                  if line.strip()]
        report(events, mem, state, a.minutes)
        if a.profile:
            server_side(url)


def server_side(url: str) -> None:
    """Gradio's own timings of each endpoint (GRADIO_PROFILING): where a request's time goes on the server."""
    import httpx
    traces = httpx.get(url + "gradio_api/profiling/traces", timeout=60).json()
    traces = traces.get("traces", traces) if isinstance(traces, dict) else traces
    by: Dict[str, List[dict]] = {}
    for t in traces:
        by.setdefault(t.get("fn_name") or "?", []).append(t)
    print("\nserver side (Gradio's profiling), ms p50 / p95:")
    for name, ts in sorted(by.items(), key=lambda kv: -len(kv[1]))[:10]:
        cols = []
        for phase in ("queue_wait", "preprocess", "fn_call", "postprocess", "total"):
            xs = [t[f"{phase}_ms"] for t in ts if t.get(f"{phase}_ms") is not None]
            cols.append(f"{phase.replace('process', '')} {pct(xs, 50):4.0f}/{pct(xs, 95):4.0f}")
        print(f"  {name[:24]:24s} n {len(ts):6,d}  " + "   ".join(cols))


def soak(a) -> None:
    from ganlab.devtools import chromium, serve_app, train_page
    work = Path(tempfile.mkdtemp(prefix="ganlab-soak-"))
    with serve_app(work, timeout=180) as (url, app), chromium() as browser:
        page = train_page(browser, url, a.dataset, steps=100_000_000)
        print(f"soak: {a.soak:g} min of {a.dataset} in one run, a browser attached; server pid {app.pid}", flush=True)
        t0, stop, mem = time.monotonic(), threading.Event(), []

        def status():
            try:
                return {"note": page.inner_text("#train-status").split("\n")[0][:80]}
            except Exception as e:
                return {"note": f"page error {type(e).__name__}"}
        while time.monotonic() - t0 < a.soak * 60:                # the page is driven from this thread only
            m = memory(app.pid)
            m.update(min=(time.monotonic() - t0) / 60, **status())
            mem.append(m)
            print(f"{m['min']:5.1f} min  server RSS {m['rss']:6.0f} MB  PSS {m['pss']:6.0f} MB  | children RSS "
                  f"{m['child_rss']:6.0f} MB  PSS {m['child_pss']:6.0f} MB  | total PSS {m['total_pss']:6.0f} MB  "
                  f"{m['note']}", flush=True)
            time.sleep(max(0.0, min(30.0, a.soak * 60 - (time.monotonic() - t0))))
        stop.set()
        page.screenshot(path=str(Path(a.shots) / "classroom-soak.png"), full_page=True)
        first = next((m for m in mem if m["min"] >= 2), mem[0])
        print(f"\nsoak: total PSS {first['total_pss']:.0f} MB at {first['min']:.0f} min -> "
              f"{mem[-1]['total_pss']:.0f} MB at {mem[-1]['min']:.0f} min; server PSS {first['pss']:.0f} -> "
              f"{mem[-1]['pss']:.0f} MB")


def churn(a) -> None:
    """Browsers that come and go: each connects, starts a run, polls it, stops it and closes; the server's
    memory every 25 of them, once their unloads have arrived (a closed run's process exits)."""
    from gradio_client import Client

    from ganlab.devtools import serve_app
    from ganlab.ui.train_handlers import DEFAULT_FORM, FORM_FIELDS
    work = Path(tempfile.mkdtemp(prefix="ganlab-churn-"))
    form = [dict(DEFAULT_FORM, steps=200, batch_size=32)[k] for k in FORM_FIELDS]
    with serve_app(work, env={"GANLAB_CLASSROOM": "1", "GANLAB_TEACHER_PASSWORD": "bench"}, timeout=180) as (url, app):
        time.sleep(10)

        def one():
            c = Client(url, verbose=False, download_files=False, ssl_verify=False)
            c.predict(*form, api_name="/train_start")
            for _ in range(3):
                c.predict(api_name="/train_poll")
                time.sleep(0.3)
            c.predict(api_name="/train_stop")
            c.close()
        done, first = 0, None
        while done < a.churn:
            batch = [threading.Thread(target=one) for _ in range(min(25, a.churn - done))]
            for i in range(0, len(batch), 5):                 # five browsers at a time
                for t in batch[i:i + 5]:
                    t.start()
                for t in batch[i:i + 5]:
                    t.join(REQUEST_TIMEOUT * 6)
            done += len(batch)
            time.sleep(20)                                    # their unloads arrive with the heartbeat
            m = memory(app.pid)
            first = first or m
            print(f"{done:5d} browsers  server RSS {m['rss']:6.0f} MB  PSS {m['pss']:6.0f} MB  "
                  f"{m['children']} child processes", flush=True)
        per = (m["rss"] - first["rss"]) / max(1, done - 25)
        print(f"\nchurn: {per:.2f} MB of server RSS per browser after the first 25 ({first['rss']:.0f} -> "
              f"{m['rss']:.0f} MB); {m['children']} child processes left (the fork server and its helper)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, users, seed, until, out = sys.argv[2:7]
        worker(url, int(users), int(seed), float(until), Path(out))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=30)
    p.add_argument("--workers", type=int, default=3, help="processes the simulated users are spread over")
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--soak", type=float, metavar="MIN", help="instead: one run for MIN minutes with a browser attached")
    p.add_argument("--dataset", default="fashion-mnist", help="the soak run's dataset")
    p.add_argument("--churn", type=int, metavar="N", help="instead: N browsers that connect, train briefly and "
                   "close; memory per browser")
    p.add_argument("--no-browsers", action="store_true", help="simulated users only")
    p.add_argument("--profile", action="store_true", help="also print Gradio's server-side timings per endpoint")
    p.add_argument("--shots", default=".", help="folder for the screenshots at the end")
    a = p.parse_args()
    if a.users < 1 or a.users > 200 or a.minutes <= 0 or a.minutes > 240:
        p.error("use 1 to 200 users and 0 to 240 minutes")
    soak(a) if a.soak else churn(a) if a.churn else load(a)


if __name__ == "__main__":
    main()
