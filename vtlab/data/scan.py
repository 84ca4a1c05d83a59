"""Checking a dataset's files before the first epoch, so that a bad file stops a run at its start with one
line naming it, rather than mid-epoch (or never, when it decodes to something wrong).

:func:`scan_dataset` checks every item of an image-folder or segmentation-folder dataset (possibly inside
``Subset`` wrappers such as :class:`~vtlab.data.ClassSubset`), cheaply and in a few threads:

- each image's header: readable, a pixel mode :mod:`vtlab.data.images` reads, at most
  ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (the decompression-bomb limit), and at most
  :data:`MAX_RESIZED_PIXELS` once the dataset's transform has resized it (an image of extreme aspect ratio
  whose shorter side is resized to 256 can need gigabytes);
- its data where that is cheap: a PNG's chunk checksums (truncation, corruption), a JPEG's end-of-image
  marker (a truncated download; a file without one is decoded to be sure), and a full decode of 16-bit,
  32-bit integer and float images (their reading depends on their value range) and of other formats;
- for segmentation, each label PNG: readable, one value per pixel, the image's size, and only the values the
  dataset defines (``defined_values``: LIP 0..19 and 255, COCO-stuff 0..181 and 255);
- the symbolic links that a folder walk did not follow because they lead into a folder it is inside.

Bad items raise one ValueError naming the first few and the count, ending with the ``--skip-bad`` flag that
leaves them out instead (with one line on stderr saying how many). Whatever is skipped, a classification
dataset needs at least two classes, and a segmentation split needs at least one labelled pixel; these are
errors that no skipping mends. Generated datasets (shapes, digits), CIFAR (checked as it is read) and
datasets of other types pass through unchanged.
"""

from __future__ import annotations

import copy
import os
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from .checks import check_choice, check_inputs
from .folders import ImageFolderDataset
from .images import READ_ERRORS, WIDE_MODES, BadFileError, check_mode, describe, load_image, open_image
from .labels import IGNORE_INDEX, read_label, value_table
from .segmentation import SegmentationFolderDataset
from .transforms import ResizeLongerAndPad, SegmentationTransform

MAX_RESIZED_PIXELS = 2**27  # about 134 million pixels, 0.4 GB as 8-bit RGB: the budget of one resized image
SHOWN = 5  # bad files named in a message
CHUNK = 256  # items checked per thread task
SCAN_ERRORS = (*READ_ERRORS, EOFError, struct.error)


@dataclass(frozen=True)
class Finding:
    """A bad item: ``position`` in the scanned dataset (None for a link loop, which is no item), its file and
    why it cannot be used."""

    position: int | None
    path: str
    reason: str


def scan_dataset(dataset: Dataset, *, skip_bad: bool = False, progress: bool = True,
                 split: str = "train") -> Dataset:
    """Check every file of ``dataset`` (see the module docstring) and return it, or, with ``skip_bad``, a copy
    without its bad items (saying on stderr how many it skipped). ``progress`` shows a progress bar when the
    scan takes more than a second; ``split`` names the split in messages. Raises ValueError for bad items
    (unless ``skip_bad``), for fewer than two classes, and for a segmentation split without a labelled pixel."""
    check_inputs(skip_bad=skip_bad, progress=progress)
    check_choice("split", split, ("train", "val"))
    base, positions = _unwrap(dataset)
    _check_classes(base, split)
    if isinstance(base, ImageFolderDataset):
        root, unit, check = Path(base.data_root), "files", _image_checker(base)
        loops = [Finding(None, link, f"a symbolic link to {target}, a folder the walk is inside: it would "
                                     f"repeat the images under the wrong class") for link, target in base.link_loops]
    elif isinstance(base, SegmentationFolderDataset):
        root, unit, check, loops = Path(base.root), "image/label pairs", _pair_checker(base), []
    else:
        return dataset
    findings, labelled = _check_all(check, positions, progress, split)
    findings += loops
    total = len(positions) + len(loops)
    if findings and (not skip_bad or len(findings) >= total):
        advice = "nothing would be left with --skip-bad" if len(findings) >= total else \
            "fix or remove them, or leave them out with --skip-bad"
        raise ValueError(f"{len(findings)} of {total} {unit} of the {split} split in {root} cannot be used: "
                         f"{_summary(findings, root)}; {advice}")
    if findings and _first_process():
        print(f"vtlab: skipped {len(findings)} of {total} {unit} of the {split} split: {_summary(findings, root)}",
              file=sys.stderr)
    if isinstance(base, SegmentationFolderDataset) and labelled == 0:
        _no_labelled_pixel(base, split, total - len(findings))
    bad = {finding.position for finding in findings if finding.position is not None}
    return _without(dataset, bad) if bad else dataset


