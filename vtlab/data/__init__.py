"""Datasets for classification and semantic segmentation, behind one entry point, :func:`create_data`: the
embedded offline sets (``shapes`` and its ``shapes-*`` variants, ``digits``) and real loaders (CIFAR,
ImageNet-style folders, COCO-stuff, LIP), each one entry of the data registry (:mod:`vtlab.data.registry`), which
says what each ``--data`` name means. :func:`create_dataset` and :func:`create_segmentation_dataset` are
:func:`create_data` for one task.

One rule for a length (``--train-size``, ``--val-size``), whatever the task: data that are generated
(``shapes`` and its ``shapes-*`` variants) generate that many items, and scene i does not depend on how many;
every other dataset keeps that many items drawn without replacement by a generator seeded with ``seed``, in their
original order (:class:`ClassSubset`). The same items on every machine, and a sample rather than the first classes of a
folder sorted by class, or, for COCO-stuff and LIP, the first images in file-name order.

Before training, :func:`scan_dataset` checks every file of a folder dataset (see :mod:`vtlab.data.scan`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset, Subset

from .._checks import check_positive
from .checks import check_choice, check_inputs
from .cifar import CIFARDataset
from .digits import DigitsDataset
from .folders import IMAGENET_MEAN, IMAGENET_STD, ImageFolderDataset
from .images import BadFileError, load_image
from .registry import FOLDER, REGISTRY, TASKS, DataEntry, DataSpec, Request, data_help, parse_data
from .scan import scan_dataset
from .segmentation import (
    COCO_STUFF_CLASSES,
    IGNORE_INDEX,
    LIP_CLASSES,
    COCOStuffDataset,
    LIPDataset,
    SegmentationFolderDataset,
    ShapesSegmentationDataset,
)
from .shapes import SHAPES, ShapesDataset
from .transforms import (
    AUGMENTS,
    SEGMENTATION_AUGMENTS,
    PairedHorizontalFlip,
    SegmentationTransform,
    classification_transform,
    segmentation_transform,
)

SPLITS = ("train", "val")
KEPT = ("classes", "num_classes", "ignore_index", "image_size")  # what a sample keeps of its dataset


def create_data(task: str, data: str, split: str = "train", image_size: int | None = None, augment: str = "none",
                download: bool = False, length: int | None = None, seed: int = 0) -> Dataset:
    """The dataset ``data`` (a ``--data`` value, see :mod:`vtlab.data.registry`) for ``task`` ("classify" or
    "segment"), with its transform; it has ``num_classes`` and ``classes`` attributes, and for segmentation
    ``ignore_index`` (255) and ``image_size`` (S, the side of every item).

    ``augment`` is a recipe's augmentation ("none", "flip" or "autoaugment"), applied to the train split only;
    segmentation has one (rescale, crop and flip), used unless ``augment`` is "none". ``length`` limits the
    dataset's size by the one rule of the module docstring; ``seed`` chooses the generated scenes (and the
    digits' split) and the sample. ``download`` lets CIFAR fetch its archive; asked of other data, it is an
    error rather than a flag ignored.
    """
    check_inputs(data=data, image_size=image_size, seed=seed, download=download, length=length)
    check_choice("split", split, SPLITS)
    check_choice("augment", augment, AUGMENTS)
    spec = parse_data(data, task)
    entry, loader = spec.entry, spec.entry.loaders[task]
    if download and not entry.downloads:
        downloadable = [e.usage for e in REGISTRY.values() if e.downloads]
        raise ValueError(f"expected --download only with {' or '.join(downloadable)} (the data vtlab can download), "
                         f"got it with {data!r}, which vtlab does not download")
    train = split == "train"
    if task == "segment":
        transform = segmentation_transform(loader.dataset, train, image_size, "none" if augment == "none" else "flip")
    else:
        transform = classification_transform(spec, train, image_size, augment)
    dataset = loader.build(Request(spec.root, split, size=entry.image_size, transform=transform, seed=seed,
                                   length=length if entry.renders else None, download=download))
    if task == "segment":
        dataset.image_size = image_size if image_size is not None else entry.image_size
    return dataset if length is None or entry.renders else ClassSubset(dataset, length, seed)


def create_dataset(data: str, split: str = "train", image_size: int | None = None, augment: str = "none",
                   seed: int = 0, download: bool = False, length: int | None = None) -> Dataset:
    """A classification dataset with its transform: :func:`create_data` for "classify". Items are (image float32
    (3, S, S), label)."""
    return create_data("classify", data, split, image_size, augment, download, length, seed)


def create_segmentation_dataset(data: str, split: str = "train", image_size: int | None = None,
                                augment: str = "flip", seed: int = 0, length: int | None = None) -> Dataset:
    """A segmentation dataset with its transform: :func:`create_data` for "segment". Items are (image float32
    (3, S, S), mask int64 (S, S)); ``augment`` is "none" or "flip" (see :mod:`vtlab.data.transforms`)."""
    check_choice("augment", augment, SEGMENTATION_AUGMENTS)
    return create_data("segment", data, split, image_size, augment, length=length, seed=seed)


class ClassSubset(Subset):
    """``length`` items of a dataset, drawn without replacement by a generator seeded with ``seed``, in their
    original order; it keeps the dataset's ``classes`` and ``num_classes`` (and a segmentation dataset's
    ``ignore_index`` and ``image_size``)."""

    def __init__(self, dataset: Dataset, length: int, seed: int = 0):
        check_positive(length=length)
        check_inputs(seed=seed)
        if length > len(dataset):
            raise ValueError(f"expected a length of at most the dataset's {len(dataset)} items, got {length}")
        chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:length]
        super().__init__(dataset, chosen.sort().values.tolist())
        for name in KEPT:
            if hasattr(dataset, name):
                setattr(self, name, getattr(dataset, name))


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


__all__ = ["AUGMENTS", "COCO_STUFF_CLASSES", "FOLDER", "IGNORE_INDEX", "IMAGENET_MEAN", "IMAGENET_STD", "LIP_CLASSES",
           "REGISTRY", "SEGMENTATION_AUGMENTS", "SHAPES", "TASKS", "BadFileError", "CIFARDataset", "COCOStuffDataset",
           "ClassSubset", "DataEntry", "DataSpec", "DigitsDataset", "ImageFolderDataset", "LIPDataset",
           "PairedHorizontalFlip", "SegmentationFolderDataset", "SegmentationTransform", "ShapesDataset",
           "ShapesSegmentationDataset", "check_same_classes", "classification_transform",
           "create_data", "create_dataset", "create_segmentation_dataset", "data_help", "load_image", "parse_data",
           "scan_dataset", "segmentation_transform"]
