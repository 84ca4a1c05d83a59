"""Nothing lost, nothing silently wrong in the data layer: images are decoded by their pixel mode, folder walks
do not loop, CIFAR batches are checked as they are read, and scan_dataset finds bad files (unreadable,
decompression bombs, undefined label values, a split without a labelled pixel, a single class) before the
first epoch, or skips them when asked. Tiny files in the real layouts, written in tmp_path."""

import os
import pickle
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import vtlab.data as data
from vtlab.data import CIFARDataset, ImageFolderDataset, LIPDataset, create_dataset, registry
from vtlab.data.folders import load_image

LIP = {"train": ("TrainVal_images/train_images", "TrainVal_parsing_annotations/train_segmentations"),
       "val": ("TrainVal_images/val_images", "TrainVal_parsing_annotations/val_segmentations")}
COCO = {"train": ("images/train2017", "annotations/train2017"), "val": ("images/val2017", "annotations/val2017")}


def write_classes(root, classes=("a", "b"), per_class=6, split="train"):
    for i, name in enumerate(classes):
        (root / split / name).mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            Image.new("RGB", (12, 10), (40 * i, 10 * j, 90)).save(root / split / name / f"{j}.png")
    return root


def write_pairs(root, folders, labels):
    """One JPEG image and its label PNG per entry of ``labels`` (name → uint8 array)."""
    image_dir, label_dir = (root / folder for folder in folders)
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    for name, label in labels.items():
        Image.new("RGB", label.shape[::-1], (90, 140, 200)).save(image_dir / f"{name}.jpg")
        Image.fromarray(label.astype(np.uint8)).save(label_dir / f"{name}.png")
    return root


