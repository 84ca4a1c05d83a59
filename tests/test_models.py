"""Models: registry, shapes, batch size 1, non-square inputs, gradients, ablation switches, clear errors."""

import pytest
import torch
import torchvision

import vtlab
from vtlab.models import VT_CONFIGS, VTResNet
from vtlab.vt import PositionEncoder, StaticTokenizer, TokenConv, Transformer, VTConfig, parts
from vtlab.vt.block import ABLATION_SWITCHES

ALL = ["resnet18", "resnet34", "resnet50", "resnet101", "vt_resnet18", "vt_resnet34", "vt_resnet50", "vt_resnet101",
       "resnet_mini", "vt_resnet_mini"]


def test_registry_lists_baselines_and_vt_resnets():
    assert set(ALL) <= set(vtlab.list_models())
    assert vtlab.list_models("vt_resnet*") == sorted(n for n in ALL if n.startswith("vt_"))
    with pytest.raises(ValueError, match="unknown model 'vt_resnet19'.*vt_resnet18"):
        vtlab.create_model("vt_resnet19")


@pytest.mark.parametrize("name", ALL)
def test_every_model_classifies_a_batch(name):
    model = vtlab.create_model(name, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)


@pytest.mark.parametrize("name", ["vt_resnet18", "vt_resnet50"])
def test_table5_stage5_at_224(name):
    model = vtlab.create_model(name).eval()
    with torch.no_grad():
        X, T, coefficients = model.forward_features(torch.randn(1, 3, 224, 224), return_coefficients=True)
    C = 512 if name == "vt_resnet18" else 1024
    assert X.shape == (1, C, 14, 14)  # stage 5 stays at 14x14
    assert T.shape == (1, 8, 1024)  # L = 8, CT = 1024
    assert len(coefficients) == {"vt_resnet18": 2, "vt_resnet50": 3}[name]
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


@pytest.mark.parametrize("size", [(32, 32), (48, 80), (97, 61), (224, 160)])
def test_any_rgb_input_of_at_least_32_pixels(size):
    model = vtlab.create_model("vt_resnet18", num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 5)


def test_batch_size_one_trains():
    model = vtlab.create_model("vt_resnet18", num_classes=3).train()
    loss = torch.nn.functional.cross_entropy(model(torch.randn(1, 3, 64, 64)), torch.tensor([1]))
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.parametrize("options", [{}, {"transformer": False}, {"position_encoding": False}, {"dynamic": False}])
def test_gradients_reach_every_parameter(options):
    model = vtlab.create_model("vt_resnet18", num_classes=4, **options).train()
    out = model(torch.randn(2, 3, 64, 48))
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 3])).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"no gradient reaches {missing}"


def test_ablation_switches_change_the_right_modules():
    base = vtlab.create_model("vt_resnet34")
    assert all(isinstance(b.transformer, Transformer) for b in base.vt.blocks)
    no_tf = vtlab.create_model("vt_resnet34", transformer=False)
    assert all(isinstance(b.transformer, TokenConv) for b in no_tf.vt.blocks)
    no_pe = vtlab.create_model("vt_resnet34", position_encoding=False)
    assert all(b.tokenizer.position_encoder is None for b in no_pe.vt.blocks)
    no_dt = vtlab.create_model("vt_resnet34", dynamic=False)
    assert all(isinstance(b.tokenizer, StaticTokenizer) for b in no_dt.vt.blocks)


def test_block_and_vt_fpn_build_the_relation_registered_for_the_config(monkeypatch):
    class Marked(TokenConv):
        pass

    monkeypatch.setitem(parts.RELATIONS, "pointwise", lambda config: Marked(config.CT, config.CT))
    classifier = vtlab.create_model("vt_resnet_mini", transformer=False)
    neck = vtlab.create_model("vt_fpn_resnet_mini", transformer=False).fpn
    assert all(isinstance(b.transformer, Marked) for b in classifier.vt.blocks)
    assert isinstance(neck.transformer, Marked)
    assert not isinstance(vtlab.create_model("vt_fpn_resnet_mini").fpn.transformer, Marked)


