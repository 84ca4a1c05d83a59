"""Every learned VT weight learns: a few dozen AdamW steps from scratch move each one at the rate of its
neighbours (docs/paper-fidelity.md, "Every weight learns"). A weight stored at unit variance and divided by √C in
the forward pass, as vtlab once stored the static W_A, moves √C times slower under Adam; the check finds it."""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import vtlab
from vtlab.probe import coefficient_maps, learned_weights, token_diversity, weight_changes
from vtlab.train.engine import create_data

STEPS, LAG = 30, 8  # a weight fails if it moved less than 1/LAG of the median VT weight's relative change


class DividedBySqrtC(nn.Module):
    """The old parametrisation: the weight used is the stored one divided by √C."""

    def __init__(self, C: int):
        super().__init__()
        self.C = C

    def forward(self, stored: torch.Tensor) -> torch.Tensor:
        return stored / math.sqrt(self.C)


def relative_changes(name: str, task: str, prefix: str, divide_static_filters: bool = False) -> dict[str, float]:
    torch.manual_seed(0)
    data = create_data(task, "shapes", "train", None, length=STEPS * 16)
    model = vtlab.create_model(name, num_classes=data.num_classes).train()
    if divide_static_filters:  # unit-variance entries, divided in the forward pass: the same initial logits
        for tokenizer in [m for m in model.modules() if isinstance(m, vtlab.vt.StaticTokenizer)]:
            with torch.no_grad():
                tokenizer.W_A.mul_(math.sqrt(tokenizer.C))
            parametrize.register_parametrization(tokenizer, "W_A", DividedBySqrtC(tokenizer.C))
    before = learned_weights(model, prefix)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)  # the quick recipes' optimizer
    for x, y in torch.utils.data.DataLoader(data, batch_size=16, shuffle=True):
        loss = nn.functional.cross_entropy(model(x), y, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if divide_static_filters:  # measure the stored weight, the one Adam steps
        before = {k.removesuffix("W_A") + "parametrizations.W_A.original" if k.endswith(".W_A") else k: v
                  for k, v in before.items()}
    return weight_changes(before, model)


def laggards(changes: dict[str, float]) -> dict[str, float]:
    median = statistics.median(changes.values())
    return {k: round(v / median, 3) for k, v in changes.items() if v < median / LAG}


@pytest.mark.parametrize(("name", "task", "prefix"), [("vt_resnet_mini", "classify", "vt."),
                                                      ("vt_fpn_resnet_mini", "segment", "fpn.")])
def test_every_vt_weight_moves_with_its_neighbours(name, task, prefix):
    changes = relative_changes(name, task, prefix)
    assert any(".W_A" in k for k in changes) and any("downsample_convs" in k for k in changes)
    assert not laggards(changes), f"weights that lag the median VT weight over {LAG}x: {laggards(changes)}"


def test_the_check_finds_a_filter_divided_in_the_forward_pass():
    lagging = laggards(relative_changes("vt_resnet_mini", "classify", "vt.", divide_static_filters=True))
    assert set(lagging) == {"vt.blocks.0.tokenizer.parametrizations.W_A.original"}, lagging


def test_the_static_maps_start_apart():
    """The collapse the unit-spread logits once fixed stays fixed: at initialisation the static filter's logits
    have the features' spread and its maps are far from alike."""
    torch.manual_seed(0)
    model = vtlab.create_model("vt_resnet_mini", num_classes=6).eval()
    images = torch.stack([create_data("classify", "shapes", "val", None, length=64)[i][0] for i in range(64)])
    tokenizer = model.vt.blocks[0].tokenizer
    seen = []
    handle = tokenizer.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        maps = coefficient_maps(model, images)
    finally:
        handle.remove()
    logits = torch.einsum("lc,nchw->nlhw", tokenizer.W_A.detach(), seen[0])
    assert 0.5 < logits.std().item() < 2.0
    assert token_diversity(maps[0])["cosine"] < 0.5
