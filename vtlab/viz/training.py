"""Figures of training: a recipe's learning-rate schedule, a run's curves (from ``metrics.csv`` rows), and a
study's curves and final accuracy against MACs. Plotly only (no widgets), so that ``vtlab reproduce`` draws them
in a base install."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .._checks import check_keys, check_positive
from ..studies import BASELINE, Study
from ..train.recipes import Recipe, lr_factor

CURVE_KEYS = ("epoch", "train_loss", "val_loss", "val_acc")  # what curves_figure reads of each row


def lr_schedule_figure(recipe: Recipe, batch_sizes: Sequence[int] = (), points_per_epoch: int = 4,
                       epochs: int | None = None) -> go.Figure:
    """The learning rate over a run of ``recipe`` for each global batch size (the recipe's own by default):
    peak and warm-up lr scale linearly with the batch (:meth:`Recipe.scaled_lr`)."""
    if not isinstance(recipe, Recipe):
        raise ValueError(f"expected a Recipe (e.g. vtlab.train.recipes.get_recipe('quick')), got "
                         f"{type(recipe).__name__}")
    check_positive(points_per_epoch=points_per_epoch, **({} if epochs is None else {"epochs": epochs}),
                   **{f"batch_sizes[{i}]": batch for i, batch in enumerate(batch_sizes)})
    epochs = epochs or recipe.epochs
    fig = go.Figure()
    for batch in batch_sizes or (recipe.batch_size,):
        _, peak = recipe.scaled_lr(batch)
        x = [i / points_per_epoch for i in range(epochs * points_per_epoch + 1)]
        y = [round(peak * lr_factor(recipe, e, epochs), 6) for e in x]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"batch {batch}"))
    fig.update_layout(title=f"learning rate of the {recipe.name!r} recipe", xaxis_title="epoch",
                      yaxis_title="learning rate", height=360, margin=dict(t=50, b=40))
    return fig


def curves_figure(runs: dict[str, Sequence[dict]]) -> go.Figure:
    """Loss (train, val) and validation accuracy per epoch for each named run (its ``train()`` history or
    ``metrics.csv`` rows), values rounded to 4 decimals."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["loss", "validation accuracy"])
    for name, rows in runs.items():
        for i, row in enumerate(rows):
            check_keys(f"row {i} of run {name!r}", row, CURVE_KEYS)
        epochs = [int(row["epoch"]) for row in rows]
        for key, dash in (("train_loss", "dot"), ("val_loss", "solid")):
            fig.add_trace(go.Scatter(x=epochs, y=[round(float(row[key]), 4) for row in rows], mode="lines+markers",
                                     name=f"{name} {key.split('_')[0]}", line=dict(dash=dash)), row=1, col=1)
        fig.add_trace(go.Scatter(x=epochs, y=[round(float(row["val_acc"]), 4) for row in rows],
                                 mode="lines+markers", name=f"{name} val acc"), row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=380, margin=dict(t=50, b=40))
    return fig


def _check_study(study: object) -> Study:
    """Raise unless ``study`` is a :class:`~vtlab.studies.Study` (what the study figures read)."""
    if not isinstance(study, Study):
        raise ValueError(f"expected a Study (vtlab.studies.load_study or run_study), got {type(study).__name__}")
    return study


def mean_curve_figure(study: Study, variants: Sequence[str] | None = None, metric: str | None = None) -> go.Figure:
    """Per epoch, the mean over seeds of ``metric`` (default: the study's, validation accuracy or mIoU) for each
    of ``variants`` of a study, in points, with a band of ± one standard deviation over the seeds (those that
    every variant has run, :attr:`Study.seeds`, in a study still being made)."""
    import statistics

    settings = _check_study(study).settings
    metric = metric or settings.metric
    variants = list(variants or settings.variants)
    fig = go.Figure()
    for variant in variants:
        curves = [run.curve(metric) for run in study.runs_of(variant) if run.seed in study.seeds]
        if not curves:
            raise ValueError(f"the study has no runs of variant {variant!r}; it has {list(settings.variants)}")
        epochs = list(range(1, len(curves[0]) + 1))
        mean = [100 * statistics.fmean(values) for values in zip(*curves, strict=True)]
        std = [100 * statistics.stdev(values) if len(values) > 1 else 0.0 for values in zip(*curves, strict=True)]
        name = study.label(variant)
        fig.add_trace(go.Scatter(x=epochs + epochs[::-1], y=[round(m + s, 3) for m, s in zip(mean, std, strict=True)]
                                 + [round(m - s, 3) for m, s in zip(mean[::-1], std[::-1], strict=True)],
                                 fill="toself", opacity=0.2, line=dict(width=0), hoverinfo="skip", showlegend=False,
                                 legendgroup=name, name=f"{name} ± std"))
        fig.add_trace(go.Scatter(x=epochs, y=[round(m, 3) for m in mean], mode="lines+markers", name=name,
                                 legendgroup=name))
    fig.update_layout(height=380, width=760, xaxis_title="epoch", margin=dict(t=40, b=40),
                      yaxis_title=f"{'mIoU' if metric == 'val_miou' else 'validation accuracy'} (%), "
                                  f"mean over {len(study.seeds)} seeds")
    return fig


def accuracy_macs_figure(studies: Mapping[str, Study]) -> go.Figure:
    """The paper's Figure 4 at toy scale: final validation accuracy (mean over seeds, error bar ± one standard
    deviation) against MACs, one panel per study (``studies``: name → :class:`~vtlab.studies.Study`), the
    baseline model and each VT variant a point."""
    if not studies:
        raise ValueError("expected at least one study")
    fig = make_subplots(rows=1, cols=len(studies), subplot_titles=list(studies), horizontal_spacing=0.08)
    for col, study in enumerate(studies.values(), start=1):
        for variant, summary in _check_study(study).summaries().items():
            label = study.label(variant)
            fig.add_trace(go.Scatter(
                x=[round(study.cost(variant).macs / 1e6, 2)], y=[round(summary.mean_accuracy, 2)],
                error_y=dict(type="data", array=[round(summary.std, 2)]), mode="markers+text", text=[label],
                textposition="top center", marker=dict(size=10, symbol="square" if variant == BASELINE else "circle",
                                                       color="#7f7f7f" if variant == BASELINE else "#1f77b4"),
                name=label, showlegend=False), row=1, col=col)
        fig.update_xaxes(title_text="MACs (M)", row=1, col=col)
    fig.update_yaxes(title_text="accuracy (%), mean ± std over seeds", row=1, col=1)
    fig.update_layout(height=420, width=min(900, 120 + 390 * len(studies)), margin=dict(t=60, b=50))
    return fig
