"""Inputs of the public model API and of the vtlab.viz helpers: each wrong type or range is one ValueError line
naming the option, what it takes and what came (no traceback from deep inside torch or plotly, nothing built or
drawn silently wrong); inputs with one clear meaning (an integer image of 8-bit levels, a model on the meta
device) work."""

import base64
import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

import vtlab
from vtlab.train.recipes import get_recipe
from vtlab.viz import probe, tokens, training
from vtlab.vt import VTConfig

VT_SWITCHES = ["transformer", "position_encoding", "dynamic", "scaled", "tokenizer_norm", "fused_attention"]


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


# --- models -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [["vt_resnet_mini"], 18, None])
def test_a_model_name_that_is_no_string_is_a_clear_error(name):
    with pytest.raises(ValueError, match=r"expected a model name \(a str, e\.g\. 'vt_resnet18'\), got ") as error:
        vtlab.create_model(name)
    assert type(name).__name__ in one_line(error)


@pytest.mark.parametrize("name", ["resnet_mini", "vt_resnet_mini"])
@pytest.mark.parametrize("dropout", ["0.1", 1.0, -0.1, math.nan, True])
def test_dropout_must_be_a_number_in_0_1(name, dropout):
    with pytest.raises(ValueError, match=r"expected dropout to be a number >= 0 and < 1, got ") as error:
        vtlab.create_model(name, num_classes=3, dropout=dropout)
    assert repr(dropout) in one_line(error)


@pytest.mark.parametrize("option", VT_SWITCHES)
def test_a_vt_switch_given_as_a_string_is_refused_not_built(option):
    with pytest.raises(ValueError, match=rf"expected {option} to be True or False, got 'False' \(str\)"):
        vtlab.create_model("vt_resnet_mini", num_classes=3, **{option: "False"})


@pytest.mark.parametrize("fields, message", [
    ({"L": "8"}, r"expected L to be a positive integer, got '8' \(str\)"),
    ({"CT": 256.0}, r"expected CT to be a positive integer, got 256\.0"),
    ({"position_downsample": -1}, r"expected position_downsample to be an integer >= 0, got -1"),
    ({"dynamic": 0}, r"expected dynamic to be True or False, got 0"),
    ({"position_resize": "area"}, r"expected position_resize to be one of 'bilinear', 'nearest', got 'area'"),
])
def test_vtconfig_checks_each_field_itself(fields, message):
    with pytest.raises(ValueError, match=message) as error:
        VTConfig(**fields)
    one_line(error)


def test_a_runs_model_options_are_checked_before_anything_is_built():
    from vtlab.models.registry import check_model_options

    with pytest.raises(ValueError, match=r"expected dynamic to be True or False, got 'no' \(str\)"):
        check_model_options("vt_resnet_mini", {"dynamic": "no"})
    with pytest.raises(ValueError, match=r"unknown VT options \['colour'\]"):
        check_model_options("vt_resnet_mini", {"colour": 1})
    check_model_options("vt_resnet_mini", {"dynamic": False, "dropout": 0.2, "num_classes": 4})


@pytest.mark.parametrize("name", ["resnet_mini", "vt_resnet_mini", "vt_fpn_resnet_mini"])
def test_a_model_on_the_meta_device_runs_for_shapes(name):
    with torch.device("meta"):
        model = vtlab.create_model(name, num_classes=3)
    out = model(torch.empty(2, 3, 64, 64, device="meta"))
    assert out.device.type == "meta" and out.shape[:2] == (2, 3)


# --- vtlab.viz ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [0, -2, 1.5, "3"])
def test_token_grid_columns_must_be_a_positive_integer(columns):
    with pytest.raises(ValueError, match="expected columns to be a positive integer, got ") as error:
        tokens.token_grid_figure(torch.rand(3, 32, 32), torch.rand(4, 4, 4), columns=columns)
    one_line(error)


@pytest.mark.parametrize("options, message", [
    ({"points_per_epoch": 0}, "expected points_per_epoch to be a positive integer, got 0"),
    ({"points_per_epoch": -4}, "expected points_per_epoch to be a positive integer, got -4"),
    ({"batch_sizes": (256, 0)}, r"expected batch_sizes\[1\] to be a positive integer, got 0"),
    ({"batch_sizes": (-256,)}, r"expected batch_sizes\[0\] to be a positive integer, got -256"),
    ({"epochs": 0}, "expected epochs to be a positive integer, got 0"),
])
def test_lr_schedule_points_epochs_and_batch_sizes_must_be_positive(options, message):
    with pytest.raises(ValueError, match=message) as error:
        training.lr_schedule_figure(get_recipe("quick"), **options)
    one_line(error)


def test_a_metrics_row_without_a_key_names_it():
    rows = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "val_acc": 0.5}, {"epoch": 2, "train_loss": 0.9}]
    with pytest.raises(ValueError, match=r"row 1 of run 'quick'.*lacks 'val_loss', 'val_acc'") as error:
        training.curves_figure({"quick": rows})
    one_line(error)
    history = [{"epoch": 1, "block": 0, "cosine": 0.5, "effective_tokens": 3.0, "lift": 2.0}]
    with pytest.raises(ValueError, match=r"row 0 of the token measurements.*lacks 'on_objects'"):
        probe.token_history_figure(history)


def decoded(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_an_integer_image_of_8_bit_levels_is_drawn_as_those_levels():
    levels = torch.randint(0, 256, (3, 8, 8), generator=torch.Generator().manual_seed(0))
    assert np.array_equal(decoded(tokens.image_png(levels)), levels.permute(1, 2, 0).numpy())
    with pytest.raises(ValueError, match=r"integers in 0\.\.255.*got torch\.int64 values in 0\.\.1000") as error:
        tokens.image_png(torch.arange(3 * 4 * 4).reshape(3, 4, 4) * 1000 // 47)
    one_line(error)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_maps_with_nan_or_inf_are_refused_not_drawn_empty(bad):
    maps = torch.rand(2, 4, 4)
    maps[1, 2, 3] = bad
    with pytest.raises(ValueError, match="expected a coefficient map of finite values, got 1 NaN or infinite"):
        tokens.token_grid_figure(torch.rand(3, 32, 32), maps)
    with pytest.raises(ValueError, match="finite values"):
        tokens.token_map_figure(torch.rand(3, 32, 32), maps[1])
