"""Datasets: the embedded ones are deterministic and consistent; the real loaders read tiny files written in
the real formats and fail with errors that name the file."""

import pickle
import re

import numpy as np
import pytest
import torch
from PIL import Image

from vtlab.data import (
    REGISTRY,
    SHAPES,
    TASKS,
    CIFARDataset,
    DigitsDataset,
    ImageFolderDataset,
    ShapesDataset,
    create_data,
    create_dataset,
    data_help,
    parse_data,
)


def test_shapes_are_deterministic_and_seeded():
    a, b = ShapesDataset("train", size=32, length=12, seed=5), ShapesDataset("train", size=32, length=12, seed=5)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, ShapesDataset("train", size=32, length=12, seed=6).images)
    assert not torch.equal(a.images, ShapesDataset("val", size=32, length=12, seed=5).images)
    # scene i does not depend on how many scenes are generated
    assert torch.equal(ShapesDataset("train", size=32, length=3, seed=5).images, a.images[:3])


def test_shapes_masks_agree_with_labels():
    data = ShapesDataset("train", size=64, length=60)
    assert data.images.shape == (60, 3, 64, 64) and data.images.dtype == torch.uint8
    assert data.masks.shape == (60, 64, 64) and int(data.masks.max()) <= len(SHAPES)
    for mask, label in zip(data.masks, data.labels, strict=True):
        counts = torch.bincount(mask.flatten(), minlength=len(SHAPES) + 1)
        assert counts[label + 1] > 0 and counts[1:].argmax() == label  # the largest shape is the label
        assert counts[0] > 0 and (counts[1:] > 0).sum() >= 2  # background and at least one other shape
    assert set(data.labels.tolist()) == set(range(len(SHAPES)))
    image, mask = ShapesDataset("val", size=32, length=2, target="mask")[1]
    assert image.shape == (3, 32, 32) and mask.shape == (32, 32)


@pytest.mark.parametrize("kwargs, message", [({"split": "tests"}, "unknown split"), ({"size": 8}, "at least 16x16"),
                                             ({"target": "box"}, "unknown target 'box'; expected 'label' or 'mask'")])
def test_shapes_reject_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ShapesDataset(length=2, **kwargs)


def test_digits_split_is_disjoint_and_complete():
    train, val = DigitsDataset("train"), DigitsDataset("val")
    assert len(train) + len(val) == 1797 and len(val) == 359
    assert train.images.shape[1:] == (3, 32, 32) and set(val.labels.tolist()) == set(range(10))
    assert not any(torch.equal(val.images[0], image) for image in train.images)


