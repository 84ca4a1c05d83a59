"""The notebooks' FULL = True paths, bounded, for the GPU check (benchmarks/gpu_check.py): each notebook's FULL values
and TrainConfigs are read from its source (by tests/test_notebooks_full.py's readers, so that the test and the
check read the notebooks alike) and run on the device, cut to two training steps per run, with the token probes,
figures and widgets built. Each check returns a report (what ran, the finite losses, the traces per figure) or
raises; ``run_notebooks`` runs them in child processes (gpu_check.py's ``--notebooks``), one notebook's report per
``out/notebooks/NN.json``, so that a CUDA error in one cannot spill into the next.

torch and vtlab are imported where used: the dry run sets TORCH_COMPILE_DISABLE before torch is imported.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from _protocol import save

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("01", "02", "03", "04", "05", "06", "07")
SCRIPT = Path(__file__).with_name("gpu_check.py")  # whose hidden --notebooks option runs notebooks_child
if TYPE_CHECKING:
    import plotly.graph_objects as go
    import torch

    from vtlab.train import TrainConfig


def full_readers() -> tuple[Callable, Callable, Callable]:
    """tests/test_notebooks_full.py's readers of a notebook's source, FULL values and FULL TrainConfigs, imported
    rather than copied, so that the test and this script read the notebooks alike."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_notebooks_full import full_train_configs, full_values, source
    return source, full_values, full_train_configs


def literal(tree: ast.Module, name: str) -> object:
    """The literal value a notebook assigns to ``name`` at its top level."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise ValueError(f"expected the notebook to assign a literal to {name}, found none")


def full_call_args(tree: ast.Module, function: str) -> tuple:
    """The literal positional arguments of the first call of ``function`` in an ``if FULL:`` branch."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "FULL":
            for call in (n for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Call)):
                if getattr(call.func, "attr", getattr(call.func, "id", None)) == function:
                    return tuple(ast.literal_eval(a) for a in call.args)
    raise ValueError(f"expected a call of {function} in the notebook's FULL branch, found none")


@dataclasses.dataclass(frozen=True)
class Bounds:
    """Where and how small the FULL paths run: the device, ``tiny`` sizes for the dry run, the run folders."""

    device: torch.device
    tiny: bool
    out: Path

    def steps(self, config: TrainConfig, name: str) -> TrainConfig:
        """``config`` cut to two training steps and one validation batch of its batch size (tiny: batch 2), the
        first epoch of its schedule (stop_after=1), on this device, in ``out/runs/name``."""
        from vtlab.train import get_recipe
        batch = 2 if self.tiny else config.batch_size or get_recipe(config.recipe).batch_size
        return dataclasses.replace(config, out=str(self.out / "runs" / name), device=self.device.type, progress=False,
                                   batch_size=2 if self.tiny else config.batch_size, train_size=2 * batch,
                                   val_size=batch, stop_after=1)

    def autocast(self) -> torch.autocast:
        import torch
        return torch.autocast(self.device.type, dtype=torch.bfloat16)


def traces(*figures: go.Figure) -> list[int]:
    """The number of traces of each figure built; an empty figure is an error."""
    counts = [len(figure.data) for figure in figures]
    if not all(counts):
        raise ValueError(f"expected every figure to hold traces, got {counts} traces")
    return counts


def losses(history: list[dict]) -> list[float]:
    """The training losses of a run's epochs, which must be finite."""
    if not history or not all(math.isfinite(row["train_loss"]) for row in history):
        raise ValueError(f"expected finite training losses, got {history}")
    return [round(row["train_loss"], 4) for row in history]


def check_01(b: Bounds) -> dict:
    source, full_values, full_train_configs = full_readers()
    if full_values(source("01")) or full_train_configs(source("01")):
        raise ValueError("notebook 01 now has a FULL branch: this script does not run it yet")
    return {"ran": "nothing: the notebook is the same with FULL"}


def check_02(b: Bounds) -> dict:
    """A forward pass of each of the eight ImageNet models on the notebook's FULL batch, in bf16 autocast (tiny: the
    two of depth 18, on one small image)."""
    import torch

    from vtlab.cost.report import DEPTHS
    from vtlab.models import create_model
    source, _, _ = full_readers()
    shape = (1, 3, 64, 64) if b.tiny else full_call_args(source("02"), "randn")
    batch, shapes = torch.randn(*shape, device=b.device), {}
    for name in (n for depth in DEPTHS[:1 if b.tiny else None] for n in (f"resnet{depth}", f"vt_resnet{depth}")):
        with torch.no_grad(), b.autocast():
            logits = create_model(name).to(b.device).eval()(batch)
        if not torch.isfinite(logits).all():
            raise ValueError(f"{name}: non-finite logits")
        shapes[name] = list(logits.shape)
    return {"batch": list(shape), "logits": shapes}


