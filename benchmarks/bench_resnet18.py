"""Speed of VT-ResNet-18 against ResNet-18: inference and one training step (SGD with momentum).

    python benchmarks/bench_resnet18.py                  # CPU, batch 8, 224x224, 2 threads, eager
    python benchmarks/bench_resnet18.py --in-process --breakdown   # quick, and where the time goes
    python benchmarks/bench_resnet18.py --compile --freeze --channels-last   # CPU deployment setting
    python benchmarks/bench_resnet18.py --device cuda --batch 256   # AMP (bf16) and channels_last

By default each model is timed in 5 fresh processes, alternated (benchmarks/_protocol.py), and the VT / ResNet
speed ratio is given as the median over the 5 pairs with its range; about 3 minutes on 2 cores. The MAC ratio
of the two models is 1.17x (1.14x in the paper). ``--in-process`` times both in this process instead, in turns:
quicker, but a process's history can offset one model by 5-15 %.
"""

from __future__ import annotations

import argparse

import torch
from _speed import Setting, add_options, breakdown, check_options, create, run_protocol

MODELS = ("resnet18", "vt_resnet18")
SHARED = ["conv1", "layer1", "layer2", "layer3"]  # stages 1-4, the same modules in both models
PARTS = {"resnet18": {"stages 1-4": SHARED, "stage 5": ["layer4"], "head": ["fc"]},
         "vt_resnet18": {"stages 1-4": SHARED, "adapter": ["vt.adapter"], "tokenizers": ["vt.blocks.*.tokenizer"],
                         "transformers": ["vt.blocks.*.transformer"], "projectors": ["vt.blocks.*.projector"],
                         "head": ["fc"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    add_options(parser, repeats=10)
    args = parser.parse_args()
    check_options(args)
    if not args.in_process:
        modes = ("inference",) if args.freeze else ("inference", "training")  # frozen: inference only
        run_protocol(args, MODELS, modes, (args.size, args.size), classes=None)
    if not (args.in_process or args.breakdown):
        return
    setting = Setting(args)
    x = setting.input(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 1000, (args.batch,), device=setting.device)

    models, optimizers = {}, {}
    for name in MODELS:
        models[name] = setting.prepare(create(args, name))
        optimizers[name] = torch.optim.SGD(models[name].parameters(), lr=1e-3, momentum=0.9)

    def infer(name):
        with torch.inference_mode(), setting.autocast:
            models[name].eval()(x)

    def step(name):
        models[name].train()
        with setting.autocast:
            loss = torch.nn.functional.cross_entropy(models[name](x).float(), y)
        optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[name].step()

    runs = [("inference", infer)] + ([] if args.freeze else [("training step", step)])  # frozen: inference only
    print(f"in one process: {setting.describe()}, batch {args.batch}, {args.size}x{args.size}")
    for label, fn in runs if args.in_process else []:
        seconds = setting.alternate({name: lambda name=name, fn=fn: fn(name) for name in models})
        speed = {name: args.batch / s for name, s in seconds.items()}
        print(f"{label:14s} resnet18 {speed['resnet18']:9.1f} images/s   vt_resnet18 {speed['vt_resnet18']:9.1f} "
              f"images/s   ratio VT/ResNet {speed['vt_resnet18'] / speed['resnet18']:.3f}")
    if args.breakdown:
        breakdown(setting, {name: m.eval() for name, m in models.items()}, PARTS, x, args.size)


if __name__ == "__main__":
    main()
