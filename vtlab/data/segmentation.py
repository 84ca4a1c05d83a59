"""Semantic-segmentation datasets (Section 4.2, Table 4): the embedded ``shapes`` masks, COCO-stuff and LIP.
The data registry (:mod:`vtlab.data.registry`) names them ``shapes``, ``coco-stuff:ROOT`` and ``lip:ROOT``, and
:func:`vtlab.data.create_segmentation_dataset` builds them with their transform.

Items are ``(image, mask)``: image float32 (3, S, S) normalised with the dataset's mean and std, mask int64
(S, S) holding class indices in [0, num_classes) or :data:`IGNORE_INDEX` (255), which losses and metrics skip.
Every item of a dataset has the same S, so that default collation batches them.

- ``shapes``: the procedural scenes of :mod:`vtlab.data.shapes`, 7 classes (background and the 6 shapes),
  64×64 (S defaults to 64), mean/std (0.5, 0.5, 0.5)/(0.25, 0.25, 0.25) as in the classification path.
  Needs no files.
- ``coco-stuff:ROOT``: COCO-stuff 164k as it unpacks (the 2017 images and the "stuffthingmaps" PNGs, one
  uint8 PNG per image: 0–90 thing classes, 91–181 the 91 stuff classes, 255 unlabeled). Training and
  evaluation are stuff-only, as the paper's 91 stuff classes: stuff value v becomes class v - 91, and thing
  pixels and unlabeled pixels become IGNORE_INDEX. Other values (182–254) are not COCO-stuff's:
  :func:`vtlab.data.scan_dataset` reports them before training (a loader alone maps them to IGNORE_INDEX).
  S defaults to 512: the paper counts MACs at 800×1216 (Table 4) but, as is usual for COCO-stuff, trains on
  crops; 512 is the common crop.
- ``lip:ROOT``: Look Into Person as it unpacks, 20 classes (background and 19 parts), PNG values 0–19
  (255 is taken as unlabeled); the scan reports any other value (a loader alone maps it to IGNORE_INDEX).
  S defaults to 473, the paper's LIP resolution.

Their transforms (resizing and padding to S×S, training rescales, crops and flips) are built by
:func:`vtlab.data.transforms.segmentation_transform` from the dataset class's ``image_size``, ``native_size``,
``mean``, ``std`` and ``flip_pairs``. LIP's ``flip_pairs`` exchange the left and right classes (Left-arm/Right-arm,
Left-leg/Right-leg, Left-shoe/Right-shoe) when an item is flipped, as LIP training code does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from .checks import check_choice, check_inputs
from .folders import IMAGENET_MEAN, IMAGENET_STD
from .images import load_image
from .labels import IGNORE_INDEX, load_label, make_label_table
from .shapes import GREY, SHAPES, ShapesDataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LABEL_SUFFIX = ".png"

# COCO-stuff's 91 stuff classes in id order (stuffthingmaps values 91..181).
COCO_STUFF_CLASSES = (
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard", "carpet",
    "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard", "curtain", "desk-stuff",
    "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood",
    "flower", "fog", "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house",
    "leaves", "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper",
    "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield", "railing", "railroad", "river",
    "road", "rock", "roof", "rug", "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow",
    "solid-other", "stairs", "stone", "straw", "structural-other", "table", "tent", "textile-other", "towel",
    "tree", "vegetable", "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
)
COCO_STUFF_FIRST = 91  # the stuffthingmaps value of the first stuff class (banner)
assert len(COCO_STUFF_CLASSES) == 91, len(COCO_STUFF_CLASSES)

LIP_CLASSES = (
    "Background", "Hat", "Hair", "Glove", "Sunglasses", "UpperClothes", "Dress", "Coat", "Socks", "Pants",
    "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm", "Left-leg", "Right-leg", "Left-shoe",
    "Right-shoe",
)
LIP_FLIP_PAIRS = ((14, 15), (16, 17), (18, 19))  # classes that a horizontal flip exchanges
assert len(LIP_CLASSES) == 20, len(LIP_CLASSES)


class ShapesSegmentationDataset(ShapesDataset):
    """The ``shapes`` scenes with their masks: items are (image uint8 (3, size, size), mask int64 (size, size)
    in 0..6), or what ``transform(image, mask)`` returns. Class 0 is the background, 1..6 are SHAPES."""

    classes = ("background", *SHAPES)
    num_classes = len(SHAPES) + 1
    ignore_index = IGNORE_INDEX
    image_size = 64  # the default S
    native_size: int | None = 64  # the scenes' size: square, so resized to S×S, never cropped
    mean, std = GREY
    flip_pairs: tuple[tuple[int, int], ...] = ()

    def __init__(self, split: str = "train", size: int = 64, length: int | None = None, seed: int = 0,
                 transform=None):
        super().__init__(split, size=size, length=length, seed=seed, target="mask", transform=transform)


class SegmentationFolderDataset(Dataset):
    """Pairs of image and label PNG found by file stem in ROOT/<image folder> and ROOT/<label folder> of a
    split, the label's values mapped through ``label_table``. Items are (image uint8 (3, H, W), mask int64
    (H, W)), or what ``transform(image, mask)`` returns (it gets a ``tv_tensors.Image`` and a uint8
    ``tv_tensors.Mask``); the pairs are in the sorted order of their stems.

    Subclasses set the class attributes: ``folders`` (split → (image folder, label folder), relative to ROOT),
    ``layout`` (the expected layout, for errors), ``classes``, ``label_table``, ``defined_values`` (the PNG
    values the dataset defines: ranges or tuples; the scan reports others), ``flip_pairs``, and the default
    ``image_size``, ``mean`` and ``std``.
    """

    name = "segmentation folders"
    folders: dict[str, tuple[str, str]] = {}
    layout = ""
    classes: tuple[str, ...] = ()
    num_classes = 0
    ignore_index = IGNORE_INDEX
    label_table = np.full(256, IGNORE_INDEX, np.uint8)
    defined_values: tuple[Iterable[int], ...] = ((IGNORE_INDEX,),)
    flip_pairs: tuple[tuple[int, int], ...] = ()
    image_size = 512
    native_size: int | None = None  # images of any size: rescaled and cropped or padded to S×S
    mean, std = IMAGENET_MEAN, IMAGENET_STD

    def __init__(self, root: str | Path, split: str = "train", transform=None):
        check_inputs(root=root, transform=transform)
        check_choice("split", split, tuple(self.folders))
        root = Path(root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"no {self.name} folder {root}; expected {self.layout}")
        image_dir, label_dir = (root / folder for folder in self.folders[split])
        for folder in (image_dir, label_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"no {folder.relative_to(root)}/ folder in {root}; expected {self.layout}")
        images, labels = _files(image_dir, IMAGE_SUFFIXES), _files(label_dir, (LABEL_SUFFIX,))
        if not images:
            raise ValueError(f"{image_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}); expected {self.layout}")
        _check_matched(images, labels, f"image(s) in {image_dir} have no label PNG in {label_dir}")
        _check_matched(labels, images, f"label PNG(s) in {label_dir} have no image in {image_dir}")
        stems = sorted(images)
        self.root, self.split, self.transform = root, split, transform
        self.samples = [(images[stem], labels[stem]) for stem in stems]

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        """The raw pair: image uint8 (3, H, W) and mask uint8 (H, W) after the label table."""
        image_path, label_path = self.samples[index]
        image = load_image(str(image_path))
        mask = load_label(label_path, self.label_table)
        if mask.shape != (image.height, image.width):
            raise ValueError(f"image {image_path} is {image.width}x{image.height} pixels but its label {label_path} "
                             f"is {mask.shape[1]}x{mask.shape[0]}; expected the same size")
        return tv_tensors.Image(F.pil_to_tensor(image)), tv_tensors.Mask(torch.from_numpy(mask))

    def __getitem__(self, index: int):
        image, mask = self.load(index)
        if self.transform is not None:
            return self.transform(image, mask)
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor).to(torch.int64)


def _files(folder: Path, suffixes: Sequence[str]) -> dict[str, Path]:
    """The files of ``folder`` with one of ``suffixes`` (any case), by stem; two files with one stem is an error."""
    found: dict[str, Path] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            path = Path(entry.path)
            if path.suffix.lower() in suffixes and entry.is_file():
                if path.stem in found:
                    raise ValueError(f"two files with the stem {path.stem!r} in {folder}: {found[path.stem].name} "
                                     f"and {path.name}; expected one per image")
                found[path.stem] = path
    return found


def _check_matched(these: dict[str, Path], those: dict[str, Path], what: str, show: int = 5) -> None:
    unmatched = sorted(stem for stem in these if stem not in those)
    if unmatched:
        names = ", ".join(these[stem].name for stem in unmatched[:show])
        more = f" and {len(unmatched) - show} more" if len(unmatched) > show else ""
        raise ValueError(f"{len(unmatched)} {what}: {names}{more}; every image needs a label PNG of the same name")


class COCOStuffDataset(SegmentationFolderDataset):
    """COCO-stuff 164k, stuff classes only (see the module docstring):
    ROOT/images/{train2017,val2017}/NAME.jpg and ROOT/annotations/{train2017,val2017}/NAME.png."""

    name = "COCO-stuff"
    folders = {"train": ("images/train2017", "annotations/train2017"),
               "val": ("images/val2017", "annotations/val2017")}
    layout = ("ROOT/images/{train2017,val2017}/NAME.jpg and ROOT/annotations/{train2017,val2017}/NAME.png "
              "(cocostuff-164k: the COCO 2017 images and the stuffthingmaps PNGs)")
    classes = COCO_STUFF_CLASSES
    num_classes = len(COCO_STUFF_CLASSES)
    label_table = make_label_table(range(COCO_STUFF_FIRST, COCO_STUFF_FIRST + len(COCO_STUFF_CLASSES)))
    defined_values = (range(COCO_STUFF_FIRST + len(COCO_STUFF_CLASSES)), (IGNORE_INDEX,))  # things, stuff, unlabeled
    image_size = 512


class LIPDataset(SegmentationFolderDataset):
    """Look Into Person (see the module docstring): ROOT/TrainVal_images/{train_images,val_images}/NAME.jpg and
    ROOT/TrainVal_parsing_annotations/{train_segmentations,val_segmentations}/NAME.png."""

    name = "LIP"
    folders = {"train": ("TrainVal_images/train_images", "TrainVal_parsing_annotations/train_segmentations"),
               "val": ("TrainVal_images/val_images", "TrainVal_parsing_annotations/val_segmentations")}
    layout = ("ROOT/TrainVal_images/{train_images,val_images}/NAME.jpg and "
              "ROOT/TrainVal_parsing_annotations/{train_segmentations,val_segmentations}/NAME.png (LIP as it unpacks)")
    classes = LIP_CLASSES
    num_classes = len(LIP_CLASSES)
    label_table = make_label_table(range(len(LIP_CLASSES)))
    defined_values = (range(len(LIP_CLASSES)), (IGNORE_INDEX,))
    flip_pairs = LIP_FLIP_PAIRS
    image_size = 473


__all__ = ["COCO_STUFF_CLASSES", "IGNORE_INDEX", "LIP_CLASSES", "LIP_FLIP_PAIRS", "COCOStuffDataset", "LIPDataset",
           "SegmentationFolderDataset", "ShapesSegmentationDataset", "load_label", "make_label_table"]
