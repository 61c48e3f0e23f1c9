"""The memory a real run takes, measured in a fresh child process: the check on the budget's estimates.

    measure_peak(cfg, steps=3)      # {"trainer": bytes} (tests/test_budget.py, bench/memory_estimate.py)
"""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from ..config import RunConfig


# ---- measuring, to check the estimate -----------------------------------------------------------
def measure_peak(cfg: RunConfig, steps: int = 3, engine: bool = False, evaluate: bool = False,
                 timeout: float = 1800) -> dict:
    """Measured peak bytes of a real run of ``cfg`` in a fresh child process on one thread (Linux), the
    check on this module's estimates (tests/test_budget.py, bench/memory_estimate.py):

    - "trainer": VmHWM after loading the set, building the trainer and ``steps`` steps, minus the RSS after
      imports;
    - "engine" (with ``engine``): the same after what the engine adds, the NaN guard's two copies, a
      checkpoint and one more step;
    - "eval" (with ``evaluate``): the peak of one evaluation of G at cfg's eval_n above the RSS before it.
    """
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "GANLAB_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    args = [cfg.to_json(), str(steps), str(int(engine)), str(int(evaluate))]
    proc = subprocess.run([sys.executable, "-m", "ganlab.budget.measure", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if proc.returncode:
        raise RuntimeError(f"the measuring child failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _status(key: str) -> int:
    return int(re.search(rf"{key}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")   # VmHWM := VmRSS
    except OSError:
        pass


def _measure_child(config: str, steps: str, engine: str, evaluate: str) -> None:
    import torch._dynamo  # noqa: F401  (imported by the first optimiser step, with torchvision: 150 MB,
    import torchvision.datasets  # noqa: F401  once per process, not per run)

    from ..checkpoint import capture_state, save_checkpoint
    from ..text import trainer as _text  # noqa: F401
    from ..trainer import configure_threads, make_trainer
    configure_threads(1)
    base = _status("VmRSS")
    _reset_peak()                                        # forget the imports' peak
    trainer = make_trainer(RunConfig.from_dict(json.loads(config)))
    for _ in range(int(steps)):
        trainer.step()
    out = {"trainer": _status("VmHWM") - base}
    if engine == "1":                                    # what the engine adds between steps
        good = capture_state(trainer, on_cpu=False)
        good = capture_state(trainer, on_cpu=False)      # noqa: F841  (replaced while the old one is held)
        with tempfile.TemporaryDirectory() as folder:
            save_checkpoint(trainer, Path(folder) / "step")
        trainer.step()
        out["engine"] = _status("VmHWM") - base
    if evaluate == "1":
        out["eval"] = _measure_eval(trainer)
    print(json.dumps(out))


def _measure_eval(trainer) -> int:
    from ..engine.evaluator import EvalJob, Evaluator
    G = copy.deepcopy(trainer.G_ema or trainer.G).eval().requires_grad_(False)
    job = EvalJob(0, trainer.step_count, G, trainer.cfg.data, trainer.cfg.train.eval_n, on_result=print)
    before = _status("VmRSS")
    _reset_peak()
    row = Evaluator("cpu").evaluate(job)
    if "eval_error" in row:
        raise RuntimeError(row["eval_error"])
    return _status("VmHWM") - before


if __name__ == "__main__":
    _measure_child(*sys.argv[1:5])