def check_03(b: Bounds) -> dict:
    from vtlab.train import get_recipe, train
    from vtlab.train.evaluation import evaluate_run
    from vtlab.viz.training import curves_figure
    source, _, full_train_configs = full_readers()
    (config,) = full_train_configs(source("03"))
    run = b.steps(config, "03-quick")
    history = train(run)
    result = evaluate_run(run.out, device=b.device.type)
    return {"config": dataclasses.asdict(run), "train_loss": losses(history), "evaluated_images": result["images"],
            "figures": traces(curves_figure({run.model or get_recipe(run.recipe).model: history}))}


def check_04(b: Bounds) -> dict:
    """The token probes on the FULL number of scenes, in float64 as the notebook runs them, but on the device: the
    notebook's FULL path runs them on the CPU, where 2,000 scenes take minutes."""
    import torch

    from vtlab.data import SHAPES, ShapesDataset, classification_transform, parse_data
    from vtlab.models import create_model
    from vtlab.probe import coefficient_maps, collapse_chain, load_probe_model, region_mass, token_report, upsample_maps
    from vtlab.viz.probe import token_history_figure, token_report_figure
    from vtlab.viz.tokens import token_explorer
    source, full_values, _ = full_readers()
    count = 16 if b.tiny else full_values(source("04"))["SCENES"]
    model, record = load_probe_model()
    model = model.double().to(b.device)
    normalise = classification_transform(parse_data("shapes"), train=False)
    scenes = ShapesDataset("val", size=64, length=count, target="mask")
    x = torch.stack([normalise(image) for image in scenes.images]).double().to(b.device)
    masks, names = scenes.masks.to(b.device), ["background", *SHAPES]
    torch.manual_seed(0)
    untrained = create_model("vt_resnet_mini", num_classes=6).double().eval().to(b.device)
    with torch.no_grad():
        accuracy = (model(x).argmax(1).cpu() == scenes.labels).float().mean().item()
        maps = coefficient_maps(model, x)
        mass = [region_mass(upsample_maps(A, (64, 64)), masks, len(names)).cpu() for A in maps]
        reports = {label: token_report(net, x, masks, len(names)) for label, net in
                   (("trained", model), ("untrained", untrained))}
        chain = [collapse_chain(net, x) for net in (untrained, model)]
    explorer = token_explorer(scenes.images[:24], [A[:24].cpu() for A in maps], [m[:24] for m in mass], names)
    explorer.set(image=5, block=1)
    share = (scenes.masks > 0).float().mean().item()
    return {"scenes": count, "accuracy": round(accuracy, 4), "chain_rows": sum(map(len, chain)),
            "reports": {label: [{k: round(v, 4) for k, v in r.items()} for r in rs] for label, rs in reports.items()},
            "figures": traces(explorer.figure, token_report_figure(reports, share),
                              token_history_figure(record["tokens"]))}


def check_05(b: Bounds) -> dict:
    """REGENERATE: every variant of the shapes study trained on the device (two steps each here)."""
    from vtlab.studies import STUDIES, study_config
    from vtlab.train import train
    from vtlab.viz.training import curves_figure
    source, full_values, _ = full_readers()
    if full_values(source("05")) != {"REGENERATE": True}:
        raise ValueError(f"notebook 05's FULL values changed: {full_values(source('05'))}")
    settings = dataclasses.replace(STUDIES["shapes"], device=b.device.type)
    histories = {variant: train(b.steps(study_config(settings, variant, settings.seeds[0], ""),
                                        f"05-{variant.lstrip('-')}")) for variant in settings.variants}
    return {"train_loss": {v: losses(h) for v, h in histories.items()}, "figures": traces(curves_figure(histories))}


