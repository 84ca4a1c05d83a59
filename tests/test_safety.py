"""Issue 14's probes, each a test: no data file runs code, no option or file gives a silently wrong run, no second
writer loses a run, and what a user can fix is one line on stderr, not a traceback."""

import ast
import csv
import dataclasses
import errno
import json
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import vtlab
import vtlab.train.checkpoint as checkpoint
import vtlab.train.engine as engine
import vtlab.train.outputs as outputs
from vtlab.cli import main
from vtlab.data import CIFARDataset
from vtlab.models.fpn import SemanticFPNHead
from vtlab.train import TrainConfig, train
from vtlab.train.checkpoint import (
    CheckpointError,
    RunLockedError,
    WriteError,
    atomic_write,
    load_checkpoint,
    read_weights,
)
from vtlab.train.engine import NonFiniteLossError
from vtlab.train.evaluation import evaluate_run

# resnet_mini at 32x32 on 32 scenes: about a second per run
SMALL = TrainConfig(recipe="quick", model="resnet_mini", epochs=2, train_size=32, val_size=16, batch_size=16,
                    image_size=32, progress=False, seed=1)
ROOT = Path(vtlab.__file__).parent


def cli_error(capsys, *argv) -> str:
    """Run ``vtlab ARGV`` in this process; it must fail with exit status 2 and one line on stderr."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("vtlab: error: ") and err.count("\n") == 1, err
    return err


# ---- arbitrary code execution ----------------------------------------------------------------------------------

class Exploit:
    """Unpickling calls ``call(*args)``: what a crafted CIFAR batch would do."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def write_cifar10(root: Path, protocol: int = pickle.DEFAULT_PROTOCOL, batch_1=None) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        content = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch_1 if name == "data_batch_1" and batch_1 is not None else content, f, protocol=protocol)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)]}, f, protocol=protocol)
    return folder


@pytest.mark.parametrize("call, forbidden", [(os.system, "system"), (subprocess.check_call, "subprocess.check_call"),
                                             (exec, "builtins.exec")])
def test_a_crafted_cifar_batch_runs_no_code(tmp_path, capsys, call, forbidden):
    sentinel = tmp_path / "SENTINEL"
    command = f"touch {sentinel}"
    args = (f"open({str(sentinel)!r}, 'w').close()",) if call is exec else \
        ((["touch", str(sentinel)],) if call is subprocess.check_call else (command,))
    write_cifar10(tmp_path / "data", batch_1={b"data": Exploit(call, *args), b"labels": [0]})
    with pytest.raises(ValueError, match=rf"cannot read CIFAR file .*data_batch_1: refusing to load the global "
                                         rf".*{forbidden}"):
        CIFARDataset(tmp_path / "data", "cifar10")
    err = cli_error(capsys, "train", "--data", f"cifar10:{tmp_path / 'data'}", "--out", str(tmp_path / "run"))
    assert "refusing to load the global" in err
    assert not sentinel.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])  # 2: the official files (Python 2 pickles); 4, 5: numpy today
def test_genuine_cifar_batches_load_under_every_pickle_protocol(tmp_path, protocol):
    write_cifar10(tmp_path, protocol)
    data = CIFARDataset(tmp_path, "cifar10", "train")
    assert len(data) == 20 and data.images.dtype == torch.uint8 and data.classes[9] == "class9"