def _first_process() -> bool:
    """Whether this is the only process or rank 0 of a distributed run (which says what every rank skips)."""
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) or \
        torch.distributed.get_rank() == 0


def _unwrap(dataset: Dataset) -> tuple[Dataset, list[int]]:
    """The dataset under any ``Subset`` wrappers, and the index in it of each item of ``dataset``."""
    positions = list(range(len(dataset)))
    while isinstance(dataset, Subset):
        positions = [int(dataset.indices[p]) for p in positions]
        dataset = dataset.dataset
    return dataset, positions


def _check_classes(base: Dataset, split: str) -> None:
    classes = getattr(base, "classes", None)
    if classes is not None and len(classes) < 2:
        where = f" of {base.root}" if isinstance(base, ImageFolderDataset) else ""
        raise ValueError(f"expected at least 2 classes in the {split} split{where}, got {len(classes)} "
                         f"({', '.join(map(str, classes)) or 'none'}): a classifier of one class learns nothing and "
                         f"scores an accuracy of 1.0 whatever it does")


def _check_all(check: Callable[[int], int], positions: Sequence[int], progress: bool,
               split: str) -> tuple[list[Finding], int]:
    """Run ``check`` (which returns an item's labelled pixels, or raises BadFileError) on every base index in
    ``positions`` in a few threads; the bad items' findings, by position in the scanned dataset, and the
    labelled pixels of the good ones."""
    def run(chunk: range) -> list[tuple[int, str | None, str, int]]:
        results = []
        for position in chunk:
            try:
                results.append((position, None, "", check(positions[position])))
            except BadFileError as error:
                results.append((position, error.path, error.reason, 0))
        return results

    chunks = [range(start, min(start + CHUNK, len(positions))) for start in range(0, len(positions), CHUNK)]
    findings, labelled = [], 0
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool, \
            tqdm(total=len(positions), desc=f"checking the {split} files", unit="file", disable=not progress,
                 delay=1.0, leave=False) as bar:
        for results in pool.map(run, chunks):
            for position, path, reason, pixels in results:
                labelled += pixels
                if path is not None:
                    findings.append(Finding(position, path, reason))
            bar.update(len(results))
    return findings, labelled


def _check_image(path: str | Path, transform=None) -> tuple[int, int]:
    """(width, height) of a usable image file, or a BadFileError saying why it is not (see the module
    docstring for what is checked)."""
    path = str(path)
    with open_image(path) as image:
        width, height, mode, file_format = *image.size, image.mode, image.format
        check_mode(mode, path)
        resized = largest_pixels(transform, width, height)
        if resized > MAX_RESIZED_PIXELS:
            raise BadFileError(path, f"{width}x{height} pixels would be resized by the transform to {resized:,} "
                                     f"pixels, above the budget of {MAX_RESIZED_PIXELS:,} per image (its aspect "
                                     f"ratio is extreme)")
        cheap = file_format == "PNG" or (file_format == "JPEG" and _ends_with_end_of_image(path))
        decode = mode in WIDE_MODES or not cheap  # a decode finds what a PNG verify would, and checks the values
        if file_format == "PNG" and not decode:
            try:
                image.verify()
            except SCAN_ERRORS as error:
                raise BadFileError(path, describe(error, "decoding")) from error
    if decode:
        load_image(path)
    return width, height


def _ends_with_end_of_image(path: str) -> bool:
    """Whether a JPEG file's last bytes are its end-of-image marker (a truncated file lacks it, and so does one
    with trailing bytes, which a decode then tells apart)."""
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 2))
        return f.read(2) == b"\xff\xd9"


def _image_checker(base: ImageFolderDataset) -> Callable[[int], int]:
    """A check of item ``i`` of an image folder dataset; it returns 0 (no labelled pixels to count)."""
    def check(i: int) -> int:
        _check_image(base.samples[i][0], base.transform)
        return 0

    return check


