"""ganlab's trainer against the loop people would otherwise copy (pytorch/examples' dcgan/main.py): images/s.

    python bench/train_throughput.py                         # 28 px x 1 and 64 px x 3, on the CPU (+ CUDA)
    python bench/train_throughput.py --sizes 64 --rounds 6 --seconds 10 --precision bf16
    python bench/train_throughput.py --json bench-throughput.json

Both sides train **the same networks on the same data, with the same batch
and loss**: ganlab's ``dcgan`` with ``d_norm="batch"`` (BatchNorm in G and D,
as the reference has), and the reference's ``nn.Sequential`` nets written out
layer for layer in the example's style and loaded with ganlab's initial
weights; BCE on D's outputs, Adam(2e-4, beta1 0.5), batch 64, the whole set in
memory (the reference reads it through a shuffling ``DataLoader``, as the
example does).

The sides run interleaved after a warm-up: round after round, each trains for
``--seconds`` in turn (the order alternating), so drift in the machine's speed
(other jobs, turbo, heat) falls on both. ganlab is timed as a user runs it: the
headless ``Engine`` (its worker thread, NaN guard, metrics rows, sample grids).
Images/s count the real images D sees per second (batch per step).

On CUDA the report adds model FLOPs utilisation: the FLOPs of one training step
(``torch.utils.flop_counter``) times steps/s, against the GPU's peak dense bf16 rate.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.nets.dcgan import BASE, _stages
from ganlab.trainer import Trainer, configure_threads

# size -> (dataset, resolution, channels, width, z): the two shapes the issue measures
SHAPES = {28: ("fashion-mnist", 28, 1, 32, 100), 64: ("emoji", 64, 3, 64, 100)}
# peak dense bf16 FLOP/s by GPU name (vendor data sheets, no sparsity)
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}


# ---- the reference: pytorch/examples dcgan/main.py, on ganlab's shapes ------------------------------------
class RefGenerator(nn.Module):
    def __init__(self, nz: int, ngf: int, nc: int, res: int):
        super().__init__()
        n = _stages(res)
        ch = ngf * 2 ** (n - 1)
        layers = [  # input is Z, going into a convolution; state size. (ch) x base x base
            nn.ConvTranspose2d(nz, ch, BASE[res], 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n - 1):  # state size. (ch/2) x 2s x 2s
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        # state size. (nc) x res x res
        layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, input):
        return self.main(input)


class RefDiscriminator(nn.Module):
    def __init__(self, ndf: int, nc: int, res: int):
        super().__init__()
        layers, ch_in, ch = [], nc, ndf
        for i in range(_stages(res)):  # state size. (ch) x s/2 x s/2
            layers += [nn.Conv2d(ch_in, ch, 4, 2, 1, bias=i == 0)] + ([nn.BatchNorm2d(ch)] if i else [])
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            ch_in, ch = ch, ch * 2
        # state size. 1 x 1 x 1
        layers += [nn.Conv2d(ch_in, 1, BASE[res], 1, 0), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, input):
        return self.main(input)


def copy_weights(dst: nn.Module, src: nn.Module) -> None:
    """Load ``src``'s parameters and buffers into ``dst`` in order (the same layers, other names)."""
    a, b = list(dst.state_dict().values()), list(src.state_dict().values())
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        raise ValueError("the reference and ganlab's nets differ in their layers")
    with torch.no_grad():
        for x, y in zip(a, b):
            x.copy_(y)


