"""Each notebook's FULL = True configuration (the GPU path) is built on the CPU without training: what the
notebook would set with FULL is read from its source, and every model and dataset it would build is built and
run on one tiny input. The GPU path then cannot rot unseen on a machine without one (a GPU run executes it:
see the report of the device check)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import torch

from vtlab.cost.scaling import BLOCKS, DEFAULT_CONFIG, block_inputs, scaling_blocks
from vtlab.data.shapes import render_scene, scene_generator
from vtlab.models import create_model
from vtlab.studies import STUDIES, variant_model
from vtlab.train.engine import TrainConfig, check_config, create_data
from vtlab.train.recipes import get_recipe

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def source(stem: str) -> ast.Module:
    (path,) = NOTEBOOKS.glob(f"{stem}_*.py")
    return ast.parse(path.read_text())


def full_values(tree: ast.Module) -> dict[str, object]:
    """``NAME = A if FULL else B`` → {NAME: A} (A a literal), and ``NAME = FULL`` → {NAME: True}."""
    values = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            if isinstance(value, ast.IfExp) and isinstance(value.test, ast.Name) and value.test.id == "FULL":
                values[node.targets[0].id] = ast.literal_eval(value.body)
            elif isinstance(value, ast.Name) and value.id == "FULL":
                values[node.targets[0].id] = True
    return values


def full_train_configs(tree: ast.Module) -> list[TrainConfig]:
    """The TrainConfig(...) calls in the branches a notebook takes with FULL (``if FULL:`` / ``elif FULL:``),
    built from their literal keyword arguments (``out`` and other expressions are left at their defaults)."""
    configs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "FULL":
            for call in (n for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Call)):
                if isinstance(call.func, ast.Name) and call.func.id == "TrainConfig":
                    kwargs = {}
                    for kw in call.keywords:
                        try:
                            kwargs[kw.arg] = ast.literal_eval(kw.value)
                        except ValueError:
                            if isinstance(kw.value, ast.Name) and kw.value.id == "name":
                                kwargs[kw.arg] = None  # a loop variable: the recipe's model stands for it
                    configs.append(TrainConfig(**kwargs))
    return configs


def one_batch(config: TrainConfig) -> None:
    """Build what ``train(config)`` would build (config checked, model, training data) and run two items."""
    check_config(config)
    recipe = get_recipe(config.recipe)
    # the full recipe renders 2,000 scenes before its first step; eight of the same kind are enough to run a batch
    data = create_data(recipe.task, config.data or recipe.data, "train", config.image_size, recipe.augment,
                       length=8)
    batch = torch.stack([data[i][0] for i in range(2)]).float() / 255
    model = create_model(config.model or recipe.model, num_classes=7 if recipe.task == "segment" else 6).eval()
    with torch.no_grad():
        out = model(batch)
    assert out.shape[0] == 2 and torch.isfinite(out).all()
    if recipe.task == "segment":
        assert out.shape[-2:] == batch.shape[-2:]


def test_every_notebook_has_a_full_switch_read_here():
    stems = sorted(p.stem.split("_")[0] for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    assert stems == ["01", "02", "03", "04", "05", "06", "07"], "a new notebook needs its FULL smoke test here"


def test_01_is_the_same_with_full():
    assert full_values(source("01")) == {} and full_train_configs(source("01")) == []


@torch.no_grad()
def test_02_full_times_every_model():
    """With FULL, notebook 2 runs each of the eight ImageNet models on a batch (64 at 224 on the GPU, in bfloat16
    autocast); the notebook builds all eight on the CPU too, so here the smallest and the largest VT-ResNet run one
    small image under the same autocast (on the CPU)."""
    for name in ("vt_resnet18", "vt_resnet101"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = create_model(name).eval()(torch.zeros(1, 3, 64, 64))
        assert logits.shape == (1, 1000) and torch.isfinite(logits).all()


def test_03_full_builds_the_quick_recipe():
    (config,) = full_train_configs(source("03"))
    assert config.recipe == "quick" and config.epochs is None  # the recipe's full length
    one_batch(config)


def test_04_full_scores_more_scenes():
    """2,000 validation scenes instead of 300: each scene is rendered from its own seeded generator, so the last one
    is rendered here alone (all 2,000 take a dozen seconds), as ShapesDataset would render it."""
    values = full_values(source("04"))
    assert values["SCENES"] == 2000
    image, mask, _ = render_scene(64, scene_generator("val", 0, values["SCENES"] - 1))
    assert image.shape == (3, 64, 64) and mask.shape == (64, 64)


@torch.no_grad()
def test_05_full_retrains_every_variant_of_the_study():
    assert full_values(source("05")) == {"REGENERATE": True}
    settings = dataclasses.replace(STUDIES["shapes"], device="cuda")
    for variant in settings.variants:
        name, options = variant_model(settings, variant)
        model = create_model(name, num_classes=6, **options).eval()
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 6)


@torch.no_grad()
def test_06_full_counts_whole_models_and_trains_the_full_recipe():
    configs = full_train_configs(source("06"))
    assert [c.recipe for c in configs] == ["quick-segment"] and configs[0].epochs is None
    one_batch(configs[0])
    for name in ("fpn_resnet101", "vt_fpn_resnet101"):  # the largest of the four that Table 4 counts
        assert create_model(name, num_classes=20).eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 20, 64, 64)


@torch.no_grad()
def test_07_full_times_larger_maps():
    values = full_values(source("07"))
    assert values["repeats"] > 7 and max(values["time_sides"]) == 96
    blocks = scaling_blocks(DEFAULT_CONFIG)
    for name in BLOCKS:
        (X,) = block_inputs(name, DEFAULT_CONFIG, 96, 96)
        assert X.shape == (1, DEFAULT_CONFIG.C, 96, 96)
        out = blocks[name](*block_inputs(name, DEFAULT_CONFIG, 7, 7))
        X_out = out[0] if isinstance(out, tuple) else out
        assert X_out.shape == (1, DEFAULT_CONFIG.C, 7, 7)


@pytest.mark.parametrize("stem", ["03", "06"])
def test_full_train_configs_are_found(stem: str):
    assert full_train_configs(source(stem)), f"notebook {stem}: no TrainConfig in its FULL branch"
