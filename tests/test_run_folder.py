"""Issue 20's run-folder cases: vtlab writes only into folders it made, touches only its own names there, a resume
completes or refuses what a finished run must hold, and run.json is checked by type and range before it is used."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vtlab.train.engine as engine
from vtlab.cli import main
from vtlab.studies import StudySettings
from vtlab.train import TrainConfig, train
from vtlab.train.checkpoint import CheckpointError, load_checkpoint, read_weights
from vtlab.train.evaluation import evaluate_run

SMALL = TrainConfig(recipe="quick", model="resnet_mini", epochs=2, train_size=32, val_size=16, batch_size=16,
                    image_size=32, progress=False, seed=1)


def cli_error(capsys, *argv) -> str:
    """Run ``vtlab ARGV`` in this process; it must fail with exit status 2 and one line on stderr."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("vtlab: error: ") and err.count("\n") == 1, err
    return err


def small_args(out) -> list[str]:
    return ["train", "--model", "resnet_mini", "--epochs", "2", "--train-size", "32", "--val-size", "16",
            "--batch-size", "16", "--image-size", "32", "--seed", "1", "--quiet", "--out", str(out)]


@pytest.fixture(scope="module")
def half_run(tmp_path_factory) -> Path:
    """A run of 2 epochs stopped after the first, and its first epoch's weights kept aside."""
    out = tmp_path_factory.mktemp("half") / "run"
    train(dataclasses.replace(SMALL, stop_after=1, out=str(out)))
    shutil.copy(out / "model.safetensors", out.parent / "epoch1.safetensors")
    return out


def copy_of(run: Path, tmp_path: Path, name: str = "run") -> Path:
    return Path(shutil.copytree(run, tmp_path / name))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


# ---- a user's folder is never touched ----------------------------------------------------------------------------

def test_a_users_folder_is_refused_naming_what_is_there_and_left_untouched(tmp_path, capsys):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "metrics.csv").write_text("my,own\n1,2\n")
    (folder / "run.json").write_text('{"my": "notes"}')
    (folder / ".thesis draft.tmp").write_text("chapter 3")
    (folder / ".lock").write_text("mine")
    before = snapshot(folder)
    err = cli_error(capsys, *small_args(folder))
    assert "holds 4 entries that vtlab did not write" in err and ".thesis draft.tmp" in err and "metrics.csv" in err
    with pytest.raises(ValueError, match="expected --out to be a new or empty folder, or a vtlab run folder"):
        train(dataclasses.replace(SMALL, out=str(folder)))
    assert snapshot(folder) == before


def test_the_sweep_and_the_lock_touch_only_vtlabs_own_names(half_run, tmp_path):
    run = copy_of(half_run, tmp_path)
    mine = {".thesis draft.tmp": b"chapter 3", ".lock": b"mine", "notes.tmp": b"n", ".metrics.csv.bak": b"b"}
    for name, content in mine.items():
        (run / name).write_bytes(content)
    ours = [run / ".checkpoint.pt.k1ll3d.tmp", run / ".model.safetensors.x9.tmp", run / ".write-probe.ab.tmp"]
    for path in ours:
        path.write_bytes(b"\0" * 100)
    train(dataclasses.replace(SMALL, out=str(run), resume=True))
    assert all((run / name).read_bytes() == content for name, content in mine.items())
    assert not any(path.exists() for path in ours) and not (run / ".vtlab.lock").exists()


def test_an_empty_folder_and_a_folder_of_vtlab_leftovers_are_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    leftovers = tmp_path / "killed"
    leftovers.mkdir()
    (leftovers / ".vtlab.lock").write_text("pid 1")
    (leftovers / ".run.json.abc.tmp").write_text("{")
    for out in (tmp_path / "empty", leftovers):
        assert len(train(dataclasses.replace(SMALL, epochs=1, out=str(out)))) == 1
    assert not (leftovers / ".run.json.abc.tmp").exists()


# ---- a resume completes or refuses -------------------------------------------------------------------------------

