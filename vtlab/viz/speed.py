"""Figures of measured speed: what ``benchmarks/speed_curves.py`` wrote, drawn for docs/scale.md.

The results file holds ``points`` (a baseline and its VT model timed under the benchmark protocol: fresh
processes, alternated, the speed ratio baseline time / VT time per pair, with its median and range) and
``breakdowns`` (time and MACs of each part of one forward pass). Two figures:

- :func:`speed_curves_figure`: the speed ratio against batch size and image size, inference and training, with
  its range over the process pairs and the MAC ratio beside it, the speed-up the paper's cost measure predicts;
- :func:`time_per_mac_figure`: picoseconds per multiply-add of each part, so that one sees which parts do their
  MACs slowly.

:func:`speed_table` lists the points, and :func:`rewrites_table` the comparisons ``benchmarks/rewrites.py`` wrote
(a same-function rewrite against the plain model).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .render import significant

MODE_COLOURS = {"inference": "#1f77b4", "training": "#ff7f0e"}
MODEL_COLOURS = {"baseline": "#7f7f7f", "vt": "#2ca02c"}
PAIR_LABELS = {"resnet18": ("ResNet-18", "VT-R-18"), "fpn": ("FPN-R50", "VT-FPN-R50")}


def load_speed_results(path: str | Path) -> dict:
    """Read a results file of ``benchmarks/speed_curves.py``, checking that it has what the figures need."""
    results = json.loads(Path(path).read_text())
    missing = {"machine", "points", "breakdowns"} - set(results)
    if missing:
        raise ValueError(f"{path}: expected a speed_curves.py results file with machine, points and breakdowns; "
                         f"missing {sorted(missing)}")
    return results


def _panels(points: list[dict]) -> list[tuple[str, str, list[dict]]]:
    """(title, x-axis title, points) of each panel: VT-R-18 by batch at 224², by size at batch 8, VT-FPN by size."""
    resnet = [p for p in points if p["pair"] == "resnet18"]
    by_batch = [p for p in resnet if tuple(p["vt"]["size"]) == (224, 224)]
    by_size = [p for p in resnet if p["vt"]["batch"] == 8]
    fpn = [p for p in points if p["pair"] == "fpn"]
    return [("VT-R-18 / ResNet-18<br>224×224", "batch", by_batch),
            ("VT-R-18 / ResNet-18<br>batch 8", "image side (pixels)", by_size),
            ("VT-FPN-R50 / FPN-R50<br>batch 1", "image (H×W)", fpn)]


def _order(point: dict) -> tuple:
    return tuple(point["vt"]["size"]), point["vt"]["batch"]


def _x(title: str, point: dict) -> int | str:
    spec = point["vt"]
    if title == "batch":
        return spec["batch"]
    if title.startswith("image side"):
        return spec["size"][0]
    return f"{spec['size'][0]}×{spec['size'][1]}"


def speed_curves_figure(results: dict) -> go.Figure:
    """The VT model's speed over its baseline's (> 1: VT faster), median over process pairs with its range as
    error bars, against batch and image size, for inference and a training step; the MAC ratio dashed, and 1
    dotted. Panels without points are left out."""
    panels = [panel for panel in _panels(results["points"]) if panel[2]]
    if not panels:
        raise ValueError("expected measured points in the results; got none")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[title for title, _, _ in panels],
                        horizontal_spacing=0.07)
    for col, (_, x_title, points) in enumerate(panels, 1):
        for mode, colour in MODE_COLOURS.items():
            shown = sorted((p for p in points if p["mode"] == mode), key=_order)
            if not shown:
                continue
            median = [significant(p["ratio_median"]) for p in shown]
            fig.add_trace(go.Scatter(
                x=[_x(x_title, p) for p in shown], y=median, mode="lines+markers", name=mode, legendgroup=mode,
                showlegend=col == 1, line=dict(color=colour),
                error_y=dict(type="data", symmetric=False,
                             array=[significant(p["ratio_max"] - p["ratio_median"]) for p in shown],
                             arrayminus=[significant(p["ratio_median"] - p["ratio_min"]) for p in shown]),
                hovertemplate=f"{mode}<br>%{{x}}: VT speed / baseline %{{y:.3f}}<extra></extra>"), row=1, col=col)
        macs = {_x(x_title, p): significant(p["mac_ratio"]) for p in sorted(points, key=_order)}
        fig.add_trace(go.Scatter(
            x=list(macs), y=list(macs.values()), mode="lines+markers", name="MAC ratio (baseline / VT)",
            legendgroup="macs", showlegend=col == 1, line=dict(color="#2ca02c", dash="dash"),
            marker=dict(symbol="diamond"),
            hovertemplate="MAC ratio %{y:.2f}<extra></extra>"), row=1, col=col)
        fig.add_hline(y=1, line=dict(color="#444", dash="dot", width=1), row=1, col=col)
        fig.update_xaxes(title_text=x_title, type="category" if not x_title.startswith("batch") else "log",
                         row=1, col=col)
        if x_title == "batch":
            fig.update_xaxes(tickvals=sorted({_x(x_title, p) for p in points}), row=1, col=col)
    fig.update_yaxes(title_text="VT speed / baseline speed", row=1, col=1)
    fig.update_layout(height=440, margin=dict(t=70, l=60, r=20, b=50),
                      legend=dict(orientation="h", y=-0.22, x=0), template="plotly_white")
    return fig


def time_per_mac_figure(results: dict, min_share: float = 0.001) -> go.Figure:
    """For each breakdown (one model pair at one batch and size): picoseconds per multiply-add of each part,
    baseline and VT side by side, with each part's time as a label. Parts that do less than ``min_share`` of their
    model's MACs (a classifier's single linear layer) and the time without MACs in vtlab's count (norms,
    activations, pooling) have no meaningful rate: they are left out of the bars and named in the hover text of
    the total."""
    breakdowns = results["breakdowns"]
    if not breakdowns:
        raise ValueError("expected per-part breakdowns in the results; got none")
    titles = [f"{' vs '.join(PAIR_LABELS[b['pair']])}<br>batch {b['batch']}, {b['size'][0]}×{b['size'][1]}"
              for b in breakdowns]
    fig = make_subplots(rows=1, cols=len(breakdowns), subplot_titles=titles, horizontal_spacing=0.18)
    for col, b in enumerate(breakdowns, 1):
        order, longest = [], 0.0
        for role, parts in zip(("baseline", "vt"), b["parts"].values(), strict=True):
            total = parts["total"]
            shown = {name: r for name, r in parts.items()
                     if name not in ("other", "total") and r["macs"] >= min_share * total["macs"]}
            left_out = {name: r for name, r in parts.items() if name not in shown and name != "total"}
            shown["total"] = total
            order += [name for name in shown if name not in order and name != "total"]
            rates = [1e12 * r["seconds"] / r["macs"] for r in shown.values()]
            longest = max(longest, *rates)
            note = ", ".join(f"{name} {1000 * r['seconds']:.1f} ms" for name, r in left_out.items())
            fig.add_trace(go.Bar(
                y=list(shown), x=[significant(rate) for rate in rates], orientation="h",
                name="baseline" if role == "baseline" else "VT", legendgroup=role, showlegend=col == 1,
                marker_color=MODEL_COLOURS[role], cliponaxis=False,
                text=[f"{1000 * r['seconds']:.1f} ms" for r in shown.values()], textposition="outside",
                customdata=[[significant(r["macs"] / 1e9), note if name == "total" else ""]
                            for name, r in shown.items()],
                hovertemplate=(f"{PAIR_LABELS[b['pair']][role == 'vt']}, %{{y}}<br>%{{x:.1f}} ps per MAC<br>"
                               "%{text} for %{customdata[0]} GMAC<br>%{customdata[1]}<extra></extra>")),
                row=1, col=col)
        fig.update_xaxes(title_text="time per multiply-add (ps)", range=[0, 1.35 * longest], row=1, col=col)
        fig.update_yaxes(categoryorder="array", categoryarray=[*order, "total"], autorange="reversed",
                         row=1, col=col)
    fig.update_layout(barmode="group", height=460, margin=dict(t=70, l=90, r=20, b=50), template="plotly_white",
                      legend=dict(orientation="h", y=-0.18, x=0))
    return fig


def _per_image_ms(entry: dict) -> list[float]:
    """Milliseconds per image of an entry's two models: the median over its processes, divided by the batch."""
    batch = entry["baseline"]["batch"]
    return [1000 * statistics.median(entry[side]) / batch for side in ("baseline_seconds", "vt_seconds")]


