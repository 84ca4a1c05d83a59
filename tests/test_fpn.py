"""Segmentation models: FPN and VT-FPN shapes, the neck's cost by hand and against Table 4, errors, mIoU."""

import math

import pytest
import torch

import vtlab
from vtlab.cost import macs_by_module, paper
from vtlab.cost.report import relative_error, table4_comparison
from vtlab.models import model_task
from vtlab.models.fpn import BACKBONES, ResNetFeatures
from vtlab.train.metrics import segmentation_metrics

SEGMENTATION = ["fpn_resnet50", "fpn_resnet101", "vt_fpn_resnet50", "vt_fpn_resnet101", "fpn_resnet_mini",
                "vt_fpn_resnet_mini"]


def test_registry_lists_the_segmentation_models():
    assert set(SEGMENTATION) <= set(vtlab.list_models("*fpn*"))
    assert all(model_task(name) == "segment" for name in SEGMENTATION)
    assert model_task("vt_resnet18") == "classify"


@pytest.mark.parametrize("name", ["fpn_resnet50", "vt_fpn_resnet50", "fpn_resnet_mini", "vt_fpn_resnet_mini"])
@pytest.mark.parametrize("size", [(64, 64), (64, 97), (131, 75)])
def test_per_pixel_logits_at_the_input_resolution(name, size):
    model = vtlab.create_model(name, num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 5, *size)


def test_vt_fpn_tokens_per_level_and_coefficients():
    model = vtlab.create_model("vt_fpn_resnet50").eval()
    with torch.no_grad():
        maps, coefficients = model.forward_features(torch.randn(1, 3, 128, 96), return_coefficients=True)
    assert [m.shape for m in maps] == [(1, 256, 32, 24), (1, 256, 16, 12), (1, 256, 8, 6), (1, 256, 4, 3)]
    # one coefficient map per token (equation 1), at each level's resolution
    assert [A.shape for A in coefficients] == [(1, 1, h * w, 8) for h, w in ((32, 24), (16, 12), (8, 6), (4, 3))]
    # each token is a weighted average of its level's pixels
    assert all(torch.allclose(A.sum(dim=2), torch.ones(1, 16, 8)) for A in coefficients)


def test_one_transformer_sees_all_levels_tokens():
    neck = vtlab.create_model("vt_fpn_resnet_mini").fpn.eval()
    seen = []
    neck.transformer.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    features = [torch.randn(2, c, s, s) for c, s in zip((16, 32, 64, 128), (32, 16, 8, 4), strict=True)]
    with torch.no_grad():
        out = neck(features)
    assert seen == [(2, 4 * 8, 128)] and [o.shape[1:] for o in out] == [(64, s, s) for s in (32, 16, 8, 4)]


@pytest.mark.parametrize("fusion", ["gated", "sum"])
def test_gradients_reach_every_parameter_of_vt_fpn(fusion):
    torch.manual_seed(0)
    model = vtlab.create_model("vt_fpn_resnet_mini", num_classes=3, fusion=fusion).train()

    def missing() -> list[str]:
        model.zero_grad(set_to_none=True)
        out = model(torch.randn(2, 3, 64, 80))
        torch.nn.functional.cross_entropy(out, torch.randint(0, 3, (2, 64, 80))).backward()
        return [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]

    if fusion == "gated":  # γ = 0 at the start: only the gate itself (and the norm's shift) hears the loss ...
        assert all(".feature_norms." not in name for name in missing())
        assert {name for name in missing() if name.startswith("fpn.")} > {"fpn.tokenizers.0.W_A"}
        with torch.no_grad():  # ... and once it opens, every weight does
            for norm in model.fpn.feature_norms:
                norm.weight.fill_(0.5)
    assert not missing()


def test_gated_fusion_starts_as_the_lateral_control_which_builds_no_tokens():
    torch.manual_seed(0)
    features = [torch.randn(2, c, s, s) for c, s in zip((16, 32, 64, 128), (32, 16, 8, 4), strict=True)]
    gated = vtlab.create_model("vt_fpn_resnet_mini").fpn.eval()
    with torch.no_grad():  # the BatchNorms' shift starts at 0, so the read-back term adds exactly 0
        for X_out, X_i in zip(gated(features), gated.laterals(features), strict=True):
            torch.testing.assert_close(X_out, X_i)
    lateral = vtlab.create_model("vt_fpn_resnet_mini", fusion="none").fpn.eval()
    assert not hasattr(lateral, "tokenizers") and not hasattr(lateral, "projectors")
    lateral.lateral.load_state_dict(gated.lateral.state_dict())
    with torch.no_grad():
        out, coefficients = lateral(features, return_coefficients=True)
    assert coefficients == []
    for a, b in zip(out, gated.laterals(features), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="fusion"):
        vtlab.create_model("vt_fpn_resnet_mini", fusion="add")


