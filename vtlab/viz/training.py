"""Figures of training: a recipe's learning-rate schedule and a run's curves (from ``metrics.csv`` rows)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..train.recipes import Recipe, lr_factor


def lr_schedule_figure(recipe: Recipe, batch_sizes: Sequence[int] = (), points_per_epoch: int = 4,
                       epochs: int | None = None) -> go.Figure:
    """The learning rate over a run of ``recipe`` for each global batch size (the recipe's own by default):
    peak and warm-up lr scale linearly with the batch (:meth:`Recipe.scaled_lr`)."""
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
        epochs = [int(row["epoch"]) for row in rows]
        for key, dash in (("train_loss", "dot"), ("val_loss", "solid")):
            fig.add_trace(go.Scatter(x=epochs, y=[round(float(row[key]), 4) for row in rows], mode="lines+markers",
                                     name=f"{name} {key.split('_')[0]}", line=dict(dash=dash)), row=1, col=1)
        fig.add_trace(go.Scatter(x=epochs, y=[round(float(row["val_acc"]), 4) for row in rows],
                                 mode="lines+markers", name=f"{name} val acc"), row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=380, margin=dict(t=50, b=40))
    return fig