def test_table3_ablations_are_the_switches_declared_beside_vtconfig():
    from vtlab.cli import ABLATIONS as CLI_ABLATIONS
    from vtlab.cost import paper
    from vtlab.viz.ablation import SWITCHES

    assert ABLATION_SWITCHES == {"TF": "transformer", "PE": "position_encoding", "DT": "dynamic"}
    assert all(getattr(VTConfig(), switch) is True for switch in ABLATION_SWITCHES.values())  # an ablation turns off
    assert paper.ABLATIONS == {"-TF": {"transformer": False}, "-PE": {"position_encoding": False},
                               "-DT": {"dynamic": False}}
    assert CLI_ABLATIONS == {label.removeprefix("-"): options for label, options in paper.ABLATIONS.items()}
    assert SWITCHES == ABLATION_SWITCHES


def test_stages_1_to_4_load_torchvision_weights():
    reference = torchvision.models.resnet18()
    model = vtlab.create_model("vt_resnet18")
    loaded = model.load_backbone_state_dict(reference.state_dict())
    assert "layer3.1.conv2.weight" in loaded and not any(k.startswith(("vt.", "fc.")) for k in loaded)
    torch.testing.assert_close(model.layer3[1].conv2.weight, reference.layer3[1].conv2.weight)
    torch.testing.assert_close(model.bn1.running_var, reference.bn1.running_var)
    with pytest.raises(ValueError, match="missing"):
        vtlab.create_model("vt_resnet50").load_backbone_state_dict(reference.state_dict())


def test_table5_configs():
    assert {n: (c.C, c.CT, c.L, c.depth) for n, c in VT_CONFIGS.items()} == {
        "vt_resnet18": (512, 1024, 8, 2), "vt_resnet34": (512, 1024, 8, 3),
        "vt_resnet50": (1024, 1024, 8, 3), "vt_resnet101": (1024, 1024, 8, 3)}
    assert isinstance(vtlab.create_model("vt_resnet101"), VTResNet)


# --- errors: a ValueError that names what was expected -------------------------------------------------

@pytest.mark.parametrize("name", ["resnet18", "vt_resnet18"])
@pytest.mark.parametrize("bad, message", [
    (torch.randn(3, 64, 64), r"4D tensor \(N, 3, H, W\), got \(3, 64, 64\)"),
    (torch.randn(1, 1, 64, 64), r"3 channels .* got shape \(1, 1, 64, 64\)"),
    (torch.randn(1, 3, 31, 64), r"at least 32x32 pixels, got 31x64"),
])
def test_bad_inputs_raise_clear_errors(name, bad, message):
    model = vtlab.create_model(name).eval()
    with pytest.raises(ValueError, match=message):
        model(bad)


@pytest.mark.parametrize("options, message", [
    ({"heads": 5}, r"heads=5 must divide CT/2 \(the key width\)=512"),
    ({"tokenizer_heads": 5}, r"heads=5 must divide C=512"),
    ({"heads": 3, "C": 513}, r"heads=3 must divide CT/2"),
    ({"position_resize": "area"}, r"expected position_resize to be one of 'bilinear', 'nearest', got 'area'"),
    ({"L": 7}, r"expected an even L, got L=7"),
    ({"kqv_groups": 3}, r"groups=3 must divide in_channels=1024"),
    ({"CT": 0}, r"expected CT to be a positive integer, got 0"),
    ({"depth": 0}, r"expected depth to be a positive integer, got 0"),
    ({"position_size": 12, "position_downsample": 3}, r"2\*\*num_downsample dividing size=12"),
    ({"colour": 1}, r"unknown VT options \['colour'\]"),
])
def test_impossible_configurations_raise_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        vtlab.create_model("vt_resnet18", **options)


def test_odd_token_count_is_fine_when_static():
    model = vtlab.create_model("vt_resnet18", L=7, dynamic=False, num_classes=2).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2)


def test_module_inputs_are_checked():
    tok = StaticTokenizer(16, 32, 4)
    with pytest.raises(ValueError, match=r"16 channels \(N, 16, H, W\), got shape \(1, 8, 5, 5\)"):
        tok(torch.randn(1, 8, 5, 5))
    with pytest.raises(ValueError, match=r"3D tensor \(N, L, 32\), got \(4, 32\)"):
        Transformer(32)(torch.randn(4, 32))
    assert VTConfig().replace(L=4).L == 4
    with pytest.raises(ValueError, match=r"position encoder over the tokenizer's 2 coefficient map\(s\) per token, "
                                         r"got one over 1"):
        StaticTokenizer(16, 32, 4, heads=2, position_encoding=PositionEncoder(heads=1))
