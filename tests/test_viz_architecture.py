"""The architecture diagram is the model's: its rows follow the modules, their shapes come from running the model,
their MACs add up to the model's count."""

from __future__ import annotations

import pytest

from vtlab.cost.report import stage_costs
from vtlab.viz.architecture import (
    KIND_COLOURS,
    architecture_figure,
    model_layout,
    vt_vs_patch_figure,
    vt_vs_patch_tokens,
)


@pytest.mark.parametrize("name", ["resnet18", "vt_resnet18"])
def test_rows_add_up_to_the_model(name: str):
    rows = model_layout(name)
    costs = stage_costs(name)
    assert sum(r.macs for r in rows) == costs.macs["total"]
    assert sum(r.params for r in rows) <= costs.params["total"]  # the VT blocks' norms are outside their parts
    assert rows[0].output == (64, 56, 56) and rows[-1].output == (1000,)


def test_vt_rows_are_the_blocks_with_their_tokens():
    rows = model_layout("vt_resnet18")
    blocks = [r for r in rows if "VT block" in r.label]
    assert [r.tokens for r in blocks] == [(8, 1024), (8, 1024)]
    assert [r.output for r in blocks] == [(512, 14, 14), (512, 14, 14)]
    assert "static" in blocks[0].label and "projector" in blocks[0].label
    assert "dynamic" in blocks[1].label and "projector" not in blocks[1].label
    assert model_layout("resnet18")[-2].output == (512, 7, 7)


def test_figure_has_one_bar_per_stage_and_fits_the_site():
    fig = architecture_figure("vt_resnet18", 64)
    assert [t.name for t in fig.data] == list(KIND_COLOURS)
    assert sum(len(t.y) for t in fig.data) == len(model_layout("vt_resnet18", 64))
    assert fig.layout.width <= 530


def test_vt_against_patch_tokens_counts():
    rows = {r.quantity: r for r in vt_vs_patch_tokens()}
    assert (rows["tokens per image"].vt, rows["tokens per image"].patches) == (8, 196)
    assert rows["attention entries per layer and head"].patches == 196**2
    assert rows["MACs to make the tokens"].patches == 196 * (16 * 16 * 3) * 768  # a strided conv: one per patch
    assert rows["MACs of one equation-(3) layer"].vt < rows["MACs of one equation-(3) layer"].patches
    assert [t.name for t in vt_vs_patch_figure(list(rows.values())).data] == [
        "VT: VT-ResNet-18, stage 5", "patch tokens (ViT-B/16 sizes)"]