def test_a_kill_between_the_last_checkpoint_and_the_weights_is_completed_and_eval_refuses_meanwhile(
        half_run, tmp_path, capsys):
    run = copy_of(half_run, tmp_path)
    train(dataclasses.replace(SMALL, out=str(run), resume=True))  # finishes epoch 2
    shutil.copy(half_run.parent / "epoch1.safetensors", run / "model.safetensors")  # as a kill before the write
    err = cli_error(capsys, "eval", str(run))
    assert "holds the weights of epoch 1 but" in err and "ends epoch 2" in err
    assert main(small_args(run) + ["--resume"]) == 0
    assert "rewrote model.safetensors (other weights)" in capsys.readouterr().err
    state = load_checkpoint(run / "checkpoint.pt")
    weights = read_weights(run / "model.safetensors")
    assert all(torch.equal(weights[k], state["model"][k]) for k in weights)
    assert evaluate_run(run)["images"] == 16


@pytest.mark.parametrize("lost", ["model.safetensors", "metrics.csv"])
def test_a_finished_run_missing_a_file_is_completed_on_resume(half_run, tmp_path, capsys, lost):
    run = copy_of(half_run, tmp_path)
    rows = train(dataclasses.replace(SMALL, out=str(run), resume=True))
    complete = content(run / lost)
    (run / lost).unlink()
    assert main(small_args(run) + ["--resume"]) == 0
    captured = capsys.readouterr()
    assert f"rewrote {lost} (missing)" in captured.err and "run saved" in captured.out
    assert content(run / lost) == complete and len(rows) == 2


def content(path: Path):
    """A CSV file's bytes; a weights file's tensors and metadata (its header's key order is not fixed)."""
    from vtlab.train.checkpoint import recorded_metadata

    if path.suffix != ".safetensors":
        return path.read_bytes()
    return {k: v.tolist() for k, v in read_weights(path).items()}, recorded_metadata(path)


def test_tokens_csv_is_completed_from_the_checkpoint(tmp_path, capsys):
    config = dataclasses.replace(SMALL, model="vt_resnet_mini", epochs=1, train_size=16, out=str(tmp_path / "vt"))
    train(config)
    tokens = (tmp_path / "vt" / "tokens.csv").read_text()
    (tmp_path / "vt" / "tokens.csv").write_text(tokens.splitlines()[0] + "\n")  # rows lost
    train(dataclasses.replace(config, resume=True))
    assert "rewrote tokens.csv (other rows)" in capsys.readouterr().err
    assert (tmp_path / "vt" / "tokens.csv").read_text() == tokens


def test_a_checkpoint_copied_in_from_another_run_is_refused(half_run, tmp_path, capsys):
    other = copy_of(half_run, tmp_path, "other")
    shutil.rmtree(other)
    train(dataclasses.replace(SMALL, out=str(other)))  # same settings, finished: another run
    run = copy_of(half_run, tmp_path)
    shutil.copy(other / "checkpoint.pt", run / "checkpoint.pt")
    err = cli_error(capsys, *small_args(run), "--resume")
    assert "was written by another run" in err and "copied in from elsewhere" in err


def test_a_checkpoint_of_another_seed_is_refused_even_without_run_ids(half_run, tmp_path):
    run = copy_of(half_run, tmp_path)
    info = json.loads((run / "run.json").read_text())
    del info["run_id"]
    info["seed"] = info["config"]["seed"] = 2  # run.json of seed 2, checkpoint of seed 1
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match=r"belongs to another run .*seed 1 \(run.json: 2\)"):
        train(dataclasses.replace(SMALL, seed=2, out=str(run), resume=True))


def test_a_resume_with_other_workers_is_refused(half_run, tmp_path, capsys):
    run = copy_of(half_run, tmp_path)
    err = cli_error(capsys, *small_args(run), "--resume", "--workers", "1")
    assert "--workers 0 (now 1)" in err


def test_reproduce_never_takes_another_seeds_live_rows(tmp_path):
    from vtlab.reproduce import _live_run

    settings = StudySettings(model="vt_resnet_mini", epochs=2, train_size=16, val_size=16, batch_size=16,
                             image_size=32, seeds=(0, 1), variants=("baseline", "base"), threads=2)
    out = str(tmp_path / "baseline")
    seed0 = _live_run(settings, "baseline", 0, out, 1)
    with pytest.raises(ValueError, match=r"--seed 0 \(now 1\)"):
        _live_run(settings, "baseline", 1, out, 1)
    assert _live_run(settings, "baseline", 0, out, 1) == seed0  # its own rows are reused


# ---- messages ----------------------------------------------------------------------------------------------------

