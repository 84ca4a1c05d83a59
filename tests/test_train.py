"""Training: recipes, the engine's outputs, exact resume, errors, evaluation, and DDP under torchrun."""

import csv
import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import vtlab
import vtlab.train.outputs as outputs
from vtlab.train import RECIPES, TrainConfig, get_recipe, train
from vtlab.train.evaluation import evaluate_run
from vtlab.train.recipes import lr_factor
from vtlab.train.regularization import add_stochastic_depth, residual_branch_ends

TINY = TrainConfig(recipe="quick", epochs=2, train_size=48, batch_size=16, progress=False, seed=1)


def timing_free(rows):
    return [{k: v for k, v in r.items() if k not in ("images_per_s", "epoch_time_s")} for r in rows]


def test_imagenet_recipe_is_section_5_1():
    r = get_recipe("imagenet")
    assert (r.optimizer, r.warmup_lr, r.lr, r.warmup_epochs, r.decay, r.batch_size) == ("rmsprop", 0.01, 0.16, 5,
                                                                                       0.9875, 2048)
    assert (r.survival, r.dropout, r.ema_decay, r.sync_bn, r.epochs) == (0.9, 0.2, 0.99985, True, 400)
    assert r.label_smoothing > 0 and r.augment == "autoaugment"
    assert get_recipe("imagenet-ablation").epochs == 90
    assert r.scaled_lr(256) == pytest.approx((0.01 / 8, 0.16 / 8))  # linear scaling with the batch
    with pytest.raises(ValueError, match="unknown recipe 'fast'"):
        get_recipe("fast")


def test_exponential_schedule_warms_up_then_decays_per_epoch():
    r = get_recipe("imagenet")
    assert lr_factor(r, 0, 400) == pytest.approx(0.01 / 0.16)
    assert lr_factor(r, 2.5, 400) == pytest.approx((0.01 + 0.15 * 0.5) / 0.16)
    assert lr_factor(r, 5, 400) == 1.0 and lr_factor(r, 5.9, 400) == 1.0
    assert lr_factor(r, 7.2, 400) == pytest.approx(0.9875**2)
    q = RECIPES["quick"]
    assert lr_factor(q, q.epochs, q.epochs) == pytest.approx(0.0)


def test_run_writes_metrics_checkpoint_and_weights(tmp_path):
    rows = train(dataclasses.replace(TINY, out=str(tmp_path)))
    with open(tmp_path / "metrics.csv") as f:
        table = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in table] == [1, 2] and len(rows) == 2
    assert {"epoch", "train_loss", "val_loss", "val_acc", "lr", "images_per_s"} <= set(table[0])
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # no code is unpickled
    assert state["epoch"] == 2 and state["meta"]["model"] == "vt_resnet_mini"
    weights = load_file(str(tmp_path / "model.safetensors"))
    model = vtlab.create_model("vt_resnet_mini", num_classes=6)
    model.load_state_dict(weights)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["batch_size"] == 16 and run["peak_lr"] == pytest.approx(2e-3 * 16 / 64)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_interrupted_run_resumes_to_the_same_metrics(tmp_path, monkeypatch):
    config = dataclasses.replace(TINY, epochs=3)
    uninterrupted = train(dataclasses.replace(config, out=str(tmp_path / "a")))
    write = outputs.write_csv

    def interrupt_after_epoch_2(path, rows, fieldnames):
        write(path, rows, fieldnames)
        if path.name == "metrics.csv" and len(rows) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "write_csv", interrupt_after_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(dataclasses.replace(config, out=str(tmp_path / "b")))
    monkeypatch.undo()
    with pytest.raises(ValueError, match="already holds a run .* pass --resume"):
        train(dataclasses.replace(config, out=str(tmp_path / "b")))
    resumed = train(dataclasses.replace(config, out=str(tmp_path / "b"), resume=True))
    assert timing_free(resumed) == timing_free(uninterrupted)
    assert uninterrupted[-1]["train_loss"] != uninterrupted[0]["train_loss"]