def test_every_load_in_vtlab_is_restricted():
    """torch.load only with weights_only=True; no pickle.load / pickle.loads / torch.load without it anywhere."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
                name = f"{owner}.{node.func.attr}"
                weights_only = any(k.arg == "weights_only" and getattr(k.value, "value", None) is True
                                   for k in node.keywords)
                if name in ("pickle.load", "pickle.loads", "numpy.load", "np.load") or \
                        (name == "torch.load" and not weights_only):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert offenders == []


# ---- silently wrong -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, flag", [
    ({"batch_size": 0}, "--batch-size"), ({"lr": 0.0}, "--lr"), ({"lr": float("nan")}, "--lr"),
    ({"image_size": 0}, "--image-size"), ({"epochs": 0}, "--epochs"), ({"epochs": -1}, "--epochs"),
    ({"workers": -1}, "--workers"), ({"train_size": 0}, "--train-size"), ({"val_size": 0}, "--val-size"),
    ({"stop_after": 0}, "--stop-after"), ({"seed": -1}, "--seed"), ({"batch_size": "16"}, "--batch-size"),
    ({"recipe": "lip", "epochs": 0}, "--epochs")])
def test_every_numeric_option_is_checked_before_anything_is_built(tmp_path, changes, flag):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=rf"expected {flag} \(\w+\) to be"):
        train(dataclasses.replace(SMALL, out=str(out), **changes))
    assert not out.exists()


@pytest.mark.parametrize("argv", [["--batch-size", "0"], ["--lr", "0"], ["--lr", "inf"], ["--image-size", "0"],
                                  ["--epochs", "0"], ["--epochs", "-1"], ["--workers", "-2"], ["--seed", "-1"],
                                  ["--train-size", "0"], ["--val-size", "0"], ["--stop-after", "0"]])
def test_the_cli_names_the_bad_flag_in_one_line(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exit:
        main(["train", *argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.startswith(f"vtlab: error: argument {argv[0]}: expected ") and \
        err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_the_installed_command_gives_the_same_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vtlab", "train", "--recipe", "lip", "--epochs", "0"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "vtlab: error: argument --epochs: expected a positive integer, got '0' " \
                            "(see `vtlab train --help`)\n"


def test_resume_without_a_checkpoint_is_an_error(tmp_path, capsys):
    err = cli_error(capsys, "train", "--model", "resnet_mini", "--epochs", "1", "--resume",
                    "--out", str(tmp_path / "mistyped"))
    assert "no checkpoint.pt in" in err and "drop --resume" in err
    assert not (tmp_path / "mistyped" / "run.json").exists()
    # the API's resume=True (what `vtlab reproduce` uses) still starts a run where there is none yet
    rows = train(dataclasses.replace(SMALL, epochs=1, resume=True, out=str(tmp_path / "fresh")))
    assert len(rows) == 1


def test_resuming_with_other_settings_is_refused_unless_allowed_and_then_recorded(tmp_path):
    out = str(tmp_path / "run")
    train(dataclasses.replace(SMALL, out=out, stop_after=1))
    for changes, listed in [({"seed": 2}, "--seed 1 (now 2)"), ({"batch_size": 8}, "--batch-size 16 (now 8)"),
                            ({"lr": 0.1}, "--lr 0.0005 (now 0.1)"), ({"image_size": 40}, "--image-size 32 (now 40)"),
                            ({"train_size": 48}, "--train-size 32 (now 48)"), ({"epochs": 3}, "--epochs 2 (now 3)"),
                            ({"recipe": "imagenet-ablation", "data": "shapes"}, "--recipe 'quick' (now "
                                                                                "'imagenet-ablation')")]:
        with pytest.raises(ValueError, match=rf"was run with other settings: .*{re.escape(listed)}.*--allow-changes"):
            train(dataclasses.replace(SMALL, out=out, resume=True, **changes))
    with pytest.raises(ValueError, match="other model settings: --model 'resnet_mini' .*fit that model only"):
        train(dataclasses.replace(SMALL, out=out, resume=True, allow_changes=True, model="vt_resnet_mini"))
    rows = train(dataclasses.replace(SMALL, out=out, resume=True, allow_changes=True, seed=2, epochs=3))
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["seed"] == 2 and run["epochs"] == 3
    assert run["resumed_with_changes"] == [{"epoch": 1, "--seed": {"was": 1, "now": 2},
                                            "--epochs": {"was": 2, "now": 3}}]


def test_the_ablation_of_a_vt_model_cannot_change_on_resume(tmp_path, capsys):
    out = str(tmp_path / "run")
    args = ["train", "--model", "vt_resnet_mini", "--epochs", "2", "--stop-after", "1", "--train-size", "32",
            "--val-size", "16", "--batch-size", "16", "--image-size", "32", "--quiet", "--out", out]
    assert main(args) == 0
    err = cli_error(capsys, *args, "--resume", "--ablate", "TF", "--allow-changes")
    assert "--ablate '{}' (now '{\"transformer\": false}')" in err


def write_folder(root: Path, train_classes, val_classes):
    for split, classes in (("train", train_classes), ("val", val_classes)):
        for i, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for j in range(8):
                Image.fromarray(np.full((36, 36, 3), 30 * i + 3 * j, np.uint8)).save(root / split / name / f"{j}.png")


@pytest.mark.parametrize("val_classes, message", [(("cat", "dog", "fox"), r"validation has classes that training "
                                                                           r"lacks: \['fox'\]"),
                                                  (("cat",), r"validation lacks the training classes \['dog'\]")])
def test_validation_classes_are_checked_before_the_first_epoch(tmp_path, monkeypatch, val_classes, message):
    write_folder(tmp_path / "data", ("cat", "dog"), val_classes)
    monkeypatch.setattr(engine, "create_model", lambda *a, **k: pytest.fail("the model was built"))
    with pytest.raises(ValueError, match=message):
        train(dataclasses.replace(SMALL, data=str(tmp_path / "data"), train_size=None, val_size=None,
                                  out=str(tmp_path / "run")))
    assert not (tmp_path / "run" / "metrics.csv").exists()


class PoisonAfter(torch.utils.data.Dataset):
    """A dataset whose images become NaN after ``clean`` items: a divergence in the second epoch."""

    def __init__(self, dataset, clean: int):
        self.dataset, self.clean, self.served = dataset, clean, 0
        self.classes, self.num_classes = dataset.classes, dataset.num_classes

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        image, label = self.dataset[index]
        self.served += 1
        return (image * float("nan") if self.served > self.clean else image), label


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    create = engine.create_data

    def poisoned(task, data, split, *args, **kwargs):
        dataset = create(task, data, split, *args, **kwargs)
        return PoisonAfter(dataset, len(dataset)) if split == "train" else dataset

    monkeypatch.setattr(engine, "create_data", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"training loss became nan in epoch 2: the run stopped and "
                                                 r"nothing of that epoch was saved; the last good checkpoint "
                                                 r"\(epoch 1\) in .* is kept"):
        train(dataclasses.replace(SMALL, out=str(tmp_path)))
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1
    with open(tmp_path / "metrics.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1"]
    read_weights(tmp_path / "model.safetensors")  # intact, checksum and all


def test_a_huge_lr_is_an_error_not_nan_metrics(tmp_path, capsys):
    err = cli_error(capsys, "train", "--model", "resnet_mini", "--epochs", "2", "--train-size", "32", "--val-size",
                    "16", "--batch-size", "16", "--image-size", "32", "--lr", "1e6", "--quiet", "--out", str(tmp_path))
    assert "became nan" in err or "became inf" in err
    if (tmp_path / "metrics.csv").exists():
        assert "nan" not in (tmp_path / "metrics.csv").read_text().lower()


def flip_safetensors_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    (header,) = struct.unpack("<Q", data[:8])
    data[8 + header + (len(data) - 8 - header) // 2] ^= 0x01  # the middle of the tensor bytes
    path.write_bytes(bytes(data))


def flip_checkpoint_byte(path: Path) -> None:
    """Flip one bit in the middle of the largest tensor stored in a torch.save zip archive."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + name_length + extra_length + info.file_size // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    train(dataclasses.replace(SMALL, epochs=2, stop_after=1, out=str(out)))
    return out


