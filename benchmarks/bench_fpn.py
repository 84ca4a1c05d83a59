"""CPU (or GPU) time per image of FPN-R50 against VT-FPN-R50, whole model, in one process.

    python benchmarks/bench_fpn.py                        # CPU, 473x473 (LIP), batch 1, 2 threads
    python benchmarks/bench_fpn.py --size 800 1216        # COCO-stuff's resolution
    python benchmarks/bench_fpn.py --device cuda --batch 16   # bf16 autocast and channels_last

Prints milliseconds per image for each model and the FPN / VT-FPN ratio; the paper's total MAC ratio at
473x473 is 1.41x (vtlab's count: 1.39x). Timings alternate between the models, so drifts in machine load hit
both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch

import vtlab

MODELS = ("fpn_resnet50", "vt_fpn_resnet50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", type=int, nargs="+", default=[473], help="H [W] (default: 473)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--classes", type=int, default=20, help="LIP's 20 by default")
    args = parser.parse_args()
    if len(args.size) not in (1, 2):
        raise SystemExit(f"--size takes H or H W, got {args.size}")
    H, W = args.size if len(args.size) == 2 else args.size * 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    fmt = torch.channels_last if cuda else torch.contiguous_format
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    x = torch.randn(args.batch, 3, H, W, device=device).contiguous(memory_format=fmt)
    models = {name: vtlab.create_model(name, num_classes=args.classes).to(device, memory_format=fmt).eval()
              for name in MODELS}

    def infer(name: str) -> float:
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.inference_mode(), autocast:
            models[name](x)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started

    for name in MODELS:  # warm-up
        infer(name)
    times = {name: [] for name in MODELS}
    for _ in range(args.repeats):
        for name in MODELS:
            times[name].append(infer(name))
    ms = {name: 1000 * statistics.median(t) / args.batch for name, t in times.items()}
    print(f"device {device}{' ' + torch.cuda.get_device_name() if cuda else ''}, batch {args.batch}, {H}x{W}, "
          f"{args.threads} threads, torch {torch.__version__}")
    print(f"time per image: {MODELS[0]} {ms[MODELS[0]]:.1f} ms   {MODELS[1]} {ms[MODELS[1]]:.1f} ms   "
          f"speed-up FPN / VT-FPN {ms[MODELS[0]] / ms[MODELS[1]]:.3f}")


if __name__ == "__main__":
    main()
