"""What the two benchmarks share: the run options, model preparation, alternating timing, and a per-part
breakdown that says where a model's time goes and at what rate it does its multiply-adds.

The breakdown times the parts of one ordinary forward pass: a forward hook on the module that ends each part
records the clock, so the parts run in context (the same caches, the same inputs) and add up to the whole.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch._inductor.config as inductor_config
from torch import nn

from vtlab.cost import macs_by_module


def add_options(parser: argparse.ArgumentParser, repeats: int) -> None:
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--compile", action="store_true", help="torch.compile both models")
    parser.add_argument("--freeze", action="store_true",
                        help="with --compile, inference only: inductor's weight freezing (constant-folded, prepacked "
                             "weights), the usual CPU deployment setting")
    parser.add_argument("--channels-last", action="store_true",
                        help="channels-last tensors on the CPU too (always on CUDA)")
    parser.add_argument("--breakdown", action="store_true",
                        help="eager only: time each part of the forward pass and its multiply-add rate")


def check_options(args: argparse.Namespace) -> None:
    if args.freeze and not args.compile:
        raise SystemExit("--freeze applies to compiled models: add --compile")
    if args.breakdown and args.compile:
        raise SystemExit("--breakdown times the parts of an eager forward pass: drop --compile")


class Setting:
    """Device, memory format and autocast of a run, from the options."""

    def __init__(self, args: argparse.Namespace):
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.format = torch.channels_last if self.cuda or args.channels_last else torch.contiguous_format
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else nullcontext()
        self.args = args
        if args.freeze:
            inductor_config.freezing = True

    def prepare(self, model: nn.Module) -> nn.Module:
        model = model.to(self.device, memory_format=self.format)
        return torch.compile(model) if self.args.compile else model

    def input(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, device=self.device).contiguous(memory_format=self.format)

    def describe(self) -> str:
        a = self.args
        mode = "compiled" + (" + frozen" if a.freeze else "") if a.compile else "eager"
        layout = "channels-last" if self.format == torch.channels_last else "contiguous (NCHW)"
        gpu = f" {torch.cuda.get_device_name()}" if self.cuda else ""
        return f"device {self.device}{gpu}, {a.threads} threads, {mode}, {layout}, torch {torch.__version__}"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def timed(self, fn: Callable[[], object]) -> float:
        self.sync()
        started = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - started

    def alternate(self, fns: dict[str, Callable[[], object]], warmup: int = 2) -> dict[str, float]:
        """Median seconds of each function, timed in turns so that drifts in machine load hit all alike."""
        for fn in fns.values():
            for _ in range(warmup):
                fn()
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(self.args.repeats):
            for name, fn in fns.items():
                times[name].append(self.timed(fn))
        return {name: statistics.median(t) for name, t in times.items()}


def breakdown(setting: Setting, models: dict[str, nn.Module], parts: dict[str, dict[str, list[str]]],
              x: torch.Tensor, input_size: int | tuple[int, int]) -> None:
    """Print each model's time per part and the MACs it does there per second.

    ``parts``: model name → {part name: the model's modules making up that part, in forward order}. The last
    module of each part but the last ends it: its forward hook reads the clock. MACs per part are vtlab's count
    (the paper's convention), so the rates compare like with like.
    """
    stamps: list[float] = []

    def stamp(*_) -> None:
        setting.sync()
        stamps.append(time.perf_counter())

    hooks = [models[name].get_submodule(modules[-1]).register_forward_hook(stamp)
             for name in models for modules in list(parts[name].values())[:-1]]
    durations: dict[str, list[list[float]]] = {name: [] for name in models}

    def forward(name: str) -> None:
        stamps.clear()
        with torch.inference_mode(), setting.autocast:
            stamp()
            models[name](x)
            stamp()
        durations[name].append([t1 - t0 for t0, t1 in itertools.pairwise(stamps)])

    for name in models:  # warm-up
        forward(name), forward(name)
        durations[name].clear()
    for _ in range(setting.args.repeats):
        for name in models:
            forward(name)
    for hook in hooks:
        hook.remove()

    batch = x.shape[0]
    print(f"breakdown per batch of {batch}: time, MACs (vtlab's count) and multiply-adds per second of each part")
    for name, model in models.items():
        macs = macs_by_module(model, input_size)
        cells = []
        for i, (part, modules) in enumerate(parts[name].items()):
            seconds = statistics.median(d[i] for d in durations[name])
            part_macs = batch * sum(macs.get(m, 0) for m in modules)
            cells.append(f"{part} {1000 * seconds:6.1f} ms, {part_macs / 1e9:5.2f} GMAC, "
                         f"{part_macs / seconds / 1e9:5.1f} GMAC/s")
        print(f"  {name:16s} " + " | ".join(cells))
