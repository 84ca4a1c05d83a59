"""The benchmark protocol: every measurement in a fresh process, the two models alternated, a ratio with its spread.

One process that times two models in turns is not enough: the allocator's history, the order the models ran
in and what the process did first move a model's time by 5-15 % (issue 15), and that offset stays for the
whole process, so repeats inside it do not average it out. So each timing here is one fresh Python process that
builds one model, warms it up and reports the median of its repeats (at least 0.5 s of them); the processes
alternate A B A B ... so that drifts in machine load hit both alike; and the ratio is computed per adjacent pair
(A_i, B_i), so its spread over the pairs is the run-to-run spread a reader should expect. Each worker also reports
how much CPU time other processes took while it was timed, and a comparison in which that exceeded 5 % is flagged
"busy".

    python benchmarks/_protocol.py '{"model": "resnet18", "mode": "inference", "batch": 8, "size": [224, 224]}'

runs one worker and prints its JSON; :func:`compare` is what the scripts call.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

WORKER = Path(__file__).resolve()
RESULTS = WORKER.parent / "results"
MODES = ("inference", "training")
# "": the model as vtlab builds it; "fused-attention": its projectors as one scaled_dot_product_attention call
# (vtlab's switch); "reassociated-projector": (X̄Q)(TK)ᵀ computed as X̄(Q(TK)ᵀ) (benchmarks/reassociation.py, not kept)
VARIANTS = ("", "fused-attention", "reassociated-projector")
BUSY = 0.05  # other processes' share of the CPU time while a worker is timed, above which a timing is suspect


@dataclass(frozen=True)
class Spec:
    """What one worker process times. ``size`` is (H, W); ``seconds`` per call of one batch."""

    model: str
    mode: str = "inference"
    batch: int = 8
    size: tuple[int, int] = (224, 224)
    classes: int | None = None
    threads: int = 2
    device: str = "cpu"
    channels_last: bool = False
    compile: bool = False
    freeze: bool = False
    variant: str = ""  # a rewrite of the model that computes the same function: see VARIANTS
    warmup: int = 2
    repeats: int = 5
    min_seconds: float = 0.5  # keep timing past ``repeats`` calls until this long: short calls get more samples

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {self.mode!r}")
        if self.batch < 1 or self.repeats < 1 or self.warmup < 0 or self.threads < 1:
            raise ValueError(f"batch, repeats and threads must be positive and warmup non-negative, got {self}")
        if self.freeze and (not self.compile or self.mode != "inference"):
            raise ValueError("freeze applies to compiled models in inference only")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant: expected one of {sorted(VARIANTS)}, got {self.variant!r}")

    @property
    def label(self) -> str:
        return self.model + (f"[{self.variant}]" if self.variant else "")


@dataclass
class Comparison:
    """Alternated fresh-process timings of a baseline and a VT model; ``speed_ratio`` = baseline time / VT time
    per adjacent pair (> 1: VT is faster)."""

    baseline: Spec
    vt: Spec
    ratio_label: str = "VT speed / baseline"
    baseline_seconds: list[float] = field(default_factory=list)
    vt_seconds: list[float] = field(default_factory=list)
    others_shares: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [b / v for b, v in zip(self.baseline_seconds, self.vt_seconds, strict=True)]

    @property
    def speed_ratio(self) -> float:
        return statistics.median(self.ratios)

    def summary(self) -> dict:
        return {"baseline": asdict(self.baseline), "vt": asdict(self.vt),
                "baseline_seconds": self.baseline_seconds, "vt_seconds": self.vt_seconds,
                "ratio_median": self.speed_ratio, "ratio_min": min(self.ratios), "ratio_max": max(self.ratios),
                "others_share_max": self.others_share}

    @property
    def others_share(self) -> float | None:
        """The largest share of the machine's CPU time that other processes used while one of ours was timed."""
        return max(self.others_shares) if self.others_shares else None

    @property
    def busy(self) -> bool:
        return self.others_share is not None and self.others_share > BUSY

    def line(self) -> str:
        b, v = self.baseline, self.vt
        per_image = {spec.label: 1000 * statistics.median(s) / spec.batch for s, spec in
                     ((self.baseline_seconds, b), (self.vt_seconds, v))}
        cells = "   ".join(f"{name} {ms:8.2f} ms/image (spread {_spread(s):4.1f} %)" for (name, ms), s in
                           zip(per_image.items(), (self.baseline_seconds, self.vt_seconds), strict=True))
        warning = (f"   WARNING: the machine was busy (other processes used {self.others_share:.0%} of its CPU time)"
                   if self.busy else "")
        return (f"{b.mode:9s} batch {b.batch:3d} {b.size[0]}x{b.size[1]}   {cells}   {self.ratio_label} "
                f"{self.speed_ratio:.3f} (median of {len(self.ratios)} pairs, range {min(self.ratios):.3f}-"
                f"{max(self.ratios):.3f}){warning}")


def _spread(seconds: list[float]) -> float:
    """(max - min) / median, in per cent: how far apart the fresh processes came out."""
    return 100 * (max(seconds) - min(seconds)) / statistics.median(seconds)


