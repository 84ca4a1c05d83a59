"""Datasets: the embedded offline ones (``shapes``, ``digits``) and real loaders (CIFAR, ImageNet-style
folders), behind one entry point for classification, :func:`create_dataset`; and semantic segmentation
(``shapes`` masks, COCO-stuff, LIP) behind :func:`create_segmentation_dataset` (see :mod:`vtlab.data.segmentation`).

``data`` names a classification dataset: ``"shapes"``, ``"shapes-pairs"`` (scenes labelled by two objects),
``"digits"``, ``"cifar10:ROOT"``, ``"cifar100:ROOT"``, or
the path of an ImageNet-style folder tree (ROOT/train/<class>/<image>, ROOT/val/<class>/<image>).

The built-in names keep their meaning in every folder: a bare ``digits`` (``shapes``, ``shapes-pairs``) is the
built-in set even where a folder of that name exists, since a run folder or a download often carries the
dataset's name, and a name whose meaning changed with the working directory would train on the wrong data
without a word. Where such a folder exists, one line on stderr says so and how to name the folder instead
(``./digits``). The built-in sets take no ROOT: ``digits:/path`` is an error, not a root ignored.

Before training, :func:`scan_dataset` checks every file of a folder dataset (see :mod:`vtlab.data.scan`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset
from torchvision.transforms import v2

from .._checks import check_positive
from .checks import check_choice, check_inputs
from .cifar import CIFARDataset
from .digits import DigitsDataset
from .folders import IMAGENET_MEAN, IMAGENET_STD, ImageFolderDataset
from .images import BadFileError, load_image
from .scan import scan_dataset
from .segmentation import (
    COCO_STUFF_CLASSES,
    IGNORE_INDEX,
    LIP_CLASSES,
    COCOStuffDataset,
    LIPDataset,
    SegmentationFolderDataset,
    ShapesSegmentationDataset,
    create_segmentation_dataset,
)
from .shapes import SHAPES, ShapesDataset
from .transforms import PairedHorizontalFlip, SegmentationTransform, segmentation_transform

AUGMENTS = ("none", "flip", "autoaugment")
BUILT_IN = ("shapes", "shapes-pairs", "digits")


@dataclass(frozen=True)
class DataSpec:
    """What a training run needs to know about a dataset before loading it."""

    kind: str  # "shapes", "digits", "cifar10", "cifar100" or "folder"
    root: str | None
    image_size: int  # native (tensor datasets) or default crop (folders)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    flips: bool  # whether a horizontal flip keeps the label


def parse_data(data: str) -> DataSpec:
    """Read a ``--data`` value (see the module docstring)."""
    check_inputs(data=data)
    kind, colon, root = data.partition(":")
    if kind in BUILT_IN and colon:
        raise ValueError(f"expected the built-in {kind!r} alone (it reads no files), got {data!r}; for an image "
                         f"folder tree named {kind}, give its path (./{kind})")
    if kind in BUILT_IN and Path(kind).is_dir():
        _note_shadowed_folder(kind)
    if kind in ("shapes", "shapes-pairs"):
        return DataSpec(kind, None, 64, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), True)
    if kind == "digits":
        return DataSpec("digits", None, 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), False)
    if kind in ("cifar10", "cifar100"):
        if not root:
            raise ValueError(f"expected {kind}:ROOT naming the folder that holds the CIFAR files, got {data!r}")
        return DataSpec(kind, root, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), True)
    if Path(data).expanduser().is_dir():
        return DataSpec("folder", data, 224, IMAGENET_MEAN, IMAGENET_STD, True)
    raise ValueError(f"unknown data {data!r}; expected 'shapes', 'shapes-pairs', 'digits', 'cifar10:ROOT', "
                     f"'cifar100:ROOT' or an existing folder laid out as ROOT/train/<class>/<image>")


@functools.cache
def _note_shadowed_folder(name: str) -> None:
    """Say once per process that the built-in ``name`` is used although a folder of that name exists here."""
    print(f"vtlab: note: --data {name} is the built-in {name} set, not the folder ./{name} here; to train on the "
          f"folder, pass --data ./{name}", file=sys.stderr)


def classification_transform(spec: DataSpec, train: bool, image_size: int | None = None, augment: str = "none"):
    """uint8 image (or PIL for folders) → normalised float tensor, with the recipe's augmentation if ``train``."""
    if not isinstance(spec, DataSpec):
        raise ValueError(f"expected spec to be a DataSpec (from parse_data), got {type(spec).__name__}")
    check_inputs(train=train, image_size=image_size)
    check_choice("augment", augment, AUGMENTS)
    size = image_size if image_size is not None else spec.image_size
    steps: list = [v2.ToImage()]
    if spec.kind == "folder":
        steps += [v2.RandomResizedCrop(size, antialias=True)] if train else \
                 [v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)]
    elif size != spec.image_size:
        steps.append(v2.Resize((size, size), antialias=True))
    if train and augment != "none" and spec.flips:
        steps.append(v2.RandomHorizontalFlip())
    if train and augment == "autoaugment":
        steps.append(v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(spec.mean, spec.std)]
    return v2.Compose(steps)