def test_stop_after_ends_a_session_that_resumes_to_the_same_metrics(tmp_path):
    config = dataclasses.replace(TINY, epochs=3)
    uninterrupted = train(dataclasses.replace(config, out=str(tmp_path / "a")))
    first = train(dataclasses.replace(config, out=str(tmp_path / "b"), stop_after=2))
    assert len(first) == 2
    resumed = train(dataclasses.replace(config, out=str(tmp_path / "b"), resume=True))
    assert timing_free(resumed) == timing_free(uninterrupted)
    with pytest.raises(ValueError, match=r"expected --stop-after \(stop_after\) to be a positive integer, got 0"):
        train(dataclasses.replace(config, out=str(tmp_path / "c"), stop_after=0))


def test_resume_with_data_loader_workers_is_exact(tmp_path):
    """Flips are random and drawn in the workers: their seeds depend only on (seed, epoch), not on where a run
    was resumed (with persistent workers seeded once per run, a resumed run differed from epoch 2 on)."""
    config = TrainConfig(recipe="quick", model="resnet_mini", epochs=3, train_size=64, val_size=32, batch_size=16,
                         image_size=32, workers=2, progress=False, seed=3)
    uninterrupted = train(dataclasses.replace(config, out=str(tmp_path / "a")))
    assert len(train(dataclasses.replace(config, out=str(tmp_path / "b"), stop_after=1))) == 1
    resumed = train(dataclasses.replace(config, out=str(tmp_path / "b"), resume=True))
    assert timing_free(resumed) == timing_free(uninterrupted)
    in_process = train(dataclasses.replace(config, workers=0, out=str(tmp_path / "c")))
    assert timing_free(in_process)[1:] != timing_free(uninterrupted)[1:]  # the workers' flips are their own


def test_val_size_limits_the_validation_set_and_eval_follows_the_run(tmp_path):
    from vtlab.train.evaluation import evaluate_run

    rows = train(dataclasses.replace(TINY, epochs=1, val_size=40, out=str(tmp_path)))
    result = evaluate_run(tmp_path, device="cpu")
    assert result["images"] == 40 and result["acc"] == pytest.approx(rows[-1]["val_acc"], abs=1e-6)


def test_resuming_with_another_model_is_refused(tmp_path):
    train(dataclasses.replace(TINY, epochs=1, out=str(tmp_path)))
    with pytest.raises(ValueError, match=r"other model settings: --model 'vt_resnet_mini' \(now 'resnet_mini'\)"):
        train(dataclasses.replace(TINY, model="resnet_mini", out=str(tmp_path), resume=True))


@pytest.mark.parametrize("changes, message", [({"model": "vt_resnet7"}, "unknown model"),
                                              ({"recipe": "slow"}, "unknown recipe"),
                                              ({"data": "mnist"}, "unknown data"),
                                              ({"recipe": "imagenet"}, "has no default data"),
                                              ({"device": "tpu"}, "expected --device auto, cpu or cuda")])
