"""MAC and parameter counting: the paper's convention, cross-checked, and the paper's figures reproduced."""

import pytest
import torch
import torchvision
from einops import einsum
from torch.utils.flop_counter import FlopCounterMode

import vtlab
from vtlab.cost import macs_by_module, neck_inputs, neck_macs, paper
from vtlab.cost.report import (
    cost_report,
    model_cost,
    relative_error,
    section32_comparison,
    table1_comparison,
    table3_comparison,
)


def flop_counter_macs(model, x):
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(x)
    return counter.get_total_flops() // 2  # it counts a multiply-add as 2 FLOPs


def test_resnet18_convention_gives_the_papers_1_814_gmacs():
    model = torchvision.models.resnet18()
    assert vtlab.count_macs(model, 224) == 1_814_073_344
    assert round(vtlab.count_macs(model) / 1e9, 3) == paper.table1("resnet18").macs_g


@pytest.mark.parametrize("name, size", [("vt_resnet18", 224), ("vt_resnet50", (96, 128)),
                                        ("vt_resnet34", 64), ("resnet50", 80)])
def test_count_macs_agrees_with_torch_flop_counter(name, size):
    model = vtlab.create_model(name)
    hw = (size, size) if isinstance(size, int) else size
    assert vtlab.count_macs(model, size) == flop_counter_macs(model, torch.zeros(1, 3, *hw))


@pytest.mark.parametrize("name, size", [("vt_resnet18", 224), ("vt_fpn_resnet50", 473)])
def test_fused_attention_counts_the_same_macs(name, size):
    """The fused projector does the same products in one call: the count, and torch's own counter, agree."""
    fused = vtlab.create_model(name, fused_attention=True)
    assert vtlab.count_macs(fused, size) == vtlab.count_macs(vtlab.create_model(name), size)
    assert vtlab.count_macs(fused, 96) == flop_counter_macs(fused, torch.zeros(1, 3, 96, 96))


def test_einsum_macs_are_exact():
    class Product(torch.nn.Module):
        def forward(self, a):
            return einsum(a, a, "n h p d, n h l d -> n h p l")
    a = torch.zeros(1, 3, 1234, 7)  # 3 * 1234 * 1234 * 7 MACs, more digits than numpy's printout keeps
    assert vtlab.count_macs(Product(), inputs=a) == 3 * 1234 * 1234 * 7 == flop_counter_macs(Product(), a)


def test_count_params_excludes_normalization_like_the_paper():
    model = torchvision.models.resnet50()
    assert vtlab.count_params(model, include_norm=True) == sum(p.numel() for p in model.parameters()) == 25_557_032
    assert vtlab.count_params(model) == 25_557_032 - 53_120  # BatchNorm weights and biases
    for depth in ("18", "34", "50", "101"):
        ours = vtlab.count_params(vtlab.create_model(f"resnet{depth}")) / 1e6
        assert abs(ours - paper.table1(f"resnet{depth}").params_m) < 0.015


def test_count_macs_leaves_the_training_flag_alone_and_checks_size():
    model = vtlab.create_model("resnet18").train()
    vtlab.count_macs(model, 64)
    assert model.training
    with pytest.raises(ValueError, match=r"input_size as an int or \(H, W\)"):
        vtlab.count_macs(model, (64,))


@pytest.mark.parametrize("depth", ["18", "34", "50", "101"])
def test_table1_vt_resnets_within_targets(depth):
    ref, ours = paper.table1(f"vt_resnet{depth}"), model_cost(f"vt_resnet{depth}")
    assert abs(relative_error(ours.macs / 1e9, ref.macs_g)) < 5
    assert abs(relative_error(ours.params / 1e6, ref.params_m)) < 15
    base = paper.table1(f"resnet{depth}")
    assert abs(relative_error(model_cost(f"resnet{depth}").macs / 1e9, base.macs_g)) < 0.1


def test_table2_vt_stage5_is_cheaper_in_macs_than_layer4():
    for depth in ("18", "34", "50", "101"):
        ratio = model_cost(f"resnet{depth}").stage5_macs / model_cost(f"vt_resnet{depth}").stage5_macs
        assert ratio > 2 and (ratio > 5) == (depth != "18")  # paper: 2.4x, 5.0x, 6.1x, 6.9x


def test_table3_every_delta_has_the_papers_sign():
    comparison = table3_comparison()
    assert len(comparison.rows) == 6
    assert all(row[-1] == "yes" for row in comparison.rows), comparison.format()


def test_section_3_2_tokens_vs_nonlocal_within_3_percent():
    rows = {r[0].split(",")[0]: r for r in section32_comparison().rows}
    assert abs(relative_error(rows["transformer"][2], 6.3)) < 3
    assert abs(relative_error(rows["non-local"][2], 40.3)) < 3
    # the paper's closed form, 3·C²·n + 1.5·n²·C
    assert rows["transformer"][2] == round((3 * 512**2 * 8 + 1.5 * 8**2 * 512) / 1e6, 2)
    assert rows["non-local"][2] == round((3 * 512**2 * 49 + 1.5 * 49**2 * 512) / 1e6, 2)


def test_report_formats_every_table():
    text = "\n".join(c.format() for c in cost_report())
    for title in ("Table 1", "Table 2", "Table 3", "Section 3.2", "Table 4"):
        assert title in text
    assert len(table1_comparison().rows) == 8
    with pytest.raises(ValueError, match="unknown table"):
        cost_report(["5"])


def test_paper_data_is_self_consistent_where_the_paper_is():
    for depth in ("18", "34", "50"):
        base, vt = paper.table1(f"resnet{depth}"), paper.table1(f"vt_resnet{depth}")
        assert round(base.macs_g / vt.macs_g, 2) == paper.TABLE2[f"resnet{depth}"]["macs_total"]
        assert round(base.params_m / vt.params_m, 2) == paper.TABLE2[f"resnet{depth}"]["params_total"]


@pytest.mark.parametrize(("name", "size"), [("fpn_resnet_mini", (96, 72)), ("vt_fpn_resnet_mini", 64)])
def test_neck_macs_equal_the_whole_models_count_of_fpn(name, size):
    model = vtlab.create_model(name)
    assert neck_macs(model, size) == macs_by_module(model, size)["fpn"] > 0
    assert next(model.parameters()).device.type == "cpu", "the model itself stays where it was"


def test_neck_inputs_follow_resnet50s_strides_without_running_it():
    model = vtlab.create_model("fpn_resnet50")
    shapes = [tuple(f.shape) for f in neck_inputs(model, (800, 1216))]
    assert shapes == [(1, 256, 200, 304), (1, 512, 100, 152), (1, 1024, 50, 76), (1, 2048, 25, 38)]
    assert [tuple(f.shape[-2:]) for f in neck_inputs(model, 473)] == [(119, 119), (60, 60), (30, 30), (15, 15)]
