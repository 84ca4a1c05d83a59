"""Speed curves: how VT's speed against its baseline changes with batch size and image size, inference and training.

    python benchmarks/speed_curves.py                    # the CPU grid below, about 40 minutes on 2 cores
    python benchmarks/speed_curves.py --device cuda      # the same grid on a GPU (bf16, channels-last)
    python benchmarks/speed_curves.py --quick --out /tmp/speed.json   # VT-R-18 at 64x64 only: checks that it runs

Every point is timed under the protocol of benchmarks/_protocol.py (each model in fresh processes, alternated,
the ratio's median and range over the pairs). The grid:

- VT-ResNet-18 against ResNet-18 at batch 1, 8, 32 and 64 (224x224; on a GPU also 256), and at 320x320 and
  448x448 (batch 8);
- VT-FPN-R50 against FPN-R50 at 473x473 (LIP) and 800x1216 (COCO-stuff), batch 1;
- each in inference and one training step (SGD with momentum, cross-entropy);
- and a per-part breakdown of one forward pass of each model (time, MACs, and time per MAC of each part).

Results go to a JSON file (default benchmarks/results/speed-<device>.json), written after every point: an
interrupted run keeps what it measured, and a rerun skips the points already there (``--fresh`` starts over),
except those measured while other processes used more than 5 % of the CPU (flagged "busy"), which it measures
again.
docs/scale.md draws its figures from that file (:mod:`vtlab.viz.speed`).
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict
from pathlib import Path

from _protocol import RESULTS, Spec, compare, describe, machine, save
from _speed import Setting, breakdown
from bench_fpn import PARTS as FPN_PARTS
from bench_resnet18 import PARTS as RESNET_PARTS
from torch import nn

import vtlab
from vtlab.cost import count_macs

PAIRS = {"resnet18": ("resnet18", "vt_resnet18"), "fpn": ("fpn_resnet50", "vt_fpn_resnet50")}
CLASSES = {"resnet18": None, "fpn": 20}  # ImageNet's 1000 (the default); LIP's 20


def grid(quick: bool, device: str = "cpu") -> list[dict]:
    """The points: pair, batch, size (H, W), warm-up calls. On a GPU also batch 256, the paper's setting."""
    if quick:
        return [dict(pair="resnet18", batch=2, size=(64, 64), warmup=1)]
    # measured: a fresh process's first two calls run up to 2x slower (allocation, oneDNN's kernel choice), the
    # third is at the steady rate
    batches = (1, 8, 32, 64, 256) if device == "cuda" else (1, 8, 32, 64)
    return ([dict(pair="resnet18", batch=b, size=(224, 224), warmup=3) for b in batches]
            + [dict(pair="resnet18", batch=8, size=(s, s), warmup=3) for s in (320, 448)]
            + [dict(pair="fpn", batch=1, size=size, warmup=2) for size in ((473, 473), (800, 1216))])


def breakdown_point(pair: str, quick: bool) -> dict:
    """Where the per-part breakdown is taken: VT-R-18 at batch 8, 224x224; VT-FPN at one 473x473 image."""
    if quick:
        return dict(batch=2, size=(64, 64))
    return dict(batch=8, size=(224, 224)) if pair == "resnet18" else dict(batch=1, size=(473, 473))


def specs(point: dict, mode: str, args: argparse.Namespace) -> tuple[Spec, Spec]:
    common = dict(mode=mode, batch=point["batch"], size=tuple(point["size"]), classes=CLASSES[point["pair"]],
                  threads=args.threads, device=args.device, warmup=point["warmup"], repeats=args.repeats)
    baseline, vt = PAIRS[point["pair"]]
    return Spec(baseline, **common), Spec(vt, **common)


def key(baseline: Spec | dict, vt: Spec | dict) -> str:
    """A point's identity in the results file: both specs, as JSON."""
    return json.dumps([asdict(s) if isinstance(s, Spec) else s for s in (baseline, vt)], sort_keys=True)


def build(name: str, pair: str) -> nn.Module:
    """Model ``name`` of ``pair`` with the pair's number of classes."""
    classes = CLASSES[pair]
    return vtlab.create_model(name, **({} if classes is None else {"num_classes": classes}))


def mac_ratio(point: dict) -> float:
    baseline, vt = (build(name, point["pair"]) for name in PAIRS[point["pair"]])
    size = tuple(point["size"])
    return count_macs(baseline, size) / count_macs(vt, size)


