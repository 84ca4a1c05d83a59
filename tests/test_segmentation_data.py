"""Segmentation datasets: tiny COCO-stuff and LIP trees written in the real layouts are read into fixed-size
(image, mask) items with the right label mapping, padding, flips and errors; the shapes masks need no files."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from vtlab.data import (
    COCO_STUFF_CLASSES,
    IGNORE_INDEX,
    LIP_CLASSES,
    COCOStuffDataset,
    LIPDataset,
    PairedHorizontalFlip,
    ShapesSegmentationDataset,
    create_data,
    create_dataset,
    create_segmentation_dataset,
    segmentation_transform,
)
from vtlab.data.segmentation import load_label

COCO = {"train": ("images/train2017", "annotations/train2017"), "val": ("images/val2017", "annotations/val2017")}
LIP = {"train": ("TrainVal_images/train_images", "TrainVal_parsing_annotations/train_segmentations"),
       "val": ("TrainVal_images/val_images", "TrainVal_parsing_annotations/val_segmentations")}
IMAGENET_MEAN, IMAGENET_STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])


def write_pair(root, folders, name, label, colour=(90, 140, 200)):
    """A JPEG image of ``label``'s size (uniform ``colour``) and its label PNG holding ``label``'s values."""
    image_dir, label_dir = (root / folder for folder in folders)
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    height, width = label.shape
    Image.fromarray(np.full((height, width, 3), colour, np.uint8)).save(image_dir / f"{name}.jpg")
    Image.fromarray(label.astype(np.uint8)).save(label_dir / f"{name}.png")


def quadrants(height, width, values):
    """A label whose four quadrants (top-left, top-right, bottom-left, bottom-right) hold ``values``."""
    label = np.empty((height, width), np.uint8)
    label[: height // 2, : width // 2], label[: height // 2, width // 2:] = values[0], values[1]
    label[height // 2:, : width // 2], label[height // 2:, width // 2:] = values[2], values[3]
    return label


def write_coco(root):
    """Per split: a 40x30 (wide), a 24x36 (tall) and a 32x32 image with stuff, thing and unlabeled pixels."""
    for folders in COCO.values():
        write_pair(root, folders, "000000000001", np.full((30, 40), 91, np.uint8))
        write_pair(root, folders, "000000000002", np.full((36, 24), 181, np.uint8))
        write_pair(root, folders, "000000000003", quadrants(32, 32, (91, 181, 5, 255)))
    return root


def write_lip(root, value=14):
    for folders in LIP.values():
        write_pair(root, folders, "100034_483681", np.full((30, 40), value, np.uint8))
        write_pair(root, folders, "100050_1263981", np.full((36, 24), value, np.uint8))
    return root


def test_shapes_segmentation_needs_no_files():
    data = create_segmentation_dataset("shapes", "val", length=4)
    assert data.num_classes == 7 and data.classes == ("background", "circle", "square", "triangle", "star", "cross",
                                                      "ring")
    assert data.ignore_index == IGNORE_INDEX == 255 and len(data) == 4 and data.image_size == 64
    image, mask = data[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert mask.shape == (64, 64) and mask.dtype == torch.int64 and 0 <= int(mask.min()) and int(mask.max()) <= 6
    raw = ShapesSegmentationDataset("val", length=4)
    assert torch.equal(mask, raw.masks[0])  # val: no augmentation, no resize
    assert torch.allclose(image, (raw.images[0].float() / 255 - 0.5) / 0.25, atol=1e-6)
    small_image, small_mask = create_segmentation_dataset("shapes", "train", image_size=32, length=2)[1]
    assert small_image.shape == (3, 32, 32) and small_mask.shape == (32, 32)
    assert set(small_mask.unique().tolist()) <= set(raw.masks.unique().tolist()) | set(range(7))


def test_shapes_forced_flip_mirrors_image_and_mask():
    data = ShapesSegmentationDataset("train", length=2,
                                     transform=segmentation_transform(ShapesSegmentationDataset, True, flip_p=1.0))
    image, mask = data[1]
    assert torch.equal(mask, data.masks[1].flip(-1))
    assert torch.allclose(image, (data.images[1].flip(-1).float() / 255 - 0.5) / 0.25, atol=1e-6)


def test_coco_stuff_maps_stuff_to_classes_and_ignores_the_rest(tmp_path):
    assert len(COCO_STUFF_CLASSES) == 91 and COCO_STUFF_CLASSES[0] == "banner" and COCO_STUFF_CLASSES[-1] == "wood"
    table = COCOStuffDataset.label_table
    assert table[91] == 0 and table[181] == 90 and table[5] == table[0] == table[90] == table[182] == 255
    assert table[255] == IGNORE_INDEX and (table[91:182] == np.arange(91)).all() and (table[:91] == 255).all()
    root = write_coco(tmp_path)
    data = create_segmentation_dataset(f"coco-stuff:{root}", "val", image_size=32)
    assert data.num_classes == 91 and data.classes == COCO_STUFF_CLASSES and data.ignore_index == 255
    assert len(data) == 3 and data.image_size == 32
    # the 32x32 image is already S x S: the evaluation transform leaves every pixel where it is
    image, mask = data[2]
    assert image.shape == (3, 32, 32) and mask.dtype == torch.int64
    expected = torch.from_numpy(quadrants(32, 32, (0, 90, 255, 255))).long()
    assert torch.equal(mask, expected)


def test_coco_stuff_val_pads_bottom_right_with_ignore(tmp_path):
    root = write_coco(tmp_path)
    data = create_segmentation_dataset(f"coco-stuff:{root}", "val", image_size=32)
    image, mask = data[0]  # 40 wide x 30 high: longer side to 32 → 32 x 24, then 8 rows of padding
    assert torch.equal(mask[:24], torch.zeros(24, 32, dtype=torch.int64))
    assert (mask[24:] == IGNORE_INDEX).all()
    padded = ((0 - IMAGENET_MEAN) / IMAGENET_STD).view(3, 1, 1).expand(3, 8, 32)
    assert torch.allclose(image[:, 24:], padded)
    assert not torch.allclose(image[:, :24], padded[:, :1].expand(3, 24, 32), atol=0.5)
    image, mask = data[1]  # 24 wide x 36 high: 21 x 32 (24 * 32 / 36 = 21.3), then 11 columns of padding
    assert (mask[:, :21] == 90).all() and (mask[:, 21:] == IGNORE_INDEX).all()
    # default size: 512 for COCO-stuff
    default = create_segmentation_dataset(f"coco-stuff:{root}", "val")
    image, mask = default[0]
    assert default.image_size == 512 and image.shape == (3, 512, 512) and mask.shape == (512, 512)
    assert (mask[:384] == 0).all() and (mask[384:] == IGNORE_INDEX).all()


def test_coco_stuff_train_items_batch(tmp_path):
    root = write_coco(tmp_path)
    for augment in ("flip", "none"):
        data = create_segmentation_dataset(f"coco-stuff:{root}", "train", image_size=32, augment=augment)
        images, masks = next(iter(DataLoader(data, batch_size=3)))
        assert images.shape == (3, 3, 32, 32) and images.dtype == torch.float32
        assert masks.shape == (3, 32, 32) and masks.dtype == torch.int64
        assert set(masks.unique().tolist()) <= {0, 90, IGNORE_INDEX}
    # the 40x30 image (all class 0) rescaled by 0.5..2 relative to 64 wide, in 64x64 crops: where it is smaller
    # than the crop, the padding is IGNORE_INDEX, never class 0
    data = create_segmentation_dataset(f"coco-stuff:{root}", "train", image_size=64)
    counts = sum(torch.bincount(data[0][1].flatten(), minlength=256) for _ in range(12))
    assert counts[IGNORE_INDEX] > 0 and counts[0] > 0 and counts[1:IGNORE_INDEX].sum() == 0


def test_a_length_keeps_a_seeded_sample_by_the_rule_of_classification(tmp_path):
    """--train-size / --val-size on COCO-stuff and LIP: a seeded sample, the same draw as a classification folder
    of as many images, rather than the first pairs in file-name order."""
    for i in range(8):
        write_pair(tmp_path / "lip", LIP["val"], f"{i:03d}", np.full((6, 8), i, np.uint8))
        (tmp_path / "folder" / "val" / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "folder" / "val" / "ab"[i % 2] / f"{i}.png")
    full = create_segmentation_dataset(f"lip:{tmp_path / 'lip'}", "val", image_size=8)
    part = create_segmentation_dataset(f"lip:{tmp_path / 'lip'}", "val", image_size=8, length=3)
    again = create_segmentation_dataset(f"lip:{tmp_path / 'lip'}", "val", image_size=8, length=3)
    other = create_segmentation_dataset(f"lip:{tmp_path / 'lip'}", "val", image_size=8, length=3, seed=1)
    assert len(part) == 3 and part.indices == again.indices != other.indices and part.indices != [0, 1, 2]
    assert part.indices == sorted(part.indices)
    assert part.indices == create_dataset(str(tmp_path / "folder"), "val", length=3).indices
    assert (part.classes, part.num_classes, part.ignore_index, part.image_size) == (LIP_CLASSES, 20, 255, 8)
    for position, index in enumerate(part.indices):  # the items are the full dataset's, label value = file number
        assert torch.equal(part[position][1], full[index][1]) and int(part[position][1][0, 0]) == index
    assert create_data("segment", f"lip:{tmp_path / 'lip'}", "val", 8, length=3).indices == part.indices
    with pytest.raises(ValueError, match="at most the dataset's 8 items, got 9"):
        create_segmentation_dataset(f"lip:{tmp_path / 'lip'}", "val", length=9)


def test_a_length_renders_that_many_shapes_scenes():
    data = create_segmentation_dataset("shapes", "val", length=3)
    assert len(data) == 3 and torch.equal(data.masks, ShapesSegmentationDataset("val", length=5).masks[:3])


def test_lip_classes_sizes_and_label_mapping(tmp_path):
    assert len(LIP_CLASSES) == 20 and LIP_CLASSES[14:16] == ("Left-arm", "Right-arm")
    root = write_lip(tmp_path)
    data = create_segmentation_dataset(f"lip:{root}", "val")
    assert data.num_classes == 20 and data.classes == LIP_CLASSES and data.image_size == 473
    image, mask = data[0]
    assert image.shape == (3, 473, 473) and mask.shape == (473, 473)
    # 40x30 → 473 x 355 (30 * 473 / 40 = 354.75), padded below; val is never flipped
    assert (mask[:355] == 14).all() and (mask[355:] == IGNORE_INDEX).all()
    assert LIPDataset.label_table[19] == 19 and (LIPDataset.label_table[20:] == IGNORE_INDEX).all()
    write_pair(tmp_path / "odd", LIP["val"], "a", quadrants(4, 4, (0, 19, 20, 200)))
    raw = LIPDataset(tmp_path / "odd", "val")[0][1]
    assert torch.equal(raw, torch.from_numpy(quadrants(4, 4, (0, 19, 255, 255))).long())


def test_lip_flip_swaps_left_and_right(tmp_path):
    root = write_lip(tmp_path, value=14)
    forced = segmentation_transform(LIPDataset, True, 32, flip_p=1.0)
    data = LIPDataset(root, "train", transform=forced)
    for index in range(len(data)):  # a left arm everywhere becomes a right arm everywhere (plus crop padding)
        _, mask = data[index]
        assert (mask == 15).any() and set(mask.unique().tolist()) <= {15, IGNORE_INDEX}
    # the default training transform of LIP swaps too: over a few draws some items flip, none keeps a mix
    data = create_segmentation_dataset(f"lip:{root}", "train", image_size=32)
    seen = set()
    for _ in range(6):
        values = set(data[0][1].unique().tolist()) - {IGNORE_INDEX}
        assert values in ({14}, {15})
        seen |= values
    assert seen == {14, 15}


@pytest.mark.parametrize("left, right, flipped_left, flipped_right",
                         [(14, 16, 17, 15), (18, 19, 18, 19), (0, 13, 13, 0), (15, 255, 255, 14)])
def test_paired_flip_mirrors_and_swaps(left, right, flipped_left, flipped_right):
    image = torch.arange(8, dtype=torch.uint8).view(1, 1, 8).expand(3, 4, 8).clone()
    mask = torch.tensor([left] * 4 + [right] * 4, dtype=torch.uint8).expand(4, 8)
    flip = PairedHorizontalFlip(1.0, LIPDataset.flip_pairs)
    out_image, out_mask = flip(image, mask)
    assert torch.equal(out_image, image.flip(-1))
    assert torch.equal(out_mask, torch.tensor([flipped_left] * 4 + [flipped_right] * 4, dtype=torch.uint8).expand(4, 8))
    assert flip(*flip(image, mask))[1].equal(mask)  # two flips are the identity
    never = PairedHorizontalFlip(0.0, LIPDataset.flip_pairs)
    assert never(image, mask)[1] is mask
    with pytest.raises(ValueError, match=r"expected p to be a number in \[0, 1\], got 2"):
        PairedHorizontalFlip(2)


def test_coco_stuff_flip_does_not_swap():
    assert COCOStuffDataset.flip_pairs == () and ShapesSegmentationDataset.flip_pairs == ()


def test_missing_root_or_split_folder_names_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no COCO-stuff folder .*missing; expected ROOT/images/"):
        create_segmentation_dataset(f"coco-stuff:{tmp_path / 'missing'}")
    with pytest.raises(FileNotFoundError, match=r"no images/train2017/ folder in .*; expected ROOT/images/"):
        COCOStuffDataset(tmp_path)
    (tmp_path / "images" / "train2017").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no annotations/train2017/ folder"):
        COCOStuffDataset(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no TrainVal_images/val_images/ folder .*TrainVal_parsing"):
        create_segmentation_dataset(f"lip:{tmp_path}", "val")


def test_split_folder_without_images_is_named(tmp_path):
    for folder in COCO["train"]:
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "images" / "train2017" / "README.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"images/train2017 holds no images"):
        COCOStuffDataset(tmp_path, "train")


def test_unmatched_images_and_labels_are_named_and_counted(tmp_path):
    for i in range(7):
        write_pair(tmp_path, LIP["train"], f"p{i}", np.zeros((8, 8), np.uint8))
    for i in (0, 1, 2, 4, 5, 6):
        (tmp_path / LIP["train"][1] / f"p{i}.png").unlink()
    with pytest.raises(ValueError, match=r"6 image\(s\) in .*train_images have no label PNG in .*train_segmentations: "
                                         r"p0\.jpg, p1\.jpg, p2\.jpg, p4\.jpg, p5\.jpg and 1 more"):
        LIPDataset(tmp_path)
    write_pair(tmp_path / "b", LIP["train"], "q", np.zeros((8, 8), np.uint8))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "b" / LIP["train"][1] / "orphan.png")
    with pytest.raises(ValueError, match=r"1 label PNG\(s\) in .*train_segmentations have no image in "
                                         r".*: orphan\.png;"):
        LIPDataset(tmp_path / "b")


def test_corrupt_files_are_named_when_loaded(tmp_path):
    root = write_coco(tmp_path)
    (root / "images/val2017/000000000002.jpg").write_bytes(b"\xff\xd8 truncated")
    (root / "annotations/val2017/000000000003.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    data = COCOStuffDataset(root, "val")  # the tree is fine: files are read when an item is loaded
    assert data[0][0].shape == (3, 30, 40)
    with pytest.raises(ValueError, match=r"cannot read image .*val2017/000000000002\.jpg"):
        data[1]
    with pytest.raises(ValueError, match=r"cannot read label .*val2017/000000000003\.png"):
        data[2]


def test_colour_label_is_rejected(tmp_path):
    write_pair(tmp_path, LIP["val"], "rgb", np.zeros((6, 6), np.uint8))
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(tmp_path / LIP["val"][1] / "rgb.png")
    with pytest.raises(ValueError, match=r"cannot read label .*rgb\.png: expected a single-channel label PNG .*, "
                                         r"got .*\(6, 6, 3\)"):
        LIPDataset(tmp_path, "val")[0]


def test_palette_and_16_bit_labels_keep_their_values(tmp_path):
    path = tmp_path / "p.png"
    label = Image.fromarray(quadrants(4, 4, (0, 14, 19, 3))).convert("P")
    label.putpalette([255 - i for i in range(256)] * 3)  # colours unlike the indices
    label.save(path)
    assert (load_label(path, LIPDataset.label_table) == quadrants(4, 4, (0, 14, 19, 3))).all()
    wide = np.array([[0, 300], [19, 3]], np.uint16)
    Image.fromarray(wide).save(path)
    assert (load_label(path, LIPDataset.label_table) == np.array([[0, 255], [19, 3]])).all()


def test_image_and_label_sizes_must_agree(tmp_path):
    write_pair(tmp_path, LIP["train"], "a", np.zeros((30, 40), np.uint8))
    Image.fromarray(np.zeros((31, 40), np.uint8)).save(tmp_path / LIP["train"][1] / "a.png")
    with pytest.raises(ValueError, match=r"image .*train_images/a\.jpg is 40x30 pixels but its label "
                                         r".*train_segmentations/a\.png is 40x31"):
        LIPDataset(tmp_path)[0]


@pytest.mark.parametrize("data, kwargs, message", [
    ("ade20k:/x", {}, r"^unknown segmentation data 'ade20k:/x'; expected 'shapes', 'coco-stuff:ROOT' or "
                      r"'lip:ROOT'$"),
    ("digits", {}, r"^unknown segmentation data 'digits'; expected .*; 'digits' is classification data$"),
    ("shapes:/x", {}, r"^expected the built-in 'shapes' alone \(it reads no files\), got 'shapes:/x'$"),
    ("coco-stuff", {}, r"expected coco-stuff:ROOT naming the folder that holds the COCO-stuff files"),
    ("lip:", {}, r"expected lip:ROOT"),
    ("shapes", {"split": "test"}, r"unknown split 'test'; expected 'train' or 'val'"),
    ("shapes", {"augment": "autoaugment"}, r"unknown augment 'autoaugment'; expected 'none' or 'flip'"),
    ("shapes", {"image_size": 0}, r"expected image_size to be a positive integer, got 0"),
])
def test_bad_arguments_are_clear_errors(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_segmentation_dataset(data, length=2, **kwargs)