def png_claiming(width, height):
    """A few-byte PNG whose header claims ``width``x``height`` grey pixels (its data is one empty row)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


# --- case 5: decoding by mode, symlink loops, a single class -------------------------------------------------

def test_16_bit_png_is_scaled_to_8_bits_not_saturated(tmp_path):
    values = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    Image.fromarray(values).save(tmp_path / "deep.png")
    rgb = np.asarray(load_image(str(tmp_path / "deep.png")))
    assert rgb.shape == (64, 64, 3) and (rgb[..., 0] == rgb[..., 2]).all()
    assert np.abs(rgb[..., 0].astype(int) - np.round(values / 257)).max() == 0  # the full range, scaled
    assert (rgb == 255).mean() < 0.01


def test_32_bit_integer_tiff_of_an_unknown_range_is_refused(tmp_path):
    Image.fromarray(np.arange(0, 60000, 15, dtype=np.int32).reshape(50, 80)).save(tmp_path / "wide.tif")
    with pytest.raises(ValueError, match=r"cannot read image .*wide\.tif: 32-bit integer image of mode I with "
                                         r"values 0\.\.59985, whose range the file does not say"):
        load_image(str(tmp_path / "wide.tif"))
    Image.fromarray(np.arange(200, dtype=np.int32).reshape(10, 20)).save(tmp_path / "byte.tif")
    assert np.asarray(load_image(str(tmp_path / "byte.tif")))[0, 7].tolist() == [7, 7, 7]  # 0..255: as they are


def test_float_tiff_in_0_1_is_scaled_and_other_ranges_refused(tmp_path):
    Image.fromarray(np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)).save(tmp_path / "unit.tif")
    rgb = np.asarray(load_image(str(tmp_path / "unit.tif")))
    assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255 and abs(float(rgb.mean()) - 127.5) < 1  # not black
    Image.fromarray(np.full((4, 4), 3.5, np.float32)).save(tmp_path / "hdr.tif")
    with pytest.raises(ValueError, match=r"hdr\.tif: float image of mode F with values 3\.5\.\.3\.5; expected "
                                         r"values in \[0, 1\]"):
        load_image(str(tmp_path / "hdr.tif"))


def test_other_modes_follow_the_documented_rules(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:2] = (255, 0, 0, 255)  # opaque red over a transparent bottom half (black under the alpha)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    assert np.asarray(load_image(str(tmp_path / "alpha.png")))[[0, 3], 0].tolist() == [[255, 0, 0], [255, 255, 255]]
    Image.fromarray(np.full((4, 4), 200, np.uint16)).save(tmp_path / "eight_in_sixteen.png")
    with pytest.raises(ValueError, match=r"16-bit image of mode I;16 with values 200\.\.200: 8-bit values"):
        load_image(str(tmp_path / "eight_in_sixteen.png"))
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    red, green, blue = np.asarray(load_image(str(tmp_path / "cmyk.jpg")))[0, 0].tolist()
    assert red > 200 and green < 60 and blue < 60


def test_a_symlink_loop_is_not_followed_and_is_reported(tmp_path, capsys):
    write_classes(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.new("RGB", (8, 8)).save(elsewhere / "x.png")
    os.symlink("..", tmp_path / "train" / "a" / "loop")  # a/loop is train/: every class again, under "a"
    os.symlink(elsewhere, tmp_path / "train" / "b" / "more")  # a folder elsewhere: followed
    os.symlink(elsewhere / "x.png", tmp_path / "train" / "b" / "linked.png")  # a file elsewhere: followed
    folder = ImageFolderDataset(tmp_path, "train")
    assert len(folder) == 14 and folder.targets.count(0) == 6 and folder.targets.count(1) == 8
    with pytest.raises(ValueError, match=r"1 of 15 files of the train split .*: train/a/loop \(a symbolic link to "
                                         r".*train, a folder the walk is inside.*--skip-bad$"):
        data.scan_dataset(folder, progress=False)
    assert len(data.scan_dataset(folder, skip_bad=True, progress=False)) == 14
    assert "skipped 1 of 15 files of the train split: train/a/loop" in capsys.readouterr().err


def test_a_single_class_is_refused_even_when_skipping(tmp_path):
    folder = ImageFolderDataset(write_classes(tmp_path, classes=("only",)), "train")
    for skip in (False, True):
        with pytest.raises(ValueError, match=r"expected at least 2 classes in the train split .*got 1 \(only\)"):
            data.scan_dataset(folder, skip_bad=skip, progress=False)


# --- case 6: data errors found at construction or by the scan ----------------------------------------------

def write_cifar10(root, labels=None, names=None):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch_labels = labels if labels is not None and name == "data_batch_2" else [0, 1, 2, 3]
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": np.zeros((4, 3072), np.uint8), b"labels": batch_labels}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names or [f"class{i}".encode() for i in range(10)]}, f)


@pytest.mark.parametrize("labels, message", [
    ([0, 1, 2], r"data_batch_2 has 4 image rows but 3 labels"),  # fewer: would train on a shifted subset
    ([0, 1, 2, 3, 4], r"data_batch_2 has 4 image rows but 5 labels"),
    ([0, 12, 1, 2], r"data_batch_2 has 1 label\(s\) outside \[0, 10\) .*e\.g\. 12"),
    ([0, -1, 1, 2], r"data_batch_2 has 1 label\(s\) outside \[0, 10\) .*e\.g\. -1"),
    ([0, 1.0, 1, 2], r"data_batch_2: expected its labels as a list of integers, got float, int"),
])
def test_cifar_labels_are_checked_on_construction(tmp_path, labels, message):
    write_cifar10(tmp_path, labels=labels)
    with pytest.raises(ValueError, match=message):
        CIFARDataset(tmp_path, "cifar10", "train")


def test_cifar_label_names_may_be_str(tmp_path):
    write_cifar10(tmp_path, names=[f"name{i}" for i in range(10)])
    assert CIFARDataset(tmp_path, "cifar10", "val").classes[9] == "name9"
    write_cifar10(tmp_path, names=[f"name{i}" for i in range(9)] + [9])
    with pytest.raises(ValueError, match=r"batches\.meta: expected b'label_names' as a non-empty list of class "
                                         r"names \(bytes or str\), got \[int, str\]"):
        CIFARDataset(tmp_path, "cifar10", "val")


def test_a_corrupt_image_is_found_before_the_first_epoch(tmp_path, capsys):
    write_classes(tmp_path)
    noise = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "train" / "a" / "cut.jpg", quality=95)
    whole = (tmp_path / "train" / "a" / "cut.jpg").read_bytes()
    (tmp_path / "train" / "a" / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # a header, half the data
    (tmp_path / "train" / "b" / "0.png").write_bytes((tmp_path / "train" / "b" / "1.png").read_bytes()[:-30])
    dataset = create_dataset(str(tmp_path), "train", image_size=8)
    with pytest.raises(ValueError, match=r"^2 of 13 files of the train split in .* cannot be used: "
                                         r"train/a/cut\.jpg \(truncated or corrupt data: .*\); train/b/0\.png "
                                         r"\(truncated or corrupt data: .*\); fix or remove them, or leave them out "
                                         r"with --skip-bad$"):
        data.scan_dataset(dataset, progress=False)
    kept = data.scan_dataset(dataset, skip_bad=True, progress=False)
    assert len(kept) == 11 and len(dataset) == 13 and kept.classes == ["a", "b"]
    assert all(image.shape == (3, 8, 8) for image, _ in kept)
    assert capsys.readouterr().err.count("\n") == 1
    sample = create_dataset(str(tmp_path), "train", image_size=8, length=9, seed=1)  # a ClassSubset
    assert sample.indices == [0, 1, 2, 3, 5, 6, 7, 11, 12]  # 6 and 7 are a/cut.jpg and b/0.png
    kept = data.scan_dataset(sample, skip_bad=True, progress=False)
    assert type(kept) is type(sample) and kept.num_classes == 2 and kept.indices == [0, 1, 2, 3, 5, 11, 12]


# --- case 7: segmentation labels -----------------------------------------------------------------------------

def test_label_values_the_dataset_does_not_define_are_reported(tmp_path):
    good, beyond = np.full((6, 8), 14, np.uint8), np.full((6, 8), 14, np.uint8)
    beyond[0, :3] = (20, 37, 254)
    lip = LIPDataset(write_pairs(tmp_path / "lip", LIP["train"], {"a": good, "b": beyond}), "train")
    with pytest.raises(ValueError, match=r"1 of 2 image/label pairs of the train split .*: .*train_segmentations/"
                                         r"b\.png \(values 20, 37, 254, which LIP does not define; it defines "
                                         r"0\.\.19 and 255\); fix"):
        data.scan_dataset(lip, progress=False)
    assert len(data.scan_dataset(lip, skip_bad=True, progress=False)) == 1
    coco = data.COCOStuffDataset(write_pairs(tmp_path / "coco", COCO["val"], {"c": np.full((6, 8), 200)}), "val")
    with pytest.raises(ValueError, match=r"values 200, which COCO-stuff does not define; it defines 0\.\.181 and 255"):
        data.scan_dataset(coco, split="val", progress=False)


def test_a_split_without_a_labelled_pixel_is_refused(tmp_path):
    things = {"t": np.full((6, 8), 5), "u": np.full((6, 8), 255)}  # thing and unlabeled pixels only
    coco = data.COCOStuffDataset(write_pairs(tmp_path, COCO["train"], things), "train")
    with pytest.raises(ValueError, match=r"no labelled pixel in the 2 label PNGs of the train split .*expected some "
                                         r"of the class values 91\.\.181"):
        data.scan_dataset(coco, skip_bad=True, progress=False)


# --- case 8: decompression bombs and resize budgets ----------------------------------------------------------

def test_a_png_claiming_a_huge_size_is_a_clear_error(tmp_path):
    write_classes(tmp_path)
    bomb = tmp_path / "train" / "a" / "bomb.png"
    bomb.write_bytes(png_claiming(30000, 30000))
    assert len(bomb.read_bytes()) < 100
    with pytest.raises(ValueError, match=r"cannot read image .*bomb\.png: .*900000000 pixels"):
        load_image(str(bomb))
    with pytest.raises(ValueError, match=r"train/a/bomb\.png \(.*decompression bomb"):
        data.scan_dataset(ImageFolderDataset(tmp_path), progress=False)


def test_an_image_whose_resize_would_exhaust_memory_is_found(tmp_path):
    write_classes(tmp_path, split="val")
    Image.new("L", (60000, 1)).save(tmp_path / "val" / "b" / "strip.png")  # the shorter side resized to 256
    with pytest.raises(ValueError, match=r"val/b/strip\.png \(60000x1 pixels would be resized by the transform to "
                                         r"3,932,160,000 pixels, above the budget"):
        data.scan_dataset(create_dataset(str(tmp_path), "val"), split="val", progress=False)


# --- case 10: built-in names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["digits", "shapes", "shapes-pairs"])
def test_a_built_in_name_takes_no_root(name):
    with pytest.raises(ValueError, match=rf"expected the built-in '{name}' alone .*got '{name}:/nonexistent'"):
        data.parse_data(f"{name}:/nonexistent")


def test_a_built_in_name_beside_a_folder_of_that_name_says_which_it_uses(tmp_path, monkeypatch, capsys):
    write_classes(tmp_path / "digits")
    monkeypatch.chdir(tmp_path)
    registry._note_shadowed_folder.cache_clear()
    assert data.parse_data("digits").kind == "digits"
    assert data.parse_data("digits").kind == "digits"
    assert capsys.readouterr().err == ("vtlab: note: --data digits is the built-in digits set, not the folder "
                                       "./digits here; to train on the folder, pass --data ./digits\n")
    assert data.parse_data("./digits").kind == "folder" and create_dataset("./digits").classes == ["a", "b"]


# --- every input validated by type and range -----------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: create_dataset(5), r"expected data to be a non-empty string, got 5"),
    (lambda: data.create_segmentation_dataset(5), r"expected data to be a non-empty string, got 5"),
    (lambda: data.DigitsDataset(val_fraction=1.5), r"expected val_fraction to be a number > 0 and < 1, got 1\.5"),
    (lambda: create_dataset("digits", seed=1.5), r"expected seed to be an integer \(a random seed\), got 1\.5"),
    (lambda: create_dataset("digits", download="yes"), r"expected download to be True or False, got 'yes'"),
    (lambda: data.create_segmentation_dataset("shapes", seed=None), r"expected seed to be an integer"),
    (lambda: ImageFolderDataset(5), r"expected root to be a path \(str or pathlib\.Path\), got 5"),
    (lambda: CIFARDataset("/x", transform=3), r"expected transform to be a callable or None, got 3"),
    (lambda: data.scan_dataset([], skip_bad=1), r"expected skip_bad to be True or False, got 1"),
])
def test_bad_argument_types_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_scan_passes_generated_datasets_through():
    digits = create_dataset("digits", "val")
    assert data.scan_dataset(digits, progress=False) is digits
    assert isinstance(digits[0][0], torch.Tensor)
