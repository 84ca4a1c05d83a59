"""Throughput of VT-ResNet-18 against ResNet-18, in one process: inference and one training step.

    python benchmarks/bench_resnet18.py                  # CPU, batch 8, 224x224, 2 threads
    python benchmarks/bench_resnet18.py --device cuda --batch 256   # AMP (bf16) and channels_last

Prints images/s for each model and the VT / ResNet ratio; the MAC ratio of the two is 1.17x (1.14x in the
paper). Timings alternate between the models, so drifts in machine load hit both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch

import vtlab


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    fmt = torch.channels_last if cuda else torch.contiguous_format
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    x = torch.randn(args.batch, 3, args.size, args.size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (args.batch,), device=device)

    models, optimizers = {}, {}
    for name in ("resnet18", "vt_resnet18"):
        model = vtlab.create_model(name).to(device, memory_format=fmt)
        models[name] = torch.compile(model) if args.compile else model
        optimizers[name] = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def infer(name):
        with torch.inference_mode(), autocast:
            models[name].eval()(x)

    def step(name):
        models[name].train()
        with autocast:
            loss = torch.nn.functional.cross_entropy(models[name](x).float(), y)
        optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[name].step()

    print(f"device {device}{' ' + torch.cuda.get_device_name() if cuda else ''}, batch {args.batch}, "
          f"{args.size}x{args.size}, {args.threads} threads, torch {torch.__version__}")
    for label, fn in (("inference", infer), ("training step", step)):
        for name in models:  # warm-up (and compilation)
            for _ in range(2):
                fn(name)
        times = {name: [] for name in models}
        for _ in range(args.repeats):
            for name in models:
                times[name].append(timed(lambda name=name, fn=fn: fn(name), device))
        speed = {name: args.batch / statistics.median(t) for name, t in times.items()}
        print(f"{label:14s} resnet18 {speed['resnet18']:9.1f} images/s   vt_resnet18 {speed['vt_resnet18']:9.1f} "
              f"images/s   ratio VT/ResNet {speed['vt_resnet18'] / speed['resnet18']:.3f}")


if __name__ == "__main__":
    main()