def load(path: Path, info: dict, fresh: bool) -> dict:
    """The results so far, if they were measured on the same machine and settings; else an empty record."""
    empty = {"machine": info, "points": [], "breakdowns": []}
    if fresh or not path.exists():
        return empty
    results = json.loads(path.read_text())
    if results.get("machine") != info:
        raise SystemExit(f"{path} was measured on another machine or with other settings:\n  {results.get('machine')}"
                         f"\nnot\n  {info}\nuse --fresh to start over, or --out for another file")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--processes", type=int, default=5, help="fresh processes per model and point (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per process (default 3)")
    parser.add_argument("--quick", action="store_true", help="a tiny grid, to check that everything runs")
    parser.add_argument("--out", type=Path, help="JSON file (default benchmarks/results/speed-<device>.json)")
    parser.add_argument("--fresh", action="store_true", help="discard the points already in --out")
    args = parser.parse_args()
    if args.processes < 1 or args.repeats < 1:
        raise SystemExit(f"--processes and --repeats must be at least 1, got {args.processes} and {args.repeats}")
    out = args.out or RESULTS / f"speed-{args.device}{'-quick' if args.quick else ''}.json"
    info = {**machine(args.threads, args.device), "processes": args.processes, "repeats": args.repeats}
    results = load(out, info, args.fresh)
    print(describe(info))
    print(f"{args.processes} fresh processes per model and point, alternated; in each, the median of {args.repeats} "
          f"calls (more when they take under 0.5 s); results in {out}")

    points = [(point, mode) for point in grid(args.quick, args.device) for mode in ("inference", "training")]
    wanted = {key(*specs(point, mode, args)) for point, mode in points}
    stale = [p for p in results["points"] if key(p["baseline"], p["vt"]) not in wanted]
    if stale:
        print(f"dropping {len(stale)} earlier point(s) that are not on this grid")
        results["points"] = [p for p in results["points"] if p not in stale]
    done = {key(p["baseline"], p["vt"]) for p in results["points"] if not p["busy"]}  # busy ones: measured again
    for i, (point, mode) in enumerate(points, 1):
        baseline, vt = specs(point, mode, args)
        if key(baseline, vt) in done:
            print(f"[{i}/{len(points)}] {vt.model} {mode} batch {vt.batch} {vt.size}: measured before, kept")
            continue
        print(f"[{i}/{len(points)}] {vt.model} {mode} batch {vt.batch} {vt.size[0]}x{vt.size[1]} ...", flush=True)
        comparison = compare(baseline, vt, processes=args.processes)
        print("    " + comparison.line(), flush=True)
        results["points"] = [p for p in results["points"] if key(p["baseline"], p["vt"]) != key(baseline, vt)]
        results["points"].append({"pair": point["pair"], "mode": mode, "mac_ratio": mac_ratio(point),
                                  "busy": comparison.busy, **comparison.summary()})
        save(out, results)

    measured = {(b["pair"], tuple(b["size"]), b["batch"]) for b in results["breakdowns"]}
    setting = Setting(argparse.Namespace(threads=args.threads, device=args.device, channels_last=False,
                                         compile=False, freeze=False, repeats=max(args.repeats, 5)))
    for pair, parts in (("resnet18", RESNET_PARTS), ("fpn", FPN_PARTS))[:1 if args.quick else 2]:
        point = breakdown_point(pair, args.quick)
        if (pair, tuple(point["size"]), point["batch"]) in measured:
            continue
        models = {name: setting.prepare(build(name, pair).eval()) for name in PAIRS[pair]}
        x = setting.input(point["batch"], 3, *point["size"])
        parts_result = breakdown(setting, models, parts, x, tuple(point["size"]))
        results["breakdowns"].append({"pair": pair, "batch": point["batch"], "size": list(point["size"]),
                                      "parts": parts_result})
        save(out, results)
    ratios = [p["ratio_median"] for p in results["points"]]
    busy = sum(p["busy"] for p in results["points"])
    print(f"done: {len(results['points'])} points, VT speed / baseline from {min(ratios):.3f} to {max(ratios):.3f} "
          f"(median {statistics.median(ratios):.3f})"
          + (f"; {busy} measured while the machine was busy: run again on a quiet machine to measure those again"
             if busy else ""))


if __name__ == "__main__":
    main()
