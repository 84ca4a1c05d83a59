"""``vtlab reproduce``: the paper's claims at the scale a laptop affords, with no download, in three parts.

1. **Cached**, on screen at once: the seeded studies that ship with vtlab (:data:`STUDY_DIR`, made by
   ``scripts/make_studies.py``): ``vt_resnet_mini`` against ``resnet_mini`` and Table 3's ablations on
   classification tasks (one of them a relation), and ``vt_fpn_resnet_mini`` against ``fpn_resnet_mini`` and its
   own lateral convs on the shapes masks: mean ± std, the paired differences with their standard error, 95 %
   interval and verdict, how much the last epochs still added, and the paper's figure beside each. A study
   still being made is reported on the seeds it pairs so far, and says so.
2. **Counted** on this machine: the cost tables (Tables 1–4, Section 3.2) of the full-size models, beside the
   paper's.
3. **Live** on this machine: the first ``live_epochs`` epochs of the shapes study's runs of one seed, for
   ``resnet_mini`` and ``vt_resnet_mini`` (in two processes of one CPU thread each, as the study ran them),
   beside the cached runs' same epochs. It shows that the engine works here, and how closely this CPU retraces
   the cached numbers: exactly on the machine that made them, and drifting apart elsewhere, since float sums
   depend on the instruction set.

With ``full=True`` (``vtlab reproduce --full``) every study is retrained on this machine instead (resumably,
into OUT/studies; about six CPU-hours, three on two cores) and part 1 reports those runs.

Writes ``report.md``, which labels each number cached, counted or live, and ``figure.html`` (self-contained:
accuracy against MACs per study, and the live curves over the cached ones) to OUT. A second call reuses the
live runs in OUT/live, continuing one that was interrupted.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from . import __version__
from .cost import paper
from .cost.report import cost_report, paper_deltas
from .studies import (
    BASE,
    BASELINE,
    STUDIES,
    STUDY_DIR,
    Study,
    StudySettings,
    VariantSummary,
    direction,
    load_study,
    run_study,
    save_study,
    study_config,
)
from .train import get_recipe, train
from .train.engine import check_resume

CLASSIFICATION_STUDIES = ("shapes", "relations", "digits")
LIVE_STUDY = "shapes"
LIVE_VARIANTS = (BASELINE, BASE)  # resnet_mini, vt_resnet_mini
LIVE_EPOCHS = 3
# How far another CPU's float sums may move the first epochs' training loss and validation accuracy: with the
# instruction set capped at AVX2, the cached (AVX-512) runs' first 3 epochs moved by up to 0.066 (0.0002 after
# epoch 1); this bound is about twice that.
LIVE_TOLERANCE = 0.15


def paper_claims() -> dict[str, str]:
    """The paper's headline comparisons, computed from its tables (:mod:`vtlab.cost.paper`)."""
    r18, vt18 = paper.table1("resnet18"), paper.table1("vt_resnet18")
    seg = {(row.dataset, row.neck): row for row in paper.TABLE4 if row.backbone == "R-50"}
    table4 = ", ".join(f"{seg[d, 'VT-FPN'].miou - seg[d, 'FPN'].miou:+.2f} mIoU points on {d} with "
                       f"{seg[d, 'FPN'].fpn_macs_g / seg[d, 'VT-FPN'].fpn_macs_g:.1f}x fewer neck MACs"
                       for d in ("COCO-stuff", "LIP"))
    return {"classify": f"The paper (Table 1, ImageNet): VT-R-18 {vt18.top1 - r18.top1:+.2f} points top-1 over R-18 "
                        f"at {r18.macs_g / vt18.macs_g:.2f}x fewer MACs.",
            "segment": f"The paper (Table 4, ResNet-50 backbone): VT-FPN {table4}."}

def _plus_minus(values: tuple[float, ...]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):+.1f} ± {std:.1f}"


