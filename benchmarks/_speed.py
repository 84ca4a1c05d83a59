"""What the two benchmarks share: the run options, the protocol run (fresh processes, :mod:`_protocol`), the
older in-process alternation (``--in-process``: quick, but offset by the process's history), and a per-part
breakdown that says where a model's time goes and at what rate it does its multiply-adds.

The breakdown times the parts of one ordinary forward pass: a forward pre-hook and a forward hook on each of a
part's modules read the clock, so the parts run in context (the same caches, the same inputs); what no part covers
is reported as "other", so the parts add up to the whole.
"""

from __future__ import annotations

import argparse
import fnmatch
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch._inductor.config as inductor_config
from _protocol import Spec, compare, describe, machine
from torch import nn

import vtlab
from vtlab.cost import macs_by_module


def add_options(parser: argparse.ArgumentParser, repeats: int) -> None:
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=repeats, help="timed calls per process (their median counts)")
    parser.add_argument("--processes", type=int, default=5,
                        help="fresh processes per model, alternated baseline, VT, baseline, ... (default 5)")
    parser.add_argument("--in-process", action="store_true",
                        help="time both models in this one process instead (quicker, less trustworthy)")
    parser.add_argument("--fused-attention", action="store_true",
                        help="the VT model's projector as one scaled_dot_product_attention call")
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
    if args.processes < 1 or args.repeats < 1:
        raise SystemExit(f"--processes and --repeats must be at least 1, got {args.processes} and {args.repeats}")


def create(args: argparse.Namespace, name: str, **options) -> nn.Module:
    """``vtlab.create_model(name, **options)``, with the VT model's fused attention when ``--fused-attention``."""
    if args.fused_attention and name.startswith("vt_"):
        options["fused_attention"] = True
    return vtlab.create_model(name, **options)


def run_protocol(args: argparse.Namespace, models: tuple[str, str], modes: tuple[str, ...],
                 size: tuple[int, int], classes: int | None, warmup: int = 3) -> None:
    """Time baseline and VT model under the protocol (fresh processes, alternated) and print each mode's ratio."""
    print(describe(machine(args.threads, args.device)))
    common = dict(batch=args.batch, size=size, classes=classes, threads=args.threads, device=args.device,
                  channels_last=args.channels_last, compile=args.compile, freeze=args.freeze, warmup=warmup,
                  repeats=args.repeats)
    print(f"{args.processes} fresh processes per model, alternated; in each, {warmup} warm-up calls and the median of "
          f"{args.repeats} calls (more when they take under 0.5 s)"
          f"{', fused attention' if args.fused_attention else ''}")
    for mode in modes:
        comparison = compare(Spec(models[0], mode=mode, **common),
                             Spec(models[1], mode=mode, variant="fused-attention" if args.fused_attention else "",
                                  **common),
                             processes=args.processes)
        print(comparison.line(), flush=True)


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


def part_modules(model: nn.Module, patterns: list[str]) -> list[str]:
    """The modules of ``model`` whose names match any shell-style pattern, outermost only (a match's own
    sub-modules are left out, so no time or MAC is counted twice)."""
    names = [name for name, _ in model.named_modules() if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
    outermost = [n for n in names if not any(n.startswith(other + ".") for other in names)]
    if not outermost:
        raise ValueError(f"no module of {type(model).__name__} matches {patterns}")
    return outermost


def breakdown(setting: Setting, models: dict[str, nn.Module], parts: dict[str, dict[str, list[str]]],
              x: torch.Tensor, input_size: int | tuple[int, int]) -> dict[str, dict[str, dict[str, float]]]:
    """Time each part of one ordinary forward pass, print its MACs per second, and return
    {model: {part: {"seconds": median per batch, "macs": per batch}}}, with an "other" part for what no part
    covers (norms, activations, pooling, reshapes: time, but no MACs in vtlab's count).

    ``parts``: model name → {part name: module-name patterns}. A forward pre-hook and a forward hook on each of a
    part's modules read the clock, so the parts run in context (the same caches, the same inputs) and need not be
    contiguous (e.g. the tokenizers of all blocks). MACs per part are vtlab's count (the paper's convention), so
    the rates compare like with like.
    """
    started: dict[str, float] = {}
    spent: dict[str, float] = {}

    def hooks_for(part: str, module_name: str):
        def before(*_) -> None:
            setting.sync()
            started[module_name] = time.perf_counter()

        def after(*_) -> None:
            setting.sync()
            spent[part] = spent.get(part, 0.0) + time.perf_counter() - started.pop(module_name)
        return before, after

    handles, modules_of = [], {}
    for name, model in models.items():
        for part, patterns in parts[name].items():
            modules_of[name, part] = part_modules(model, patterns)
            for module_name in modules_of[name, part]:
                before, after = hooks_for(part, module_name)
                module = model.get_submodule(module_name)
                handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in models}

    def forward(name: str) -> None:
        spent.clear()
        with torch.inference_mode(), setting.autocast:
            total = setting.timed(lambda: models[name](x))
        samples[name].append({**spent, "other": total - sum(spent.values()), "total": total})

    for name in models:  # warm-up
        forward(name), forward(name)
        samples[name].clear()
    for _ in range(setting.args.repeats):
        for name in models:
            forward(name)
    for handle in handles:
        handle.remove()

    batch, result = x.shape[0], {}
    print(f"breakdown per batch of {batch}: time, MACs (vtlab's count) and multiply-adds per second of each part")
    for name, model in models.items():
        macs = macs_by_module(model, input_size)
        part_macs = {part: batch * sum(macs.get(m, 0) for m in modules_of[name, part]) for part in parts[name]}
        part_macs["other"] = batch * macs[""] - sum(part_macs.values())
        part_macs["total"] = batch * macs[""]
        result[name] = {part: {"seconds": statistics.median(s[part] for s in samples[name]), "macs": m}
                        for part, m in part_macs.items()}
        cells = [f"{part} {1000 * r['seconds']:6.1f} ms, {r['macs'] / 1e9:5.2f} GMAC"
                 + (f", {r['macs'] / r['seconds'] / 1e9:5.1f} GMAC/s" if r["macs"] else "")
                 for part, r in result[name].items()]
        print(f"  {name:16s} " + " | ".join(cells))
    return result