def _pair_checker(base: SegmentationFolderDataset) -> Callable[[int], int]:
    """A check of item ``i`` of a segmentation folder dataset: its image, then its label PNG (size, values);
    it returns the label's labelled pixels."""
    defined, classes = value_table(base.defined_values), base.label_table != IGNORE_INDEX
    described = _values_text(base.defined_values)

    def check(i: int) -> int:
        image_path, label_path = base.samples[i]
        width, height = _check_image(image_path, base.transform)
        values = read_label(label_path)
        if values.shape != (height, width):
            raise BadFileError(label_path, f"{values.shape[1]}x{values.shape[0]} pixels, but its image "
                                           f"{Path(image_path).name} is {width}x{height}", what="label")
        counts = np.bincount(values.ravel().astype(np.int64), minlength=256)
        undefined = [v for v in np.flatnonzero(counts).tolist() if v >= 256 or not defined[v]]
        if undefined:
            shown = ", ".join(map(str, undefined[:SHOWN])) + (f" and {len(undefined) - SHOWN} more"
                                                               if len(undefined) > SHOWN else "")
            raise BadFileError(label_path, f"values {shown}, which {base.name} does not define; it defines "
                                           f"{described}", what="label")
        return int(counts[:256][classes].sum())

    return check


def _no_labelled_pixel(base: SegmentationFolderDataset, split: str, count: int) -> None:
    class_values = np.flatnonzero(base.label_table != IGNORE_INDEX).tolist()
    raise ValueError(f"no labelled pixel in the {count} label PNGs of the {split} split in {base.root}: every "
                     f"pixel is one that {base.name} training ignores; expected some of the class values "
                     f"{_values_text([range(class_values[0], class_values[-1] + 1)])}, so that the loss has "
                     f"something to learn from")


def _values_text(defined: Iterable[Iterable[int]]) -> str:
    parts = []
    for values in defined:
        values = list(values)
        parts.append(f"{values[0]}..{values[-1]}" if len(values) > 2 else ", ".join(map(str, values)))
    return " and ".join(parts)


def _summary(findings: Sequence[Finding], root: Path) -> str:
    def shown(path: str) -> str:
        relative = os.path.relpath(path, root)
        return path if relative.startswith("..") else relative

    named = "; ".join(f"{shown(f.path)} ({f.reason})" for f in findings[:SHOWN])
    return named + (f"; and {len(findings) - SHOWN} more" if len(findings) > SHOWN else "")


def _without(dataset: Dataset, bad: set[int]) -> Dataset:
    """A copy of ``dataset`` without its items at the positions ``bad``: a Subset keeps
    the other indices, a folder dataset the other samples; the original is left as it was."""
    kept = copy.copy(dataset)
    if isinstance(dataset, Subset):
        kept.indices = [index for position, index in enumerate(dataset.indices) if position not in bad]
        return kept
    kept.samples = [sample for i, sample in enumerate(dataset.samples) if i not in bad]
    if isinstance(dataset, ImageFolderDataset):
        kept.imgs, kept.targets = kept.samples, [target for _, target in kept.samples]
    return kept


def largest_pixels(transform, width: int, height: int) -> int:
    """The most pixels an image of ``width``×``height`` has at any step of ``transform`` (a v2.Compose, a
    :class:`~vtlab.data.SegmentationTransform` or one step): the resizes and crops vtlab's transforms use are
    followed, other steps are taken to keep the size."""
    largest = width * height
    for step in _steps(transform):
        if isinstance(step, v2.Resize) and step.size is not None:
            if len(step.size) == 1:
                scale = step.size[0] / max(1, min(width, height))
                if step.max_size is not None:
                    scale = min(scale, step.max_size / max(1, width, height))
                width, height = round(width * scale), round(height * scale)
            else:
                height, width = step.size
        elif isinstance(step, v2.RandomResizedCrop | v2.CenterCrop | v2.RandomCrop):
            height, width = step.size
        elif isinstance(step, v2.ScaleJitter):
            scale = min(step.target_size[0] / max(1, height), step.target_size[1] / max(1, width))
            width, height = int(width * scale * step.scale_range[1]), int(height * scale * step.scale_range[1])
        elif isinstance(step, ResizeLongerAndPad):
            width = height = step.size
        largest = max(largest, width * height)
    return largest


def _steps(transform) -> list:
    if isinstance(transform, v2.Compose):
        return [step for inner in transform.transforms for step in _steps(inner)]
    if isinstance(transform, SegmentationTransform):
        return [step for inner in transform.steps for step in _steps(inner)]
    return [] if transform is None else [transform]