def _paired(summary: VariantSummary, paper_sign: int | None) -> str:
    """A paired difference to the base as the report gives it: mean, paired SE, 95 % interval and, where the
    paper has an effect of that sign (-1: the variant is worse than the base), the verdict."""
    low, high = summary.delta_interval()
    text = (f"{summary.mean_delta:+.2f} points (paired SE {summary.delta_se:.2f}, 95 % interval "
            f"[{low:+.2f}, {high:+.2f}], {direction(summary.delta)})")
    return text if paper_sign is None else f"{text}: **{summary.verdict(paper_sign)}**"


def study_section(name: str, study: Study) -> list[str]:
    """Markdown lines for one study: its settings, a table of the models (MACs, parameters, the final metric as
    mean ± std over seeds, the paired difference to the VT base model, what the last fifth of the epochs
    added), and each comparison with its paired standard error, 95 % interval and verdict beside the paper's
    claim. A study still being made says how many of its seeds it pairs so far."""
    settings = study.settings
    segment = settings.task == "segment"
    metric = "mIoU" if segment else "accuracy"
    summaries = study.summaries()
    progress = "" if study.complete else (f" **In progress: {len(study.seeds)} of {len(settings.seeds)} seeds "
                                          f"so far** (`python scripts/make_studies.py --only {name}` adds the rest).")
    lines = [
        f"### {name}: `{settings.model}` against `{settings.baseline}` on `{settings.data}`",
        "",
        f"`{settings.recipe}` recipe, {settings.epochs} epochs at batch "
        f"{settings.batch_size or get_recipe(settings.recipe).batch_size} on "
        f"{settings.train_size or 'all'} training images; validation {metric} on {study.validation.images} "
        f"held-out images ({study.validation.classes} classes); seeds {list(study.seeds)}; "
        f"{len(study.runs)} runs, {study.minutes:.0f} minutes on {', '.join(study.devices)} "
        f"(torch {study.environment.torch}, {study.environment.threads} thread per run).{progress}",
        "",
        f"| model | MACs at the training size | params | final {metric} (%), mean ± std | paired difference to "
        f"`{settings.model}` (points) | last fifth of the epochs added (points) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for variant, summary in summaries.items():
        cost = study.cost(variant)
        delta = "—" if variant == BASE else _plus_minus(summary.delta)
        lines.append(f"| {study.label(variant)} | {cost.macs / 1e6:.2f} M | {cost.params / 1e6:.3f} M | "
                     f"{summary.mean_accuracy:.1f} ± {summary.std:.1f} | {delta} | "
                     f"{statistics.fmean(summary.late_gain):+.1f} |")
    ratio = study.cost(BASELINE).macs / study.cost(BASE).macs
    lines += ["", f"- **{settings.baseline} − {settings.model}**: {_paired(summaries[BASELINE], -1)}; "
                  f"{settings.model} at {ratio:.2f}x fewer MACs.", "  " + paper_claims()[settings.task]]
    if "lateral" in summaries:
        fusion = [statistics.fmean(run.fusion[i] for run in study.runs_of(BASE) if run.seed in study.seeds)
                  for i in range(len(study.runs_of(BASE)[0].fusion))]
        lines.append(f"- **lateral − {settings.model}** (the lateral convs alone; no paper figure, and the check "
                     f"that the token path adds rather than harms): {_paired(summaries['lateral'], -1)}. What the "
                     f"token path adds to each level's lateral map at the last epoch, finest first (mean over "
                     f"seeds): {', '.join(f'{r:.3f}' for r in fusion)} of its norm.")
    for variant in paper.ABLATIONS:
        if variant in summaries and not segment:
            theirs = ", ".join(f"{model.replace('vt_resnet', 'VT-R-')} {paper_deltas(model, variant)['top1']:+.2f}"
                               for model in ("vt_resnet18", "vt_resnet34"))
            lines.append(f"- **{variant}** − base: {_paired(summaries[variant], -1)}; Table 3 (ImageNet, 90 "
                         f"epochs): {theirs}.")
    if "uncentred" in summaries:
        lines.append(f"- **uncentred** − base (vtlab's centred dynamic filters off; no paper figure): "
                     f"{_paired(summaries['uncentred'], None)}.")
    base_spread = summaries[BASE].spread
    lines += [f"- Yardstick: the VT base model's own {metric} spans {base_spread:.1f} points over the seeds.", ""]
    return lines


def _live_run(settings: StudySettings, variant: str, seed: int, out: str, epochs: int) -> list[dict]:
    """The first ``epochs`` epochs of one study run (in its own process, with the study's thread count),
    continuing the run in ``out`` if it holds fewer; returns its metrics rows."""
    torch.set_num_threads(settings.threads)
    config = study_config(settings, variant, seed, out, device="cpu", resume=True)
    done = _metrics(Path(out))
    if len(done) < epochs:  # a resume checks that the folder holds this run (settings and seed)
        train(dataclasses.replace(config, stop_after=epochs - len(done)))
    else:  # rows of an earlier call are reused only if they are this run's
        check_resume(config)
    return _metrics(Path(out))[:epochs]


def _metrics(out: Path) -> list[dict]:
    path = out / "metrics.csv"
    if not path.exists():
        return []
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def live_pair(out: Path, cached: Study, seed: int = 0, epochs: int = LIVE_EPOCHS,
              say: Callable[..., None] | None = None) -> dict[str, list[dict]]:
    """Train (or reuse) the first ``epochs`` epochs of the ``cached`` study's runs of ``seed`` for the baseline
    and the VT base model, in parallel processes: metrics rows by variant. ``say`` (e.g. ``print``) receives a
    line for each epoch as a run's ``metrics.csv`` gains it, the progress of the quiet workers."""
    settings = cached.settings
    workers = min(len(LIVE_VARIANTS), os.cpu_count() or 1)
    shown = {variant: len(_metrics(out / variant)) for variant in LIVE_VARIANTS}  # epochs reused, not reported
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = {variant: pool.submit(_live_run, settings, variant, seed, str(out / variant), epochs)
                for variant in LIVE_VARIANTS}
        while True:
            finished = not concurrent.futures.wait(jobs.values(), timeout=2).not_done
            for variant in LIVE_VARIANTS if say is not None else ():
                rows = _metrics(out / variant)[:epochs]
                for row in rows[shown[variant]:]:
                    say(f"  {cached.cost(variant).model}: epoch {int(row['epoch'])}/{epochs}, "
                        f"train loss {row['train_loss']:.4f}, val acc {row['val_acc']:.4f}", flush=True)
                shown[variant] = max(shown[variant], len(rows))
            if finished:
                break
        return {variant: job.result() for variant, job in jobs.items()}


def live_section(live: dict[str, list[dict]], cached: Study, seed: int, seconds: float) -> list[str]:
    """Markdown lines: the live epochs beside the cached run's same epochs, and how far apart they are."""
    lines = ["| model | epoch | train loss, live | cached | val acc, live | cached |",
             "| --- | --- | --- | --- | --- | --- |"]
    gap = 0.0
    for variant, rows in live.items():
        loss, accuracy = (cached.run(variant, seed).curve(key) for key in ("train_loss", "val_acc"))
        for row in rows:
            e = int(row["epoch"])
            gap = max(gap, abs(row["train_loss"] - loss[e - 1]), abs(row["val_acc"] - accuracy[e - 1]))
            lines.append(f"| {cached.cost(variant).model} | {e} | {row['train_loss']:.6f} | "
                         f"{loss[e - 1]:.6f} | {row['val_acc']:.4f} | {accuracy[e - 1]:.4f} |")
    if gap == 0:
        verdict = "identical to the cached runs, to the 6 decimals stored: this CPU and torch retrace them exactly"
    elif gap <= LIVE_TOLERANCE:
        verdict = (f"within {gap:.6f} of the cached runs (the largest difference in training loss or validation "
                   "accuracy): float sums depend on the CPU's instruction set and the torch build, so runs on "
                   "another machine drift apart from the cached ones; the seed-to-seed spread in part 1 is the "
                   "yardstick for them")
    else:
        verdict = (f"{gap:.6f} away from the cached runs, more than the {LIVE_TOLERANCE} that another instruction "
                   "set's float sums gave in the first 3 epochs: check what else differs (the data, the code or "
                   "the settings)")
    return lines + ["", f"Live ({seconds:.0f} s on this machine): {verdict}.", ""]


def _figure(studies: dict[str, Study], live: dict[str, list[dict]], cached: Study, seed: int, path: Path) -> None:
    from .viz.training import accuracy_macs_figure, curves_figure

    classify = {f"{name} ({study.settings.data})": study for name, study in studies.items()
                if name in CLASSIFICATION_STUDIES}
    fig = accuracy_macs_figure(classify)
    fig.update_layout(title="Cached: final validation accuracy against MACs (the paper's Figure 4 at toy scale)")
    runs = {}
    for variant, rows in live.items():
        model = cached.cost(variant).model
        runs[f"{model} live"] = rows
        runs[f"{model} cached"] = cached.run(variant, seed).rows()
    curves = curves_figure(runs)
    curves.update_layout(title=f"Live: the first epochs on this machine over the cached runs (seed {seed})")
    path.write_text("<html><head><meta charset='utf-8'></head><body>" + fig.to_html(full_html=False,
                    include_plotlyjs=True) + curves.to_html(full_html=False, include_plotlyjs=False) + "</body></html>")


def _check_reproduce(seed: int, live_epochs: int) -> None:
    """The live pair's seed must be one of the shapes study's, and its epochs within that study's."""
    if seed not in STUDIES[LIVE_STUDY].seeds:
        raise ValueError(f"expected a seed of the {LIVE_STUDY} study, {list(STUDIES[LIVE_STUDY].seeds)}, got {seed!r}")
    if isinstance(live_epochs, bool) or not isinstance(live_epochs, int) or \
            not 1 <= live_epochs <= STUDIES[LIVE_STUDY].epochs:
        raise ValueError(f"expected live_epochs between 1 and {STUDIES[LIVE_STUDY].epochs}, got {live_epochs!r}")


def _retrain_studies(study_dir: Path, say: Callable[..., None]) -> None:
    """``--full``: train every study on this machine into ``study_dir`` (resumable)."""
    for name, settings in STUDIES.items():
        say(f"--full: training the {name} study on this machine (resumable: run the same command again) ...",
            flush=True)
        path = study_dir / f"study-{name}.json"
        save_study(run_study(settings, log=lambda line: say(line, flush=True), path=path), path)


def _header(started: float) -> list[str]:
    return [
        "# vtlab reproduce",
        "",
        f"vtlab {__version__}, torch {torch.__version__}, {platform.machine()} CPU with {os.cpu_count()} cores; "
        f"{time.perf_counter() - started:.0f} s in all. Each number below is labelled: **cached** (computed once "
        "by `scripts/make_studies.py` and shipped), **counted** (on this machine now) or **live** (trained on this "
        "machine now).",
        "",
    ]


def _cached_report(source: str, full: bool, part1: list[str]) -> list[str]:
    """Part 1 of ``report.md``: the studies, cached or retrained here."""
    return [
        f"## 1. The paper's claims at toy scale ({'retrained here' if full else 'cached'})",
        "",
        f"Source: {source}. Compact models on data that ships with vtlab: `resnet_mini` is ResNet-18's layout at a "
        "quarter of its width with a small-image stem; `vt_resnet_mini` keeps its stages 1-4 and replaces stage 5 "
        "with two VT blocks, as the paper does for VT-ResNet-18. Runs of one seed share data, data order and the "
        "initial weights of stages 1-4, so each difference is paired per seed. These say nothing about ImageNet; "
        "they make the paper's comparisons on data a laptop can train on.",
        "",
        *part1,
    ]


def _counted_report(tables_text: str, seconds: float) -> list[str]:
    """Part 2 of ``report.md``: the cost tables counted here."""
    return [
        "## 2. Cost: the paper's tables beside vtlab's counts (counted)",
        "",
        f"The real full-size models (ImageNet models at 224x224; Table 4's at 800x1216 and 473x473), counted with "
        f"the paper's convention (see docs/paper-fidelity.md), in {seconds:.0f} s.",
        "",
        "```text", tables_text, "```",
        "",
    ]


def _live_report(part3: list[str], settings: StudySettings, live_epochs: int, seed: int, out: Path) -> list[str]:
    """Part 3 of ``report.md``: the live pair beside the cached runs."""
    recipe = get_recipe(settings.recipe)
    return [
        "## 3. The engine on this machine (live)",
        "",
        f"The first {live_epochs} of {settings.epochs} epochs of the {LIVE_STUDY} study's seed-{seed} runs "
        f"(`{recipe.name}` recipe: {recipe.description}; here at batch {settings.batch_size} on "
        f"{settings.train_size} scenes), trained now, beside the same epochs of the cached runs.",
        "",
        *part3,
        f"Figure: {out / 'figure.html'}. Live run folders (metrics.csv, checkpoints): {out / 'live' / f'seed{seed}'}.",
        "",
    ]


def reproduce(out: str | Path = "reproduce", full: bool = False, seed: int = 0, live_epochs: int = LIVE_EPOCHS,
              progress: bool = True, tables: list[str] | None = None, study_dir: str | Path | None = None) -> Path:
    """Run the three parts (module docstring) and write the report; returns the path of ``report.md``.

    ``seed``: which of the shapes study's seeds the live pair retraces; ``live_epochs``: how many of its epochs;
    ``tables``: which cost tables (default: all); ``study_dir``: where the cached studies are (default: the
    copies that ship with vtlab); ``full``: retrain every study here first, into OUT/studies.
    """
    out = Path(out)
    _check_reproduce(seed, live_epochs)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    say: Callable[..., None] = print if progress else (lambda *a, **k: None)

    if full:
        study_dir = out / "studies"
        _retrain_studies(study_dir, say)
    source = "retrained on this machine (--full)" if full else \
        f"cached: the seeded runs that ship with vtlab ({study_dir or STUDY_DIR})"
    studies = {name: load_study(name, study_dir, complete=False) for name in STUDIES}
    part1 = [line for name, study in studies.items() for line in study_section(name, study)]
    say(f"1/3 the paper's claims at toy scale, {source}:\n", flush=True)
    say("\n".join(part1), flush=True)

    say("2/3 cost tables: building and counting the full-size models ...", flush=True)
    counted = time.perf_counter()
    tables_text = "\n\n".join(c.format() for c in cost_report(tables))
    counted = time.perf_counter() - counted
    say(tables_text, flush=True)

    cached = studies[LIVE_STUDY]
    settings = cached.settings
    if seed not in cached.seeds:
        raise ValueError(f"expected a seed that the {LIVE_STUDY} study has run so far, {list(cached.seeds)}, "
                         f"got {seed}")
    say(f"3/3 live: the first {live_epochs} epochs of the {LIVE_STUDY} study's seed-{seed} runs of "
        f"{settings.baseline} and {settings.model}, side by side ...", flush=True)
    trained = time.perf_counter()
    live = live_pair(out / "live" / f"seed{seed}", cached, seed, live_epochs, say if progress else None)
    part3 = live_section(live, cached, seed, time.perf_counter() - trained)
    say("\n".join(part3), flush=True)
    _figure(studies, live, cached, seed, out / "figure.html")

    lines = (_header(started) + _cached_report(source, full, part1) + _counted_report(tables_text, counted)
             + _live_report(part3, settings, live_epochs, seed, out))
    report = out / "report.md"
    report.write_text("\n".join(lines))
    say(f"\nreport: {report}, figure: {out / 'figure.html'}", flush=True)
    return report