def speed_table(results: dict) -> str:
    """Every measured point as a Markdown table: the per-image times and the speed ratio with its range."""
    lines = ["| models | mode | batch | image | baseline, ms per image | VT, ms per image | VT speed / baseline "
             "(median, range) | MAC ratio |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p in results["points"]:
        vt = p["vt"]
        per_image = _per_image_ms(p)
        lines.append(f"| {' / '.join(PAIR_LABELS[p['pair']][::-1])} | {p['mode']} | {vt['batch']} | "
                     f"{vt['size'][0]}×{vt['size'][1]} | {per_image[0]:.1f} | {per_image[1]:.1f} | "
                     f"{p['ratio_median']:.2f} ({p['ratio_min']:.2f}–{p['ratio_max']:.2f}) | {p['mac_ratio']:.2f} |")
    return "\n".join(lines)


def rewrites_table(results: dict) -> str:
    """``benchmarks/rewrites.py``'s comparisons as a Markdown table: each rewrite's speed over the plain model's."""
    lines = ["| model | mode | batch | image | rewrite | plain, ms per image | rewritten, ms per image | "
             "rewritten / plain speed (median, range) |", "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    for c in results["comparisons"]:
        spec = c["baseline"]
        per_image = _per_image_ms(c)
        lines.append(f"| {spec['model']} | {spec['mode']} | {spec['batch']} | {spec['size'][0]}×{spec['size'][1]} | "
                     f"{c['rewrite']} | {per_image[0]:.1f} | {per_image[1]:.1f} | {c['ratio_median']:.2f} "
                     f"({c['ratio_min']:.2f}–{c['ratio_max']:.2f}) |")
    return "\n".join(lines)