def create_dataset(data: str, split: str = "train", image_size: int | None = None, augment: str = "none",
                   seed: int = 0, download: bool = False, length: int | None = None) -> Dataset:
    """A classification dataset with its transform; it has ``num_classes`` and ``classes`` attributes.

    ``length`` limits the dataset's size: ``shapes`` renders that many scenes; the others keep ``length`` items
    drawn without replacement by a generator seeded with ``seed`` (the same items on every machine, and not
    just the first classes of a folder sorted by class). ``download`` lets CIFAR fetch its archive.
    """
    check_inputs(data=data, image_size=image_size, seed=seed, download=download, length=length)
    check_choice("split", split, ("train", "val"))
    check_choice("augment", augment, AUGMENTS)
    spec = parse_data(data)
    transform = classification_transform(spec, split == "train", image_size, augment)
    if spec.kind in ("shapes", "shapes-pairs"):
        return ShapesDataset(split, size=spec.image_size, length=length, seed=seed, transform=transform,
                             task="pair" if spec.kind == "shapes-pairs" else "largest")
    if spec.kind == "digits":
        dataset = DigitsDataset(split, size=spec.image_size, seed=seed, transform=transform)
    elif spec.kind in ("cifar10", "cifar100"):
        dataset = CIFARDataset(spec.root, spec.kind, split, download=download, transform=transform)
    else:
        dataset = ImageFolderDataset(spec.root, split, transform=transform)
    return dataset if length is None else ClassSubset(dataset, length, seed)


class ClassSubset(Subset):
    """``length`` items of a classification dataset, drawn without replacement by a generator seeded with
    ``seed``, in their original order; it keeps the dataset's ``classes`` and ``num_classes``."""

    def __init__(self, dataset: Dataset, length: int, seed: int = 0):
        check_positive(length=length)
        check_inputs(seed=seed)
        if length > len(dataset):
            raise ValueError(f"expected a length of at most the dataset's {len(dataset)} items, got {length}")
        chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:length]
        super().__init__(dataset, chosen.sort().values.tolist())
        self.classes, self.num_classes = dataset.classes, dataset.num_classes


def check_same_classes(train: Sequence[str], val: Sequence[str], data: str = "the data") -> None:
    """Raise ValueError unless the validation classes are the training classes, in the same order: labels are
    indices into the class list, so a validation folder with a class more or less would be scored against the
    wrong names (or fail only after a whole training epoch)."""
    train, val = list(train), list(val)
    if train == val:
        return
    extra, missing = [c for c in val if c not in train], [c for c in train if c not in val]
    detail = "; ".join(part for part in (f"validation has classes that training lacks: {extra}" if extra else "",
                                         f"validation lacks the training classes {missing}" if missing else "")
                       if part)
    raise ValueError(f"expected the same classes in the training and validation splits of {data}, got "
                     f"{len(train)} and {len(val)}: {detail or 'the same names in another order'}")


__all__ = ["AUGMENTS", "COCO_STUFF_CLASSES", "IGNORE_INDEX", "IMAGENET_MEAN", "IMAGENET_STD", "LIP_CLASSES", "SHAPES",
           "BadFileError", "CIFARDataset", "COCOStuffDataset", "ClassSubset", "DataSpec", "DigitsDataset",
           "ImageFolderDataset", "LIPDataset", "PairedHorizontalFlip", "SegmentationFolderDataset",
           "SegmentationTransform", "ShapesDataset", "ShapesSegmentationDataset", "check_same_classes",
           "classification_transform", "create_dataset", "create_segmentation_dataset", "load_image", "parse_data",
           "scan_dataset", "segmentation_transform"]