def check_06(b: Bounds) -> dict:
    """Whole-model MACs (Table 4; tiny: at 64x64), both compact models trained, their predictions and token maps."""
    import torch

    from vtlab.cost import macs_by_module
    from vtlab.cost.report import table4_comparison
    from vtlab.data import create_segmentation_dataset
    from vtlab.models import create_model
    from vtlab.probe import level_coefficient_maps
    from vtlab.train import train
    from vtlab.train.evaluation import load_run
    from vtlab.train.metrics import class_iou
    from vtlab.viz.segmentation import class_iou_figure, level_token_explorer, prediction_figure
    from vtlab.viz.training import curves_figure
    source, _, full_train_configs = full_readers()
    tree = source("06")
    (config,) = full_train_configs(tree)
    if b.tiny:
        totals = {name: macs_by_module(create_model(name, num_classes=20), 64)[""] for name in
                  ("fpn_resnet50", "vt_fpn_resnet50")}
    else:
        totals = {"table4_rows": len(table4_comparison().rows)}
    runs = {label: b.steps(dataclasses.replace(config, model=name), f"06-{name}")
            for label, name in literal(tree, "MINI").items()}
    histories = {label: train(run) for label, run in runs.items()}
    val = create_segmentation_dataset("shapes", "val", length=8 if b.tiny else None)
    x_val = torch.stack([val[i][0] for i in range(len(val))])
    trained = {label: load_run(run.out)[0].eval() for label, run in runs.items()}
    with torch.no_grad():
        predictions = {label: torch.cat([m(part).argmax(1) for part in x_val.split(100)]) for label, m in
                       trained.items()}
    ious = {label: class_iou(p, val.masks, val.num_classes) for label, p in predictions.items()}
    (vt_label,) = (label for label, run in runs.items() if run.model.startswith("vt_"))
    maps = level_coefficient_maps(trained[vt_label], x_val[:200])
    explorer = level_token_explorer(val.images[:24], [m[:24] for m in maps], literal(tree, "LEVELS"))
    explorer.set(scene=1, level=1)
    figures = traces(curves_figure(histories), class_iou_figure(ious, list(val.classes)), explorer.figure,
                     prediction_figure(val.images[:4], val.masks[:4], {k: p[:4] for k, p in predictions.items()},
                                       list(val.classes)))
    return {"macs": totals, "train_loss": {label: losses(h) for label, h in histories.items()},
            "miou": {label: round(iou.nanmean().item(), 4) for label, iou in ious.items()}, "figures": figures}


def check_07(b: Bounds) -> dict:
    """The three blocks timed on the FULL map sides and repeats (the times are not kept: other processes share the
    device meanwhile), and the MAC figures and widget."""
    from vtlab.cost.scaling import BLOCKS, DEFAULT_CONFIG
    from vtlab.timing import measure_time_spread
    from vtlab.viz.scaling import mac_figure, scaling_explorer, time_figure
    source, full_values, _ = full_readers()
    values = full_values(source("07"))
    sides, repeats = ([7], 1) if b.tiny else (values["time_sides"], values["repeats"])
    timed = measure_time_spread(sides, DEFAULT_CONFIG, repeats=repeats, warmup=2, threads=1, device=b.device)
    if not all(0 < t < float("inf") for p in timed for n in BLOCKS for t in p.runs[n]):
        raise ValueError("a block's time was not positive and finite")
    explorer = scaling_explorer(list(range(1, 129)), DEFAULT_CONFIG)
    explorer.set(L=32)
    return {"sides": sides, "repeats": repeats,
            "figures": traces(time_figure(timed), mac_figure(list(range(1, 129))), explorer.figure)}


CHECKS: dict[str, Callable[[Bounds], dict]] = {"01": check_01, "02": check_02, "03": check_03, "04": check_04,
                                              "05": check_05, "06": check_06, "07": check_07}


def notebooks_child(args: argparse.Namespace) -> int:
    """Run the listed notebooks' checks in turn, each writing out/notebooks/NN.json; stop at the first failure."""
    import torch
    bounds = Bounds(torch.device(args.device), args.tiny, args.out)
    (args.out / "notebooks").mkdir(parents=True, exist_ok=True)
    for stem in args.notebooks:
        started = time.perf_counter()
        try:
            report = {"ok": True, **CHECKS[stem](bounds)}
        except Exception as error:  # reported, not raised: the parent runs the other notebooks
            report = {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        save(args.out / "notebooks" / f"{stem}.json", report)
        if not report["ok"]:
            return 1
    return 0


def run_notebooks(args: argparse.Namespace, timeout: float) -> dict[str, dict]:
    """Each notebook's report, from child processes. A child stops after a failed notebook (its report says why),
    and a new child runs the rest; a notebook whose child died or timed out without a report is reported so."""
    reports, remaining, deadline = {}, list(NOTEBOOKS), time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        command = [sys.executable, str(SCRIPT), "--device", args.device, "--out", str(args.out), "--notebooks",
                   *remaining] + (["--tiny"] if args.tiny else [])
        try:
            child = subprocess.run(command, capture_output=True, text=True, timeout=deadline - time.monotonic())
            died = f"its process ended with status {child.returncode} and no report: {child.stderr[-2000:]}"
        except subprocess.TimeoutExpired:
            died = f"timed out: the notebooks had {timeout:.0f} s in all"
        new = [stem for stem in remaining if (args.out / "notebooks" / f"{stem}.json").exists()]
        for stem in new:
            reports[stem] = json.loads((args.out / "notebooks" / f"{stem}.json").read_text())
            remaining.remove(stem)
        if remaining and (not new or reports[new[-1]]["ok"]):  # the child ended inside remaining[0]
            reports[remaining.pop(0)] = {"ok": False, "error": died}
    reports.update({stem: {"ok": False, "error": "not run: no time was left"} for stem in remaining})
    return {stem: reports[stem] for stem in NOTEBOOKS}