def write_cifar10(root, n=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": list(range(n))}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)]}, f)
    return folder


def test_cifar10_reads_the_python_layout(tmp_path):
    folder = write_cifar10(tmp_path)
    train = CIFARDataset(tmp_path, "cifar10", "train")
    assert len(train) == 20 and train.num_classes == 10 and train.classes[3] == "class3"
    with open(folder / "data_batch_1", "rb") as f:
        row = pickle.load(f, encoding="bytes")[b"data"][0]
    image, label = train[0]
    # rows hold the red plane, then green, then blue, each 32x32 row-major
    assert image.shape == (3, 32, 32) and image[0, 0, 1] == row[1] and image[1, 0, 0] == row[1024]
    assert label == 0 and len(CIFARDataset(tmp_path, "cifar10", "val")) == 4
    data = create_dataset(f"cifar10:{tmp_path}", "train", augment="flip")
    assert data[0][0].dtype == torch.float32


def test_cifar100_reads_the_python_layout(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": np.zeros((3, 3072), np.uint8), b"fine_labels": [0, 99, 5]}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, f)
    data = CIFARDataset(tmp_path, "cifar100", "train")
    assert data.num_classes == 100 and data[1][1] == 99


def test_cifar_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no cifar10 data at .*cifar-10-batches-py.*download"):
        CIFARDataset(tmp_path, "cifar10")
    folder = write_cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"cannot read CIFAR file .*data_batch_3"):
        CIFARDataset(tmp_path, "cifar10")
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing CIFAR file .*data_batch_3"):
        CIFARDataset(tmp_path, "cifar10")
    with pytest.raises(ValueError, match="expected cifar10:ROOT"):
        create_dataset("cifar10")


def write_folder(root, classes=("cat", "dog"), per_class=2):
    for split in ("train", "val"):
        for i, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for j in range(per_class):
                pixels = np.full((40, 50, 3), 60 * i + 10 * j, np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{j}.jpg")


def test_image_folder_reads_the_imagenet_layout(tmp_path):
    write_folder(tmp_path)
    data = create_dataset(str(tmp_path), "train", image_size=32, augment="autoaugment")
    assert data.classes == ["cat", "dog"] and data.num_classes == 2 and len(data) == 4
    image, label = data[3]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 1
    val_image, _ = create_dataset(str(tmp_path), "val", image_size=32)[0]
    assert val_image.shape == (3, 32, 32)


def test_image_folder_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder .*missing"):
        ImageFolderDataset(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no train/ folder"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match="holds no class folders with images"):
        ImageFolderDataset(tmp_path)
    write_folder(tmp_path / "other")
    bad = tmp_path / "other" / "train" / "cat" / "1.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    data = ImageFolderDataset(tmp_path / "other")
    with pytest.raises(ValueError, match=r"cannot read image .*cat/1\.jpg"):
        data[1]


def test_unknown_data_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown data 'imagenet'; expected 'shapes', .*'digits'"):
        create_dataset("imagenet")


def test_a_length_keeps_a_seeded_sample_of_any_dataset(tmp_path):
    """--train-size / --val-size apply to every dataset: a seeded sample, not the first classes of a folder."""
    full = create_dataset("digits", "train")
    part = create_dataset("digits", "train", length=100)
    assert len(part) == 100 and part.classes == full.classes and part.num_classes == 10
    again, other = create_dataset("digits", "train", length=100), create_dataset("digits", "train", length=100, seed=1)
    assert part.indices == again.indices != other.indices
    assert part.indices == sorted(part.indices) and len(set(part.indices)) == 100
    image, label = part[0]
    assert torch.equal(image, full[part.indices[0]][0]) and label == full[part.indices[0]][1]
    assert len({int(part[i][1]) for i in range(len(part))}) == 10  # a sample, so every digit is in it
    for name in ("a", "b"):  # a folder sorted by class: the first 4 images would all be class "a"
        for i in range(6):
            (tmp_path / "train" / name).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8)).save(tmp_path / "train" / name / f"{i}.png")
    assert {part[1] for part in (create_dataset(str(tmp_path), "train", length=4)[i] for i in range(4))} == {0, 1}
    with pytest.raises(ValueError, match="at most the dataset's 12 items, got 13"):
        create_dataset(str(tmp_path), "train", length=13)


def test_one_registry_serves_both_tasks_and_the_help():
    """Every name of the registry is parsed for the tasks its entry serves and refused, naming the task it
    belongs to, for the others; the --data help lists each task's names."""
    listed = {words: re.split(r", | or ", names) for words, names in (part.split(": ") for part in
                                                                      data_help().split("; "))}
    assert listed["classification"][-1] == "an ImageNet-style folder"
    for name, entry in REGISTRY.items():
        value = f"{name}:/some/root" if entry.layout is not None else name
        for task, words in TASKS.items():
            assert (entry.usage in listed[words]) == (task in entry.loaders)
            if task in entry.loaders:
                spec = parse_data(value, task)
                assert (spec.kind, spec.root, spec.image_size) == (name, "/some/root" if entry.layout else None,
                                                                    entry.image_size)
            else:
                with pytest.raises(ValueError, match=rf"unknown .*data '{value}'; .*; '{name}' is .* data$"):
                    parse_data(value, task)
    spec = parse_data("lip:/data/LIP", "segment")
    assert (spec.kind, spec.root, spec.image_size, spec.mean) == ("lip", "/data/LIP", 473, (0.485, 0.456, 0.406))
    assert listed["segmentation"] == ["shapes", "coco-stuff:ROOT", "lip:ROOT"]


def test_download_is_refused_for_data_that_are_not_downloaded(tmp_path):
    for task, data in (("classify", "digits"), ("classify", str(tmp_path)), ("segment", "shapes")):
        with pytest.raises(ValueError, match=rf"expected --download only with cifar10:ROOT or cifar100:ROOT .*got it "
                                             rf"with '{data}'"):
            create_data(task, data, "train", download=True, length=2)


def test_a_recipe_augmentation_selects_the_segmentation_augmentation():
    """create_data takes a recipe's augment for either task: segmentation rescales, crops and flips for any but
    "none" (the segmentation recipes say "flip", the same)."""
    for augment, flips in (("none", False), ("flip", True), ("autoaugment", True)):
        steps = create_data("segment", "shapes", "train", augment=augment, length=2).transform.steps
        assert any(type(step).__name__ == "PairedHorizontalFlip" for step in steps) == flips
    assert not create_data("segment", "shapes", "val", augment="flip", length=2).transform.steps
