"""Time per image of FPN-R50 against VT-FPN-R50, whole model: inference, and with ``--training`` a training step.

    python benchmarks/bench_fpn.py                        # CPU, 473x473 (LIP), batch 1, 2 threads, eager
    python benchmarks/bench_fpn.py --in-process --breakdown   # quick, and where the time goes: backbone, neck, head
    python benchmarks/bench_fpn.py --compile --freeze --channels-last   # CPU deployment setting
    python benchmarks/bench_fpn.py --size 800 1216        # COCO-stuff's resolution
    python benchmarks/bench_fpn.py --device cuda --batch 16 --training   # bf16 autocast and channels_last

By default each model is timed in 5 fresh processes, alternated (benchmarks/_protocol.py), and the speed
ratio FPN time / VT-FPN time is the median over the 5 pairs, with its range. The paper's total MAC ratio at
473x473 is 1.41x (vtlab's count: 1.39x). ``--in-process`` times both in this process instead, in turns.
"""

from __future__ import annotations

import argparse

import torch
from _speed import Setting, add_options, breakdown, check_options, create, run_protocol

MODELS = ("fpn_resnet50", "vt_fpn_resnet50")
PARTS = {"fpn_resnet50": {"backbone": ["backbone"], "lateral 1x1": ["fpn.fpn.inner_blocks.*"],
                         "output 3x3": ["fpn.fpn.layer_blocks.*"], "head": ["head"]},
         "vt_fpn_resnet50": {"backbone": ["backbone"], "lateral 1x1": ["fpn.lateral.*"],
                             "tokenizers": ["fpn.tokenizers.*"], "transformers": ["fpn.transformer"],
                             "projectors": ["fpn.projectors.*"], "head": ["head"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, nargs="+", default=[473], help="H [W] (default: 473)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--classes", type=int, default=20, help="LIP's 20 by default")
    parser.add_argument("--training", action="store_true", help="also time a training step (fresh processes only)")
    add_options(parser, repeats=5)
    args = parser.parse_args()
    check_options(args)
    if len(args.size) not in (1, 2):
        raise SystemExit(f"--size takes H or H W, got {args.size}")
    H, W = args.size if len(args.size) == 2 else args.size * 2
    if args.training and (args.freeze or args.in_process):
        raise SystemExit("--training is timed in fresh processes, unfrozen: drop --freeze and --in-process")
    if not args.in_process:
        run_protocol(args, MODELS, ("inference", "training") if args.training else ("inference",), (H, W),
                     classes=args.classes, warmup=2)
    if not (args.in_process or args.breakdown):
        return
    setting = Setting(args)
    x = setting.input(args.batch, 3, H, W)
    models = {name: setting.prepare(create(args, name, num_classes=args.classes).eval()) for name in MODELS}

    def infer(name: str) -> None:
        with torch.inference_mode(), setting.autocast:
            models[name](x)

    print(f"in one process: {setting.describe()}, batch {args.batch}, {H}x{W}")
    if args.in_process:
        seconds = setting.alternate({name: lambda name=name: infer(name) for name in MODELS}, warmup=1)
        ms = {name: 1000 * s / args.batch for name, s in seconds.items()}
        print(f"time per image: {MODELS[0]} {ms[MODELS[0]]:.1f} ms   {MODELS[1]} {ms[MODELS[1]]:.1f} ms   "
              f"speed-up FPN / VT-FPN {ms[MODELS[0]] / ms[MODELS[1]]:.3f}")
    if args.breakdown:
        breakdown(setting, models, PARTS, x, (H, W))


if __name__ == "__main__":
    main()