def test_errors_name_what_was_expected():
    model = vtlab.create_model("fpn_resnet_mini")
    with pytest.raises(ValueError, match="at least 64x64"):
        model(torch.randn(1, 3, 63, 80))
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="only in VT-FPN"):
        model.forward_features(torch.randn(1, 3, 64, 64), return_coefficients=True)
    neck = vtlab.create_model("vt_fpn_resnet_mini").fpn
    with pytest.raises(ValueError, match="expected 4 feature maps"):
        neck([torch.randn(1, 16, 8, 8)])
    with pytest.raises(ValueError, match="level 1 feature map to have 32 channels"):
        neck([torch.randn(1, 16, 8, 8), torch.randn(1, 16, 4, 4), torch.randn(1, 64, 2, 2), torch.randn(1, 128, 1, 1)])
    with pytest.raises(ValueError, match="unknown VT options"):
        vtlab.create_model("vt_fpn_resnet50", tokens=8)


def fpn_neck_macs_by_hand(H: int, W: int, in_channels=(256, 512, 1024, 2048), out=256) -> int:
    """Lateral 1x1 convs plus 3x3 output convs on each level (the top-down sum and upsampling are no MACs)."""
    h, w = math.ceil(H / 4), math.ceil(W / 4)  # the stem and max-pool of a ResNet: stride 4, rounding up
    total = 0
    for c in in_channels:
        total += h * w * (c * out + 9 * out * out)
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return total


@pytest.mark.parametrize("size", [(96, 128), (473, 473)])
def test_fpn_neck_macs_match_the_conv_shapes(size):
    model = vtlab.create_model("fpn_resnet50")
    assert macs_by_module(model, size)["fpn"] == fpn_neck_macs_by_hand(*size)


def test_fpn_neck_by_hand_is_table4_at_coco_stuff_size():
    # 55.10 G at 800x1216 with no model built: the paper's figure comes from the conv shapes alone
    assert round(fpn_neck_macs_by_hand(800, 1216) / 1e9, 1) == 55.1


def test_resnet101_models_count_as_backbone_plus_resnet50_neck_and_head():
    size = (96, 80)
    r50, r101 = (macs_by_module(vtlab.create_model(n, num_classes=20), size) for n in ("vt_fpn_resnet50",
                                                                                       "vt_fpn_resnet101"))
    backbone101 = macs_by_module(ResNetFeatures(*BACKBONES["101"]), size)[""]
    assert r101[""] == r50[""] - r50["backbone"] + backbone101 and r101["fpn"] == r50["fpn"]


def test_table4_within_targets():
    table = table4_comparison()
    necks = [row for row in table.rows if row[2] in ("FPN", "VT-FPN")]
    assert len(necks) == 8
    for row in necks:
        assert abs(relative_error(row[4], row[3])) < 15  # the neck's MACs
        assert abs(relative_error(row[7], row[6])) < 10  # the whole model's, beside the paper's
    ratios = [row for row in table.rows if row[2] == "ratio"]
    assert len(ratios) == 4 and all(row[4] >= 5 for row in ratios)
    assert {row.dataset for row in paper.TABLE4} == set(paper.TABLE4_INPUT_SIZES)


def test_miou_and_pixel_accuracy_against_a_hand_computed_confusion_matrix():
    labels = torch.tensor([[0, 0, 1, 1], [1, 2, 2, 255], [2, 2, 0, 255]]).unsqueeze(0)
    predictions = torch.tensor([[0, 1, 1, 1], [1, 2, 0, 0], [2, 1, 0, 3]]).unsqueeze(0)
    # labelled pixels only (255 ignored); rows: label, columns: prediction
    confusion = torch.zeros(4, 4, dtype=torch.long)
    for label, prediction in zip(labels.flatten().tolist(), predictions.flatten().tolist(), strict=True):
        if label != 255:
            confusion[label, prediction] += 1
    assert confusion.tolist() == [[2, 1, 0, 0], [0, 3, 0, 0], [1, 1, 2, 0], [0, 0, 0, 0]]
    # IoU = TP / (TP + FP + FN): class 0: 2/(2+1+1)=0.5, 1: 3/(3+2+0)=0.6, 2: 2/(2+0+2)=0.5; class 3 occurs in
    # neither labelled pixels nor their predictions, so it has no IoU
    metrics = segmentation_metrics(4)
    metrics.update(predictions[:, :, :2], labels[:, :, :2])  # accumulated over two batches
    metrics.update(predictions[:, :, 2:], labels[:, :, 2:])
    result = metrics.compute()
    assert float(result["miou"]) == pytest.approx((0.5 + 0.6 + 0.5) / 3)
    assert float(result["pixel_acc"]) == pytest.approx(7 / 10)
    with pytest.raises(ValueError, match="num_classes to be an integer >= 2"):
        segmentation_metrics(1)
