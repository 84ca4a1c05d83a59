"""The GPU check: on one H100 or H200, within 8 minutes, run each notebook's FULL = True path for a bounded number of
steps, time VT-R-18 against ResNet-18 (a training step and inference, batch 256, 224x224) and VT-FPN-R50 against
FPN-R50 (inference, batch 16, 512x512) under the benchmark protocol in four settings, and trace VT-R-18's stage 5
with torch.profiler in the setting whose training step was slowest.

    python benchmarks/gpu_check.py                                # one GPU (pip install -e ".[all]" first)
    python benchmarks/gpu_check.py --parts train fpn_inference    # a rerun after a fix: no notebooks
    python benchmarks/gpu_check.py --device cpu --tiny --out DIR  # the dry run: every path, tiny sizes

Everything it writes goes under one folder (``--out``; on a GPU by default benchmarks/results/gpu-check-DATE/):
``speed-gpu.json`` (the device, torch and CUDA versions; each VT / baseline speed ratio as its median and range over
the alternated pairs, keyed ``train_SETTING_ratio``, ``inference_SETTING_ratio`` and ``fpn_inference_SETTING_ratio``;
what each notebook ran; the protocol's full summaries), ``notebooks/NN.json`` with the bounded runs' folders under
``runs/``, and ``profile-stage5.json`` (a Chrome trace) with ``profile-stage5.txt`` (its operators by self time).
A full run on a CUDA device also writes benchmarks/results/speed-gpu.json; a CPU or ``--tiny`` run never does.

The settings: eager; the VT model's ``fused_attention=True`` (the protocol's "fused-attention" variant);
``torch.compile`` of both models; both. On CUDA the protocol's workers use bf16 autocast and channels-last tensors.
"eager" and "fused" share their baseline, as "compile" and "both" do, so each round times three fresh processes
in turns (baseline, VT, fused VT) and each ratio is taken per adjacent pair with that shared baseline.

What keeps it within 8 minutes: the notebooks (benchmarks/_full_paths.py) run in their own process (a CUDA error
in one cannot spill into the next: the process stops after a failure and a new one runs the rest) while each
compiled spec runs once, untimed and concurrently, to fill inductor's on-disk caches, so that the timed fresh
processes compile from the cache; a time budget (``--budget``) ends a comparison's rounds early when the next
round would not fit (the training step is timed first, then VT-FPN, then VT-R-18's inference), and the JSON says
what was cut.

The dry run (``--device cpu --tiny``) measures nothing: one round of each comparison, timed by the protocol's worker
body in this process (18 fresh processes would cost it 18 starts of torch), with TORCH_COMPILE_DISABLE=1 (inductor
on 2 CPU cores takes minutes per model) and one spec warmed in a fresh process. It checks this script's paths,
not inductor's, and its ratios are no GPU's and no CPU's figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

# torch and vtlab are imported where used: the dry run sets TORCH_COMPILE_DISABLE before torch is imported
from _full_paths import NOTEBOOKS, notebooks_child, run_notebooks
from _protocol import RESULTS, Comparison, Spec, _time_spec, machine, run_worker, save

# setting -> (torch.compile both models, the VT model's variant)
SETTINGS = {"eager": (False, ""), "fused": (False, "fused-attention"), "compile": (True, ""),
            "compile_fused": (True, "fused-attention")}
PARTS = ("notebooks", "train", "fpn_inference", "inference")
PHASE = 0.4  # the share of the budget the notebooks and the compile caches' warm-up may take, side by side
Worker = Callable[[Spec, float], tuple[float, float | None]]  # spec, timeout -> median seconds, others' share


# ---- the protocol's timings ----

@dataclasses.dataclass(frozen=True)
class Family:
    """One comparison, made in the four settings: baseline and VT model, mode, batch, square side, classes."""

    key: str
    baseline: str
    vt: str
    mode: str
    batch: int
    size: int
    classes: int | None = None

    def groups(self, device: str, tiny: bool) -> list[list[Spec]]:
        """[baseline, VT, fused VT] eager, then the same compiled: the specs that one round times in turns."""
        common = dict(mode=self.mode, batch=self.batch, size=(self.size, self.size), classes=self.classes,
                      device=device, channels_last=True, **(dict(warmup=1, repeats=1, min_seconds=0.0) if tiny else
                                                             dict(warmup=3, repeats=10)))
        return [[Spec(self.baseline, compile=c, **common), Spec(self.vt, compile=c, **common),
                 Spec(self.vt, compile=c, variant="fused-attention", **common)] for c in (False, True)]


def families(args: argparse.Namespace) -> list[Family]:
    """VT-R-18's training step against ResNet-18's, VT-FPN-R50's inference against FPN-R50's (LIP's 20 classes) and
    VT-R-18's inference, those of them in ``args.parts``, in the order they are timed: the two with targets first,
    should the budget run out."""
    r18, fpn, tiny = ("resnet18", "vt_resnet18"), ("fpn_resnet50", "vt_fpn_resnet50"), args.tiny
    every = [Family("train", *r18, "training", 2 if tiny else 256, 64 if tiny else 224),
             Family("fpn_inference", *fpn, "inference", 1 if tiny else 16, 64 if tiny else 512, 20),
             Family("inference", *r18, "inference", 2 if tiny else 256, 64 if tiny else 224)]
    return [family for family in every if family.key in args.parts]


class Clock:
    """The time budget, and how long the fresh processes took so far (eager and compiled apart), from which the
    cost of the next round is estimated."""

    def __init__(self, budget: float):
        self.deadline = time.monotonic() + budget
        self.worker_seconds: dict[bool, list[float]] = {False: [], True: []}

    def left(self, reserve: float = 0.0) -> float:
        """Seconds left, less ``reserve`` (kept for what follows)."""
        return self.deadline - reserve - time.monotonic()

    def round_estimate(self, specs: list[Spec]) -> float:
        """Seconds one round of ``specs`` should take: the mean process of each kind so far (of either kind where
        none of its own ran yet; 0 before the first)."""
        either = self.worker_seconds[False] + self.worker_seconds[True] or [0.0]
        return sum(statistics.mean(self.worker_seconds[s.compile] or either) for s in specs)


def in_process(spec: Spec, timeout: float) -> tuple[float, float | None]:
    """The dry run's worker: the protocol's worker body (``_time_spec``) in this process. Its figures mean nothing;
    a fresh Python process per timing would cost the dry run 18 starts of torch."""
    try:
        seconds, others = _time_spec(spec)
    except Exception as error:  # as run_worker reports a failed worker
        raise RuntimeError(f"the worker for {spec} failed: {type(error).__name__}: {error}") from error
    return statistics.median(seconds), others


def time_group(specs: list[Spec], rounds: int, clock: Clock, reserve: float, worker: Worker = run_worker
               ) -> tuple[list[list[float]], list[list[float]], str]:
    """Up to ``rounds`` rounds of fresh processes, one per spec in turn (benchmarks/_protocol.py's workers): the
    seconds and other processes' CPU shares per spec, and why it stopped early ("" if it did not)."""
    seconds, shares = [[] for _ in specs], [[] for _ in specs]
    for i in range(rounds):
        if i and clock.round_estimate(specs) > clock.left(reserve):
            return seconds, shares, f"{i} of {rounds} rounds: the next would not fit the time budget"
        for spec, spec_seconds, spec_shares in zip(specs, seconds, shares, strict=True):
            started = time.monotonic()
            try:
                median, share = worker(spec, max(30.0, clock.left(reserve) + 30))
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                return seconds, shares, f"round {i + 1}, {spec.label} {spec.mode}: {str(error)[-3000:]}"
            clock.worker_seconds[spec.compile].append(time.monotonic() - started)
            spec_seconds.append(median)
            spec_shares.extend([] if share is None else [share])
    return seconds, shares, ""


def time_family(family: Family, args: argparse.Namespace, clock: Clock, rounds: int, reserve: float = 0.0
                ) -> tuple[dict[str, Comparison], dict[str, str]]:
    """The family's comparison in each setting that got at least one full round, and what was cut or failed;
    ``reserve``: seconds of the budget it leaves for what follows."""
    comparisons, notes = {}, {}
    for specs, names in zip(family.groups(args.device, args.tiny), (("eager", "fused"), ("compile", "compile_fused")),
                            strict=True):
        if clock.round_estimate(specs) > clock.left(reserve):
            notes[f"{family.key}_{names[0]}+{names[1]}"] = "not timed: no round would fit the time budget"
            continue
        seconds, shares, note = time_group(specs, rounds, clock, reserve,
                                           in_process if args.device == "cpu" else run_worker)
        if note:
            notes[f"{family.key}_{names[0]}+{names[1]}"] = note
        pairs = min(map(len, seconds))
        for name, vt in zip(names, (1, 2), strict=True) if pairs else ():
            comparisons[name] = Comparison(specs[0], specs[vt], baseline_seconds=seconds[0][:pairs],
                                           vt_seconds=seconds[vt][:pairs], others_shares=shares[0] + shares[vt])
    return comparisons, notes


def prewarm(specs: list[Spec], timeout: float, pool: ThreadPoolExecutor) -> Callable[[], dict[str, str]]:
    """Start one untimed run of each compiled spec, all at once, so that inductor's on-disk caches hold their
    kernels before the timed processes start; returns a call that waits for them and gives their errors. Meanwhile
    each process compiles with its share of the cores (TORCHINDUCTOR_COMPILE_THREADS, at least 2): with inductor's
    default of one compile process per core in each of them, nine at once would start nine per core."""
    previous = os.environ.get("TORCHINDUCTOR_COMPILE_THREADS")
    os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = str(max(2, (os.cpu_count() or 2) // len(specs)))
    futures = {f"{s.label} {s.mode}": pool.submit(run_worker, dataclasses.replace(s, warmup=0, repeats=1,
                                                                                  min_seconds=0.0), timeout)
               for s in specs}

    def wait() -> dict[str, str]:
        errors = {}
        for key, future in futures.items():
            try:
                future.result()
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                errors[key] = str(error)[-3000:]
        if previous is None:  # the timed processes compile (from the cache) with inductor's default
            os.environ.pop("TORCHINDUCTOR_COMPILE_THREADS")
        else:
            os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = previous
        return errors
    return wait


def profile_child(args: argparse.Namespace) -> int:
    """Trace forward and backward of VT-R-18's stage 5 (``model.vt``) on its real input in one setting."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    import vtlab
    compiled, variant = SETTINGS[args.profile]
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch, size = (2, 64) if args.tiny else (256, 224)
    layout = torch.channels_last
    model = vtlab.create_model("vt_resnet18", **({"fused_attention": True} if variant else {}))
    model = model.to(device, memory_format=layout).train()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    captured = []
    hook = model.vt.register_forward_pre_hook(lambda module, inputs: captured.append(inputs[0].detach()))
    with torch.no_grad(), autocast:
        model(torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=layout))
    hook.remove()
    X = captured[0].requires_grad_()  # what stage 4 hands stage 5 in a training step: (N, 256, H/16, W/16)
    stage = torch.compile(model.vt) if compiled else model.vt

    def step() -> None:
        with autocast:
            _, T = stage(X)  # the classifier reads the tokens T only
        T.float().mean().backward()

    for _ in range(1 if args.tiny else 5):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities, record_shapes=True) as trace:
        for i in range(1 if args.tiny else 3):
            with record_function(f"stage 5 forward and backward, step {i}"):
                step()
            if cuda:
                torch.cuda.synchronize()
    trace.export_chrome_trace(str(args.out / "profile-stage5.json"))
    table = trace.key_averages().table(sort_by="self_device_time_total" if cuda else "self_cpu_time_total",
                                       row_limit=60)
    (args.out / "profile-stage5.txt").write_text(f"VT-R-18 stage 5, setting {args.profile}, batch {batch}, "
                                                 f"{size}x{size} input\n{table}\n")
    return 0


def run_profile(args: argparse.Namespace, setting: str, timeout: float) -> dict:
    command = [sys.executable, __file__, "--device", args.device, "--out", str(args.out), "--profile", setting] + \
        (["--tiny"] if args.tiny else [])
    report = {"setting": setting, "trace": "profile-stage5.json", "table": "profile-stage5.txt"}
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**report, "error": f"timed out after {timeout:.0f} s"}
    return report if child.returncode == 0 else {**report, "error": child.stderr[-3000:]}


# ---- the whole check ----

def ratio(comparison: Comparison) -> dict:
    ratios = comparison.ratios
    return {"median": comparison.speed_ratio, "min": min(ratios), "max": max(ratios), "pairs": len(ratios),
            "busy": comparison.busy}


def time_and_profile(family: Family, args: argparse.Namespace, clock: Clock) -> dict:
    """One family's ratios and summaries, and after the training step's the stage-5 profile of its slowest
    setting (the slowest VT-R-18 step; eager if none was timed)."""
    began, train = time.monotonic(), family.key == "train"
    found, cut = time_family(family, args, clock, args.processes, args.profile_reserve if train else 0.0)
    result = {"ratios": {f"{family.key}_{setting}_ratio": ratio(c) for setting, c in found.items()},
              "comparisons": {f"{family.key}_{setting}": c.summary() for setting, c in found.items()}, "cut": cut,
              "phase_seconds": {family.key: round(time.monotonic() - began, 1)}}
    if train:
        began = time.monotonic()
        slowest = max(found, key=lambda s: statistics.median(found[s].vt_seconds), default="eager")
        result["profile"] = run_profile(args, slowest, timeout=max(30.0, clock.left()))
        result["phase_seconds"]["profile"] = round(time.monotonic() - began, 1)
    return result


def measure(args: argparse.Namespace) -> dict:
    """The notebooks (while the compiled specs warm inductor's caches), then each family's comparisons: the results
    for speed-gpu.json. The dry run warms one spec only (compile is disabled there: nothing to warm)."""
    started, clock = time.monotonic(), Clock(args.budget)
    compiled = [spec for family in families(args) for spec in family.groups(args.device, args.tiny)[1]]
    with ThreadPoolExecutor(max_workers=max(1, len(compiled))) as pool:
        wait = prewarm(compiled[:1] if args.device == "cpu" else compiled, PHASE * args.budget, pool)
        notebooks = run_notebooks(args, PHASE * args.budget) if "notebooks" in args.parts else {}
        prewarm_errors = wait()
    results = {"ratios": {}, "comparisons": {}, "cut": {}, "profile": None,
               "phase_seconds": {"notebooks and cache warm-up": round(time.monotonic() - started, 1)}}
    for part in (time_and_profile(family, args, clock) for family in families(args)):
        for key in ("ratios", "comparisons", "cut", "phase_seconds"):
            results[key].update(part[key])
        results["profile"] = part.get("profile", results["profile"])
    return {**results, "notebooks": notebooks, "prewarm_errors": prewarm_errors}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="tiny batches and images, one round: the dry run")
    parser.add_argument("--out", type=Path, help="the folder for everything written (default: see above)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="what to run (default: all; a rerun after a fix may skip the notebooks)")
    parser.add_argument("--budget", type=float, default=420.0,
                        help="seconds for the whole check (default 420: a worker may overrun it a little)")
    parser.add_argument("--processes", type=int, default=2,
                        help="fresh processes per model and comparison, at most (default 2)")
    parser.add_argument("--profile-reserve", type=float, default=60.0,
                        help="seconds the training step's rounds leave for the stage-5 profile (default 60)")
    parser.add_argument("--notebooks", nargs="+", choices=NOTEBOOKS, help=argparse.SUPPRESS)  # the child's
    parser.add_argument("--profile", choices=list(SETTINGS), help=argparse.SUPPRESS)  # the child's
    args = parser.parse_args(argv)
    if args.device == "cpu" and not args.tiny:
        parser.error("--device cpu runs only the dry run: add --tiny")
    if args.processes < 1 or args.budget <= 0:
        parser.error(f"expected --processes >= 1 and --budget > 0, got {args.processes} and {args.budget}")
    if args.tiny:
        args.processes = 1
        args.profile_reserve = 0.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.device == "cpu":
        os.environ["TORCH_COMPILE_DISABLE"] = "1"  # the dry run: inductor on 2 CPU cores takes minutes per model
    if args.notebooks or args.profile:
        return notebooks_child(args) if args.notebooks else profile_child(args)
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device; the dry run is --device cpu --tiny --out DIR")
    full = args.device == "cuda" and not args.tiny
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    args.out = args.out or (RESULTS / f"gpu-check-{stamp}" if full else Path(tempfile.mkdtemp(prefix="gpu-check-")))
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in (args.out / "notebooks").glob("*.json"):  # a report left by an earlier check in this folder
        stale.unlink()
    started = time.monotonic()
    measured = measure(args)
    info = machine(2, args.device)
    results = {"device": info.get("gpu", info["cpu"]), "torch": torch.__version__, "cuda": torch.version.cuda,
               "date": datetime.datetime.now().isoformat(timespec="seconds"), "tiny": args.tiny,
               "autocast": "bf16" if args.device == "cuda" else "none (float32 on the CPU)", "channels_last": True,
               "compile_disabled": os.environ.get("TORCH_COMPILE_DISABLE") == "1", "machine": info,
               "parts": args.parts, "processes": args.processes, "budget_seconds": args.budget,
               **measured.pop("ratios"), **measured,
               "wall_seconds": round(time.monotonic() - started, 1)}
    save(args.out / "speed-gpu.json", results)
    if full:
        save(RESULTS / "speed-gpu.json", results)
    failed = [stem for stem, report in results["notebooks"].items() if not report["ok"]]
    print(f"wrote {args.out / 'speed-gpu.json'}{' and ' + str(RESULTS / 'speed-gpu.json') if full else ''}; "
          f"notebooks failed: {failed or 'none'}; cut or failed timings: {sorted(results['cut']) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