def run_worker(spec: Spec, timeout: float = 3600) -> tuple[float, float]:
    """Median seconds per call of ``spec``, timed in a fresh Python process, and the share of its threads' time
    other processes used meanwhile (see :func:`_time_spec`)."""
    result = subprocess.run([sys.executable, str(WORKER), json.dumps(asdict(spec))], capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"the worker for {spec} failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["median"], report["others_share"]


def compare(baseline: Spec, vt: Spec, processes: int = 5, progress: bool = True,
            ratio_label: str = "VT speed / baseline") -> Comparison:
    """Time ``baseline`` and ``vt`` in ``processes`` fresh processes each, alternated B V B V ..."""
    if processes < 1:
        raise ValueError(f"processes: expected at least 1, got {processes}")
    comparison = Comparison(baseline, vt, ratio_label=ratio_label)
    for i in range(processes):
        for spec, seconds in ((baseline, comparison.baseline_seconds), (vt, comparison.vt_seconds)):
            median, others_share = run_worker(spec)
            seconds.append(median)
            if others_share is not None:
                comparison.others_shares.append(others_share)
        if progress:
            print(f"  pair {i + 1}/{processes}: {baseline.label} {comparison.baseline_seconds[-1]:.4f} s, "
                  f"{vt.label} {comparison.vt_seconds[-1]:.4f} s", file=sys.stderr, flush=True)
    return comparison


def save(path: Path, results: dict) -> None:
    """Write ``results`` as JSON atomically (a temporary file, then a rename): an interrupted run never leaves a
    half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(temporary, path)


def machine(threads: int, device: str = "cpu") -> dict:
    """What a timing depends on: the CPU and the instruction set torch uses on it, threads, torch, allocator."""
    import torch

    info = {"cpu": _cpu_model(), "isa": torch.backends.cpu.get_cpu_capability(), "threads": threads,
            "logical_cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "allocator": _allocator(), "isa_caps": {k: os.environ[k] for k in
                                                    ("ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA",
                                                     "MKL_ENABLE_INSTRUCTIONS") if k in os.environ}}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def describe(info: dict) -> str:
    caps = f" (capped: {', '.join(f'{k}={v}' for k, v in info['isa_caps'].items())})" if info["isa_caps"] else ""
    gpu = f", GPU {info['gpu']}" if "gpu" in info else ""
    return (f"{info['cpu']}, torch's CPU kernels {info['isa']}{caps}, {info['threads']} of {info['logical_cpus']} "
            f"threads, torch {info['torch']}, allocator {info['allocator']}{gpu}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _allocator() -> str:
    """The malloc in use: a preloaded jemalloc or tcmalloc shows in the process's memory map, else glibc's."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "unknown (no /proc/self/maps)"
    for name in ("jemalloc", "tcmalloc", "mimalloc"):
        if f"lib{name}" in maps:
            return name
    return "glibc malloc" if platform.system() == "Linux" else "system malloc"


def _busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot (Linux's /proc/stat, in clock ticks), or None."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _time_spec(spec: Spec) -> tuple[list[float], float | None]:
    """In the worker: build the model, warm up, and return the seconds of each repeat and how busy the rest of
    the machine was meanwhile: the CPU time other processes used, as a share of all the machine's CPU time (0 on a
    quiet machine; None where /proc/stat cannot tell)."""
    from contextlib import nullcontext

    import torch
    import torch.nn.functional as F

    import vtlab
    from vtlab.models.registry import model_task

    torch.set_num_threads(spec.threads)
    torch.manual_seed(0)
    if spec.freeze:
        import torch._inductor.config as inductor_config
        inductor_config.freezing = True
    device = torch.device(spec.device)
    cuda = device.type == "cuda"
    layout = torch.channels_last if cuda or spec.channels_last else torch.contiguous_format
    options = {} if spec.classes is None else {"num_classes": spec.classes}
    if spec.variant == "fused-attention":
        options["fused_attention"] = True
    model = vtlab.create_model(spec.model, **options)
    if spec.variant == "reassociated-projector":
        from reassociation import reassociate_projectors
        reassociate_projectors(model)
    model = model.to(device, memory_format=layout)
    model = torch.compile(model) if spec.compile else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    x = torch.randn(spec.batch, 3, *spec.size, device=device).contiguous(memory_format=layout)
    classes = spec.classes or 1000
    segment = model_task(spec.model) == "segment"
    y = torch.randint(0, classes, (spec.batch, *spec.size) if segment else (spec.batch,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def call() -> None:
        if spec.mode == "inference":
            with torch.inference_mode(), autocast:
                model.eval()(x)
            return
        model.train()
        with autocast:
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def timed() -> float:
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        call()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started

    for _ in range(spec.warmup):
        call()
    busy, own, wall = _busy_seconds(), time.process_time(), time.perf_counter()
    seconds = [timed()]
    while len(seconds) < spec.repeats or time.perf_counter() - wall < spec.min_seconds:
        seconds.append(timed())
    if busy is None:
        return seconds, None
    # /proc/stat counts in clock ticks (10 ms): two ticks of slack, so that a system thread waking up once in a
    # short window does not count as a busy machine
    others = (_busy_seconds() - busy) - (time.process_time() - own) - 2 / os.sysconf("SC_CLK_TCK")
    return seconds, max(0.0, others) / ((time.perf_counter() - wall) * os.cpu_count())


def main() -> None:
    fields = json.loads(sys.argv[1])
    spec = Spec(**{**fields, "size": tuple(fields.get("size", (224, 224)))})
    seconds, others = _time_spec(spec)
    print(json.dumps({"spec": asdict(spec), "seconds": seconds, "median": statistics.median(seconds),
                      "others_share": others,
                      "machine": machine(spec.threads, spec.device)}))


if __name__ == "__main__":
    main()


__all__ = ["MODES", "RESULTS", "VARIANTS", "Comparison", "Spec", "compare", "describe", "machine", "run_worker",
           "save"]