def test_ctrl_c_before_the_first_epoch_says_nothing_was_saved(tmp_path, monkeypatch, capsys):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "create_data", interrupt)
    assert main(small_args(tmp_path / "run")) == 130
    err = capsys.readouterr().err
    assert "before the first epoch finished: nothing of the run was saved" in err and "--resume" not in \
        err.replace("(without --resume)", "")


def test_ctrl_c_after_an_epoch_names_the_saved_epochs(half_run, tmp_path, monkeypatch, capsys):
    run = copy_of(half_run, tmp_path)
    monkeypatch.setattr(engine, "_epoch", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(small_args(run) + ["--resume"]) == 130
    assert "the 1 finished epoch(s) are saved" in capsys.readouterr().err


def test_a_data_loader_workers_error_is_its_own_one_line(tmp_path, monkeypatch, capsys):
    class Broken(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            raise ValueError(f"cannot read image {tmp_path}/bad.png: truncated")

    def train_with_workers(config, measures=None):
        next(iter(torch.utils.data.DataLoader(Broken(), num_workers=1)))

    monkeypatch.setattr("vtlab.train.train", train_with_workers)
    err = cli_error(capsys, *small_args(tmp_path / "run"))
    assert err == f"vtlab: error: cannot read image {tmp_path}/bad.png: truncated\n"


def test_image_size_below_the_models_smallest_input_is_one_line(tmp_path, capsys):
    assert "expected --image-size of at least 32 for a classify model" in cli_error(
        capsys, "train", "--image-size", "1", "--out", str(tmp_path / "run"), "--quiet")
    assert "at least 64 for a segment model" in cli_error(
        capsys, "train", "--task", "segment", "--image-size", "32", "--out", str(tmp_path / "seg"), "--quiet")


def test_a_segmentation_batch_without_a_labelled_pixel_adds_nothing_and_is_counted(tmp_path, capsys):
    root = tmp_path / "lip"
    for folder in ("train", "val"):
        images, labels = root / "TrainVal_images" / f"{folder}_images", \
            root / "TrainVal_parsing_annotations" / f"{folder}_segmentations"
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        for i, value in enumerate((14, 255, 3, 255)):  # two masks of ignored pixels only
            Image.fromarray(np.full((64, 64, 3), 40 * i, np.uint8)).save(images / f"{i}.jpg")
            Image.fromarray(np.full((64, 64), value, np.uint8)).save(labels / f"{i}.png")
    config = TrainConfig(recipe="lip", model="fpn_resnet_mini", data=f"lip:{root}", epochs=1, batch_size=1,
                         image_size=64, progress=False, out=str(tmp_path / "run"))
    rows = train(config)
    assert np.isfinite(rows[0]["train_loss"]) and 0 <= rows[0]["val_miou"] <= 1
    assert "2 of 4 training batches of epoch 1 held no labelled pixel" in capsys.readouterr().err


# ---- run.json and weights files, checked before use ---------------------------------------------------------------

@pytest.mark.parametrize("edit, message", [
    ({"model_options": '{"num_classes": 3}'}, "num_classes inside model_options"),
    ({"model_options": "[1, 2]"}, "model_options = [1, 2]; expected a JSON object of model options"),
    ({"model_options": "transformer"}, "unreadable model_options 'transformer'"),
    ({"model_options": {"dynamic": False}}, "expected a JSON object as a string"),
    ({"model": ["resnet_mini"]}, "model = ['resnet_mini']; expected a model name"),
    ({"classes": 6}, "classes = 6; expected a list of 6 class names"),
    ({"num_classes": "6"}, "num_classes = '6'; expected an integer >= 1"),
    ({"config": {"image_size": -3}}, "config.image_size = -3; expected an integer >= 1 or null"),
])
def test_a_hand_edited_run_json_is_one_line(half_run, tmp_path, capsys, edit, message):
    run = copy_of(half_run, tmp_path)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, **edit}))
    assert message in cli_error(capsys, "eval", str(run))


def test_deeply_nested_json_in_run_json_or_a_weights_header_is_one_line(half_run, tmp_path, capsys):
    run = copy_of(half_run, tmp_path)
    deep = "[" * 200_000 + "]" * 200_000
    (run / "run.json").write_text(deep)
    assert "run.json" in cli_error(capsys, "eval", str(run))
    run = copy_of(half_run, tmp_path, "run2")
    header = ('{"__metadata__": {"x": ' + deep + '}}').encode()
    (run / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    assert "model.safetensors is not a readable safetensors file" in cli_error(capsys, "eval", str(run))