def test_bad_combinations_are_clear_errors(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        train(dataclasses.replace(TINY, out=str(tmp_path), **changes))


def test_paper_recipe_runs_at_toy_scale_with_ema(tmp_path):
    rows = train(dataclasses.replace(TINY, recipe="imagenet-ablation", data="shapes", epochs=1, out=str(tmp_path)))
    assert rows[0]["ema_val_acc"] != "" and (tmp_path / "ema.safetensors").exists()
    result = evaluate_run(tmp_path, ema=True)
    assert result["images"] == 500 and result["acc"] == pytest.approx(rows[0]["ema_val_acc"])


def test_eval_reproduces_the_last_validation_figures(tmp_path):
    rows = train(dataclasses.replace(TINY, out=str(tmp_path)))
    result = evaluate_run(tmp_path)
    assert result["acc"] == pytest.approx(rows[-1]["val_acc"])
    assert result["loss"] == pytest.approx(rows[-1]["val_loss"], abs=1e-5)


def test_stochastic_depth_drops_residual_branches_in_training_only():
    model = vtlab.create_model("vt_resnet_mini", num_classes=3)
    assert len(residual_branch_ends(model)) == 6 + 2  # six BasicBlocks in stages 2-4, two transformers
    assert add_stochastic_depth(model, 0.5) == 8
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        outputs = [model(x) for _ in range(3)]
    assert not torch.equal(outputs[0], outputs[1])
    with pytest.raises(ValueError, match=r"survival probability in \(0, 1\]"):
        add_stochastic_depth(model, 0.0)


def torchrun_train(out, *arguments: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node 2 -m vtlab train ARGUMENTS --out OUT --quiet`` on the CPU (gloo), checked."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "vtlab", "train", *arguments, "--out", str(out), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[:3000] + "\n...\n" + result.stderr[-1500:]
    return result


def test_torchrun_trains_with_ddp_on_cpu_with_gloo(tmp_path):
    result = torchrun_train(tmp_path, "--recipe", "quick", "--epochs", "1", "--batch-size", "16", "--train-size", "48")
    assert result.stdout.count("val acc") == 1  # printed by rank 0 only
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["world_size"] == 2
    with open(tmp_path / "metrics.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["val_acc"]) >= 0 and int(row["epoch"]) == 1


SEGMENT = dataclasses.replace(TINY, recipe="quick-segment", epochs=1, train_size=32, batch_size=16)


def test_segmentation_recipes_follow_section_5_3():
    coco, lip = get_recipe("coco-stuff"), get_recipe("lip")
    assert (coco.optimizer, coco.lr, coco.batch_size, coco.sync_bn, coco.task) == ("sgd", 0.04, 32, True, "segment")
    assert (lip.optimizer, lip.lr, lip.batch_size, lip.weight_decay, lip.sync_bn) == ("sgd", 0.01, 96, 5e-4, True)
    # Detectron2's 1x steps: x0.1 at 60k and 80k of 90k iterations, after a 1000-iteration warm-up
    assert lr_factor(coco, 0, coco.epochs) == pytest.approx(0.001)
    assert lr_factor(coco, 1, coco.epochs) == 1.0 and lr_factor(coco, 16.1, 24) == pytest.approx(0.1)
    assert lr_factor(coco, 21.4, 24) == pytest.approx(0.01)
    assert lr_factor(lip, 75, 150) == pytest.approx(0.5**0.9)


def test_segmentation_run_reports_miou_and_eval_reproduces_it(tmp_path):
    rows = train(dataclasses.replace(SEGMENT, out=str(tmp_path)))
    with open(tmp_path / "metrics.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert 0 <= float(row["val_miou"]) <= 1 and 0 <= float(row["val_acc"]) <= 1
    assert json.loads((tmp_path / "run.json").read_text())["task"] == "segment"
    result = evaluate_run(tmp_path)
    assert result["miou"] == pytest.approx(rows[-1]["val_miou"], abs=1e-6)  # metrics.csv keeps 6 decimals
    assert result["acc"] == pytest.approx(rows[-1]["val_acc"], abs=1e-6)
    assert result["images"] == 500


@pytest.mark.parametrize("changes, message", [
    ({"model": "vt_fpn_resnet_mini"}, "is a segment model but recipe 'quick' trains classify"),
    ({"recipe": "quick-segment", "model": "vt_resnet_mini"}, "is a classify model but recipe 'quick-segment'"),
    ({"recipe": "lip"}, "has no default data"),
    ({"recipe": "quick-segment", "data": "digits"}, "unknown segmentation data"),
])
def test_task_mismatches_are_clear_errors(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        train(dataclasses.replace(TINY, out=str(tmp_path), **changes))


def test_torchrun_trains_segmentation_with_ddp_on_cpu(tmp_path):
    torchrun_train(tmp_path, "--task", "segment", "--epochs", "1", "--batch-size", "16", "--train-size", "32")
    with open(tmp_path / "metrics.csv") as f:
        (row,) = list(csv.DictReader(f))
    # the mIoU is over all 500 validation scenes, half scored in each process and merged by torchmetrics
    single = evaluate_run(tmp_path)
    assert float(row["val_miou"]) == pytest.approx(single["miou"], abs=1e-6)