class ReferenceLoop:
    """The example's training step, verbatim in spirit: BCE on sigmoid outputs, D on real then on fake, G
    on D's new opinion of the same fake batch; ``.item()`` for its printed statistics every step."""

    def __init__(self, netG: nn.Module, netD: nn.Module, images: torch.Tensor, batch: int, nz: int,
                 device: torch.device, seed: int = 0):
        self.netG, self.netD, self.nz, self.device = netG.to(device), netD.to(device), nz, device
        self.loader = DataLoader(TensorDataset(images), batch_size=batch, shuffle=True, drop_last=True,
                                 generator=torch.Generator().manual_seed(seed))
        self.batches = iter(self.loader)
        self.criterion = nn.BCELoss()
        self.optimizerD = optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optimizerG = optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.batch = batch

    def _next(self) -> torch.Tensor:
        try:
            (x,) = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            (x,) = next(self.batches)
        return x

    def step(self, real: Optional[torch.Tensor] = None, noise: Optional[torch.Tensor] = None) -> Dict[str, float]:
        netG, netD, criterion, device = self.netG, self.netD, self.criterion, self.device
        ############################
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        ###########################
        netD.zero_grad()
        real_cpu = (self._next() if real is None else real).to(device)
        b = real_cpu.size(0)
        label = torch.full((b,), 1.0, dtype=real_cpu.dtype, device=device)
        output = netD(real_cpu).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        # train with fake
        noise = (torch.randn(b, self.nz, device=device) if noise is None else noise.to(device))[:, :, None, None]
        fake = netG(noise)
        label.fill_(0.0)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        self.optimizerD.step()
        ############################
        # (2) Update G network: maximize log(D(G(z)))
        ###########################
        netG.zero_grad()
        label.fill_(1.0)  # fake labels are real for generator cost
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        self.optimizerG.step()
        return dict(loss_d=errD.item(), loss_g=errG.item(), d_x=D_x, d_g_z1=D_G_z1, d_g_z2=D_G_z2)


# ---- the two sides -------------------------------------------------------------------------------------------
def ganlab_config(size: int, device: str, precision: str = "auto", channels_last: Optional[bool] = None,
                  compile: bool = False, steps: int = 10**9, batch: int = 64, seed: int = 0) -> RunConfig:
    data, res, ch, width, z = SHAPES[size]
    return RunConfig(DataConfig(name=data, resolution=res, channels=ch),
                     ModelConfig(name="dcgan", width=width, z_dim=z, d_norm="batch"),
                     TrainConfig(loss="ns", batch_size=batch, lr_g=2e-4, lr_d=2e-4, beta1=0.5, steps=steps,
                                 device=device, precision=precision, channels_last=channels_last,
                                 compile=compile, seed=seed, sample_every=500, log_every=10))


def reference_for(trainer: Trainer) -> ReferenceLoop:
    """The reference loop on ``trainer``'s data and shapes, starting from its nets' weights."""
    c, m = trainer.cfg, trainer.cfg.model
    nc, res = trainer.data.sample_shape[0], trainer.data.sample_shape[1]
    G, D = RefGenerator(m.z_dim, m.width, nc, res), RefDiscriminator(m.width, nc, res)
    copy_weights(G, trainer.G)
    copy_weights(D, trainer.D)
    return ReferenceLoop(G, D, trainer.data.x, c.train.batch_size, m.z_dim, trainer.device, c.train.seed)


class GanlabSide:
    """ganlab's headless Engine, paused between its turns."""

    def __init__(self, cfg: RunConfig, folder: Path):
        from ganlab.engine import Engine
        self.engine = Engine.new(cfg, folder)
        self.engine.start()
        self.engine.pause()

    def run_for(self, seconds: float) -> int:
        e = self.engine
        before = e.status()["step"]
        e.resume()
        time.sleep(seconds)
        e.pause()                                   # returns once the step in flight has finished
        e.inspect(lambda t: _sync(t.device))
        return e.status()["step"] - before

    def close(self) -> None:
        self.engine.stop()


class ReferenceSide:
    def __init__(self, loop: ReferenceLoop):
        self.loop = loop

    def run_for(self, seconds: float) -> int:
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.loop.step()
            n += 1
        _sync(self.loop.device)
        return n

    def close(self) -> None:
        pass


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleave(sides: Dict[str, object], rounds: int, seconds: float, warmup: float) -> Dict[str, float]:
    """Images/s of each side, measured in turns (A B, B A, A B, ...) after ``warmup`` seconds each."""
    for side in sides.values():
        side.run_for(warmup)
    steps = {k: 0 for k in sides}
    spent = {k: 0.0 for k in sides}
    names = list(sides)
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            steps[k] += sides[k].run_for(seconds)
            spent[k] += time.perf_counter() - t0
    return {k: steps[k] / spent[k] for k in sides}


