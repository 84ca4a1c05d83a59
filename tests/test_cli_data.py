"""`vtlab train` in a real process on each kind of data it reads from disk, laid out as the README says: LIP and
COCO-stuff (the paper's segmentation data), CIFAR and ImageNet-style folders, one epoch each; and a distributed
start without peers, which says it waits and gives up."""

import csv
import os
import pickle
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

LIP = ("TrainVal_images/{}_images", "TrainVal_parsing_annotations/{}_segmentations")
COCO = ("images/{}2017", "annotations/{}2017")


def vtlab(*arguments: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vtlab", *arguments], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def metrics(out) -> list[dict]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def write_segmentation(root, folders, values):
    """Per split, one 48x40 JPEG and label PNG per value: the label holds ``value`` on its left half and
    background (0) on its right half."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        images, labels = (root / folder.format(split) for folder in folders)
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        for i, value in enumerate(values):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(images / f"{i:06d}.jpg")
            label = np.zeros((40, 48), np.uint8)
            label[:, :24] = value
            Image.fromarray(label).save(labels / f"{i:06d}.png")
    return root


@pytest.mark.parametrize("kind, folders, values, recipe", [
    ("lip", LIP, (2, 5, 14, 15), "lip"),
    ("coco-stuff", COCO, (91, 100, 181, 120), "coco-stuff"),
])
def test_the_papers_segmentation_data_train_from_the_cli(tmp_path, kind, folders, values, recipe):
    root = write_segmentation(tmp_path / kind, folders, values)
    if kind == "coco-stuff":  # stuff classes only: 0 (a thing) and 255 are ignored, not background
        for path in root.glob("annotations/*/*.png"):
            label = np.array(Image.open(path))
            label[:4] = 255
            Image.fromarray(label).save(path)
    out = tmp_path / "run"
    result = vtlab("train", "--recipe", recipe, "--data", f"{kind}:{root}", "--model", "vt_fpn_resnet_mini",
                   "--epochs", "1", "--batch-size", "2", "--image-size", "64", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    row, = metrics(out)
    assert 0 <= float(row["val_miou"]) <= 1 and np.isfinite(float(row["train_loss"]))
    assert "run saved" in result.stdout and not (out / "tokens.csv").exists()


def test_cifar_trains_from_the_cli(tmp_path):
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8), b"labels": [i % 10 for i in range(8)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)]}, f, protocol=2)
    out = tmp_path / "run"
    result = vtlab("train", "--data", f"cifar10:{tmp_path / 'cifar'}", "--model", "resnet_mini", "--epochs", "1",
                   "--batch-size", "8", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert len(metrics(out)) == 1 and "after 1 epochs" in result.stdout


def test_folders_train_from_the_cli_and_a_bad_file_is_named_before_the_first_epoch(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for name in ("cat", "dog"):
            (tmp_path / "images" / split / name).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(
                    tmp_path / "images" / split / name / f"{i}.png")
    arguments = ["train", "--data", str(tmp_path / "images"), "--model", "resnet_mini", "--epochs", "1",
                 "--batch-size", "4", "--image-size", "32", "--quiet", "--workers", "2"]
    result = vtlab(*arguments, "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert len(metrics(tmp_path / "run")) == 1
    (tmp_path / "images" / "train" / "dog" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = vtlab(*arguments, "--out", str(tmp_path / "run2"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "2.png" in result.stderr and "--skip-bad" in result.stderr
    assert not (tmp_path / "run2" / "metrics.csv").exists()
    result = vtlab(*arguments, "--skip-bad", "--out", str(tmp_path / "run3"))
    assert result.returncode == 0, result.stderr
    assert "skipped 1 of 8 files of the train split" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_distributed_start_without_peers_says_it_waits_and_gives_up(tmp_path):
    env = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port())}
    started = time.monotonic()
    result = vtlab("train", "--model", "resnet_mini", "--epochs", "1", "--train-size", "16", "--quiet",
                   "--dist-timeout", "2", "--out", str(tmp_path / "run"), env=env, timeout=120)
    assert time.monotonic() - started < 60
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 2, result.stderr
    assert "waiting for 1 other process at 127.0.0.1" in lines[0] and "for up to 2 s" in lines[0]
    assert lines[1].startswith("vtlab: error: rank 0: gave up after 2 s") and "unset WORLD_SIZE" in lines[1]
