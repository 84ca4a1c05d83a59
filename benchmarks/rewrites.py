"""Rewrites of the VT models that compute the same function, each timed against the plain model under the protocol.

    python benchmarks/rewrites.py                  # CPU, about 8 minutes on 2 cores
    python benchmarks/rewrites.py --device cuda    # the same on a GPU (bf16, channels-last; batch 256 for VT-R-18)
    python benchmarks/rewrites.py --quick --processes 1 --out /tmp/rewrites.json   # checks that it runs

Each rewrite is compared with the model as vtlab builds it: the same model, in fresh processes alternated
plain, rewritten, plain, ... (benchmarks/_protocol.py), and the ratio plain time / rewritten time (> 1: the
rewrite is faster) is the median over the pairs, with its range. The rewrites:

- ``fused-attention``: the projector's attention as one ``scaled_dot_product_attention`` call, pixels as queries
  and tokens as keys and values, so that the HW×L attention is never written out (vtlab's
  ``fused_attention=True``; tested against equation (4) in tests/test_equations.py).
- ``reassociated-projector``: the projector's logits (X̄ Q)(T K)ᵀ computed as X̄ (Q (T K)ᵀ), which skips the
  per-pixel query projection: VT-R-18's projector goes from 57.2 M to 19.9 M MACs per image. It lives only in
  benchmarks/ (benchmarks/reassociation.py), since it was not kept: see docs/scale.md, "Rewrites".

Results go to benchmarks/results/rewrites-<device>.json, written after every comparison.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from _protocol import RESULTS, Spec, compare, describe, machine, save


def settings(device: str, quick: bool = False) -> list[dict]:
    """Model, batch, size and modes of each comparison."""
    if quick:
        return [dict(model="vt_resnet18", batch=2, size=(64, 64), modes=("inference",), classes=None)]
    batch = 256 if device == "cuda" else 8
    return [dict(model="vt_resnet18", batch=batch, size=(224, 224), modes=("inference", "training"), classes=None),
            dict(model="vt_fpn_resnet50", batch=1, size=(473, 473), modes=("inference",), classes=20)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rewrites", nargs="+", default=["fused-attention", "reassociated-projector"])
    parser.add_argument("--quick", action="store_true", help="one tiny setting, to check that everything runs")
    parser.add_argument("--out", help="JSON file (default benchmarks/results/rewrites-<device>.json)")
    args = parser.parse_args()
    out = RESULTS / f"rewrites-{args.device}.json" if args.out is None else Path(args.out)
    info = machine(args.threads, args.device)
    print(describe(info))
    results = {"machine": {**info, "processes": args.processes, "repeats": args.repeats}, "comparisons": []}
    for setting in settings(args.device, args.quick):
        for mode in setting["modes"]:
            plain = Spec(setting["model"], mode=mode, batch=setting["batch"], size=setting["size"],
                         classes=setting["classes"], threads=args.threads, device=args.device, warmup=3,
                         repeats=args.repeats)
            for rewrite in args.rewrites:
                rewritten = replace(plain, variant=rewrite)
                comparison = compare(plain, rewritten, processes=args.processes, ratio_label="rewritten / plain speed")
                print(comparison.line(), flush=True)
                results["comparisons"].append({"rewrite": rewrite, "busy": comparison.busy, **comparison.summary()})
                save(out, results)


if __name__ == "__main__":
    main()