def step_flops(cfg: RunConfig) -> float:
    """FLOPs of one ganlab training step (D on real and fake, G's step), counted by torch's flop counter."""
    from torch.utils.flop_counter import FlopCounterMode
    t = Trainer(cfg)
    t.step()                                    # the first step allocates; count a later one
    with FlopCounterMode(display=False) as counter:
        t.step()
    return float(counter.get_total_flops())


def peak_of(device: torch.device) -> Optional[float]:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def measure(size: int, device: str, a) -> Dict:
    cfg = ganlab_config(size, device, a.precision, a.channels_last, a.compile)
    trainer = Trainer(ganlab_config(size, device, "fp32", False))   # the reference starts from these weights
    ref = ReferenceSide(reference_for(trainer))
    with tempfile.TemporaryDirectory(prefix="ganlab-throughput-") as tmp:
        t0 = time.perf_counter()
        ours = GanlabSide(cfg, Path(tmp) / "run")
        ours.run_for(0.0)                           # one step: compiles when --compile is on
        first_step = time.perf_counter() - t0
        try:
            rate = interleave({"ganlab": ours, "reference": ref}, a.rounds, a.seconds, a.warmup)
        finally:
            ours.close()
    batch = cfg.train.batch_size
    out = {"size": size, "device": str(trainer.device), "threads": torch.get_num_threads(),
           "dataset": cfg.data.name, "shape": list(trainer.data.sample_shape), "width": cfg.model.width,
           "z_dim": cfg.model.z_dim, "batch": batch, "precision": a.precision,
           "channels_last": cfg.train.channels_last, "compile": a.compile,
           "ganlab_images_per_s": rate["ganlab"] * batch, "reference_images_per_s": rate["reference"] * batch,
           "ratio": rate["ganlab"] / rate["reference"], "startup_s": first_step}
    flops = step_flops(cfg)
    out["step_gflops"] = flops / 1e9
    out["ganlab_tflops_per_s"] = flops * rate["ganlab"] / 1e12
    peak = peak_of(trainer.device)
    if peak:
        out["mfu"] = flops * rate["ganlab"] / peak
        out["peak_tflops"] = peak / 1e12
    return out


def report(rows: List[Dict]) -> None:
    print(f"{'device':8s} {'size':>5s} {'shape':>11s} {'precision':>9s} {'ganlab img/s':>13s} "
          f"{'reference':>10s} {'ratio':>6s} {'TFLOP/s':>8s} {'MFU':>6s}")
    for r in rows:
        mfu = f"{100 * r['mfu']:5.1f}%" if "mfu" in r else "     -"
        print(f"{r['device']:8s} {r['size']:5d} {'x'.join(map(str, r['shape'])):>11s} {r['precision']:>9s} "
              f"{r['ganlab_images_per_s']:13.1f} {r['reference_images_per_s']:10.1f} {r['ratio']:5.2f}x "
              f"{r['ganlab_tflops_per_s']:8.3f} {mfu}")


def main(argv: Optional[List[str]] = None) -> Dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[28, 64], choices=sorted(SHAPES))
    p.add_argument("--devices", nargs="+", help="default: cpu, and cuda when present")
    p.add_argument("--rounds", type=int, default=4, help="turns per side")
    p.add_argument("--seconds", type=float, default=8.0, help="seconds per turn")
    p.add_argument("--warmup", type=float, default=4.0, help="seconds each side trains before timing")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="ganlab's precision")
    p.add_argument("--channels-last", dest="channels_last", action="store_const", const=True, default=None)
    p.add_argument("--no-channels-last", dest="channels_last", action="store_const", const=False)
    p.add_argument("--compile", action="store_true", help="torch.compile ganlab's G and D (startup reported)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: one per core)")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args(argv)
    configure_threads(a.threads)
    devices = a.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    rows = []
    for device in devices:
        for size in a.sizes:
            rows.append(measure(size, device, a))
            print(json.dumps(rows[-1]), flush=True)
    report(rows)
    summary = {"throughput": rows}
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