def copy_run(finished_run, tmp_path) -> Path:
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


def test_flipped_bytes_in_weights_or_checkpoint_are_errors(finished_run, tmp_path, capsys):
    run = copy_run(finished_run, tmp_path)
    assert evaluate_run(run)["images"] == 16  # intact: evaluates
    flip_safetensors_byte(run / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.safetensors is damaged: its tensors do not match the SHA-256"):
        evaluate_run(run)
    assert "is damaged" in cli_error(capsys, "eval", str(run))
    flip_checkpoint_byte(run / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt is damaged: its content does not match the SHA-256"):
        train(dataclasses.replace(SMALL, out=str(run), resume=True))


@pytest.mark.parametrize("name, damage, message", [
    ("checkpoint.pt", lambda b: b[: len(b) // 2], r"checkpoint\.pt is not a readable checkpoint \(truncated"),
    ("checkpoint.pt", lambda b: b"", r"checkpoint\.pt is empty \(0 bytes\)"),
    ("model.safetensors", lambda b: b[: len(b) // 2], r"model\.safetensors is not a readable safetensors file"),
    ("model.safetensors", lambda b: b"", r"model\.safetensors is empty"),
    ("run.json", lambda b: b[: len(b) // 2], r"run\.json is not valid JSON \(truncated"),
    ("run.json", lambda b: json.dumps({k: v for k, v in json.loads(b).items() if k != "model"}).encode(),
     r"run\.json lacks 'model'"),
])
def test_truncated_empty_or_incomplete_files_are_clear_errors(finished_run, tmp_path, capsys, name, damage, message):
    run = copy_run(finished_run, tmp_path)
    (run / name).write_bytes(damage((run / name).read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        if name == "checkpoint.pt":
            train(dataclasses.replace(SMALL, out=str(run), resume=True))
        else:
            evaluate_run(run)
    cli_error(capsys, "eval", str(run)) if name != "checkpoint.pt" else None


def without_file_permission_override(command: list[str]) -> list[str]:
    """``command``, run so that file permissions apply to it (root ignores them: drop that capability)."""
    if os.geteuid() != 0:
        return command
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    if shutil.which("setpriv") is None or subprocess.run([*drop, "true"], capture_output=True).returncode:
        pytest.skip("running as root, and setpriv cannot drop the capability that ignores file permissions")
    return [*drop, *command]


def test_unreadable_weights_say_permission_denied(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    (run / "model.safetensors").chmod(0)
    result = subprocess.run(without_file_permission_override([sys.executable, "-m", "vtlab", "eval", str(run)]),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "permission denied" in result.stderr, result.stderr
    assert "No such file" not in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("name", ["resnet_mini", "vt_resnet_mini", "fpn_resnet_mini", "vt_fpn_resnet_mini"])
@pytest.mark.parametrize("num_classes", [0, -3, "10", 2.0, True])
def test_num_classes_must_be_a_positive_integer(name, num_classes):
    with pytest.raises(ValueError, match=rf"expected num_classes to be a positive integer, got {num_classes!r}"):
        vtlab.create_model(name, num_classes=num_classes)


def test_the_fpn_head_checks_num_classes_itself():
    with pytest.raises(ValueError, match="expected num_classes to be a positive integer, got '10'"):
        SemanticFPNHead(64, "10")


def test_model_inputs_that_would_fail_are_clear_errors_and_those_that_work_still_do():
    model = vtlab.create_model("vt_resnet_mini", num_classes=3).eval()
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match=r"expected the input image batch as floats .* got torch\.uint8"):
        model((x * 50 + 128).clamp(0, 255).to(torch.uint8))
    with pytest.raises(ValueError, match=r"expected an input batch of torch\.float32 .* got torch\.float16"):
        model(x.half())
    with pytest.raises(ValueError, match=r"expected at least one image in the input batch, got an empty batch"):
        model(x[:0])
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts what it is given: accepted
            assert model(x.half()).shape == (2, 3)
        assert model.half()(x.half()).dtype == torch.float16  # weights and input agree: accepted


def test_ablations_of_a_plain_resnet_are_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"model 'resnet_mini' takes no 'transformer'.*ablations apply to vt_\*"):
        vtlab.create_model("resnet_mini", transformer=False)
    err = cli_error(capsys, "train", "--model", "resnet_mini", "--ablate", "TF", "--out", str(tmp_path))
    assert "--ablate TF applies to VT models (vt_*)" in err and not any(tmp_path.iterdir())


# ---- data loss, leftovers ------------------------------------------------------------------------------------------

def test_a_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from vtlab.train.checkpoint import RunLock\n"
                               "with RunLock(sys.argv[1]):\n print('locked', flush=True); sys.stdin.read()", str(out)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        out.mkdir()
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"{out} is being written by another vtlab run \(pid {holder.pid} "
                                                 rf"on host .*, started .*\)"):
            train(dataclasses.replace(SMALL, out=str(out)))
        assert f"pid {holder.pid}" in cli_error(capsys, "train", "--model", "resnet_mini", "--out", str(out))
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert not (out / "checkpoint.pt").exists()
    train(dataclasses.replace(SMALL, epochs=1, out=str(out)))  # released: the folder can be written again
    assert not (out / ".lock").exists()


def test_a_resume_while_the_run_goes_on_is_refused(tmp_path, monkeypatch):
    out = tmp_path / "run"
    write = outputs.write_csv

    def resume_meanwhile(path, rows, fieldnames):
        write(path, rows, fieldnames)
        if path.name == "metrics.csv":
            with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
                train(dataclasses.replace(SMALL, out=str(out), resume=True))

    monkeypatch.setattr(outputs, "write_csv", resume_meanwhile)
    assert len(train(dataclasses.replace(SMALL, out=str(out)))) == 2


def test_leftover_temporary_files_are_removed_when_a_run_resumes(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    leftovers = [run / ".checkpoint.pt.k1ll3d.tmp", run / ".model.safetensors.x9.tmp"]
    for path in leftovers:
        path.write_bytes(b"\0" * 1000)
    keep = run / "notes.tmp"  # not one of ours
    keep.write_text("mine")
    train(dataclasses.replace(SMALL, out=str(run), resume=True))
    assert not any(path.exists() for path in leftovers) and keep.exists()
    assert not list(run.glob(".*.tmp"))


def test_an_out_under_a_file_fails_before_data_or_model_are_built(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(engine, "create_data", lambda *a, **k: pytest.fail("data were built"))
    with pytest.raises(ValueError, match=r"expected the run folder .*file/run to be a folder .* is a file"):
        train(dataclasses.replace(SMALL, out=str(tmp_path / "file" / "run")))
    cli_error(capsys, "train", "--out", str(tmp_path / "file" / "run"))


@pytest.mark.parametrize("resume", [False, True])
def test_a_read_only_out_fails_before_data_or_model_are_built(finished_run, tmp_path, resume):
    run = copy_run(finished_run, tmp_path) if resume else tmp_path / "run"
    run.mkdir(exist_ok=True)
    run.chmod(0o555)
    try:
        command = [sys.executable, "-m", "vtlab", "train", "--model", "resnet_mini", "--epochs", "2",
                   "--train-size", "32", "--val-size", "16", "--batch-size", "16", "--image-size", "32",
                   "--seed", "1", "--out", str(run), *(["--resume"] if resume else [])]
        result = subprocess.run(without_file_permission_override(command), capture_output=True, text=True,
                                timeout=120)
    finally:
        run.chmod(0o755)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"the run folder {run} is not writable (permission denied)" in result.stderr
    assert "epoch" not in result.stdout


def test_a_full_disk_is_named_and_the_previous_checkpoint_kept(tmp_path, monkeypatch, capsys):
    save = torch.save

    def fail_on_epoch_2(state, path):
        if state["epoch"] == 2:
            Path(path).write_bytes(b"partial")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . basic_ios::clear: iostream error")
        save(state, path)

    monkeypatch.setattr(checkpoint.torch, "save", fail_on_epoch_2)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 4096))
    with pytest.raises(WriteError, match=r"could not write .*checkpoint\.pt: the disk is full \(4096 bytes free .*\); "
                                         r"the previous checkpoint\.pt \(if any\) is intact"):
        train(dataclasses.replace(SMALL, out=str(tmp_path)))
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1 and not list(tmp_path.glob(".*.tmp"))


def test_write_errors_say_what_failed(tmp_path):
    target = tmp_path / "metrics.csv"
    target.write_text("previous")

    def no_space(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError, match=r"metrics\.csv: the disk is full .*previous metrics\.csv \(if any\) is "
                                         r"intact; free some space"):
        atomic_write(target, no_space)

    def io_error(tmp):
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(WriteError, match=r"metrics\.csv: OSError: \[Errno 5\] Input/output error"):
        atomic_write(target, io_error)
    assert target.read_text() == "previous" and not list(tmp_path.glob(".*.tmp"))


def test_weights_written_by_other_tools_still_load(tmp_path):
    save_file({"w": torch.ones(2)}, str(tmp_path / "plain.safetensors"))  # no checksum in its metadata
    assert torch.equal(read_weights(tmp_path / "plain.safetensors")["w"], torch.ones(2))


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run.json in"):
        main(["eval", str(tmp_path), "--debug"])
