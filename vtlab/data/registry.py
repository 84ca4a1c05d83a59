"""The data registry: one :class:`DataEntry` per ``--data`` name, saying which tasks it serves, whether it reads
a ROOT, its default image size, mean and std, and how each task loads it. :func:`parse_data` reads a ``--data``
value against it and :func:`data_help` lists it; :func:`vtlab.data.create_data` builds a dataset from it.

The names (``NAME`` alone for the built-in sets, ``NAME:ROOT`` for data read from the folder ROOT):

- ``shapes``: the procedural scenes of :mod:`vtlab.data.shapes`, labelled by their largest shape
  (classification) or with their masks (segmentation: background and the 6 shapes);
- ``shapes-pairs``: scenes labelled by the pair of their two medium shapes (classification);
- ``shapes-same``: scenes labelled by whether their two medium shapes are of one type (classification: a
  relation, at which a fitted linear readout of per-object features summed over the scene is at chance);
- ``shapes-same-colour``: the same relation on the two medium shapes' colours (classification);
- ``digits``: scikit-learn's handwritten digits (classification);
- ``cifar10:ROOT``, ``cifar100:ROOT``: CIFAR's python version, the only data that can be downloaded
  (classification);
- ``coco-stuff:ROOT``, ``lip:ROOT``: COCO-stuff 164k (its 91 stuff classes) and Look Into Person
  (segmentation; see :mod:`vtlab.data.segmentation`);
- otherwise, for classification, the path of an ImageNet-style folder tree (ROOT/train/<class>/<image>,
  ROOT/val/<class>/<image>).

The built-in names keep their meaning in every folder: a bare ``digits`` (``shapes`` and its ``shapes-*``
variants) is the built-in set even where a folder of that name exists, since a run folder or a download often
carries the dataset's name, and a name whose meaning changed with the working directory would train on the
wrong data without a word. Where such a folder exists, one line on stderr says so and how to name the folder
instead (``./digits``). The built-in sets take no ROOT: ``digits:/path`` is an error, not a root ignored.

A new dataset is one entry in :data:`REGISTRY` (with its dataset class and loader); the parsing, the help text,
the errors and the sampling rule of :func:`vtlab.data.create_data` follow from it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from .checks import check_choice, check_inputs
from .cifar import LAYOUTS as CIFAR_LAYOUTS
from .cifar import CIFARDataset
from .digits import DigitsDataset
from .folders import IMAGENET_MEAN, IMAGENET_STD, LAYOUT, ImageFolderDataset
from .segmentation import COCOStuffDataset, LIPDataset, SegmentationFolderDataset, ShapesSegmentationDataset
from .shapes import GREY, ShapesDataset

TASKS = {"classify": "classification", "segment": "segmentation"}  # task → what its data are called
Triple = tuple[float, float, float]


@dataclass(frozen=True)
class Request:
    """What a loader is asked for: the ROOT (None for built-in sets), the split, the entry's image size (generated
    data are drawn at it), the transform, the seed, the number of items to render (only for data that render
    theirs, else None) and whether CIFAR may download."""

    root: str | None
    split: str
    size: int
    transform: Callable | None
    seed: int = 0
    length: int | None = None
    download: bool = False


@dataclass(frozen=True)
class Loader:
    """How one task loads an entry: ``dataset`` is the dataset class (a segmentation transform reads its
    ``image_size``, ``native_size``, ``mean``, ``std`` and ``flip_pairs``), ``build`` makes the dataset."""

    dataset: type[Dataset]
    build: Callable[[Request], Dataset]


@dataclass(frozen=True)
class DataEntry:
    """One dataset name: ``title`` names it in messages; ``layout`` is what its ROOT holds (None for a built-in
    set, which takes no ROOT); ``image_size``, ``mean`` and ``std`` are its defaults; ``loaders`` maps each task
    it serves to its :class:`Loader`. ``renders``: its items are generated, so a length is the number to
    render (and scene i does not depend on it) rather than a sample; ``downloads``: it can fetch its files;
    ``flips``: a horizontal flip keeps a classification label; ``crops``: its images have any size and are
    cropped to the image size (random-resized crops in training, resize and centre crop in evaluation)."""

    name: str
    title: str
    image_size: int
    mean: Triple
    std: Triple
    loaders: Mapping[str, Loader] = field(default_factory=dict, hash=False)
    layout: str | None = None
    renders: bool = False
    downloads: bool = False
    flips: bool = True
    crops: bool = False

    @property
    def usage(self) -> str:
        """How ``--data`` spells it: ``name`` or ``name:ROOT``."""
        return self.name if self.layout is None else f"{self.name}:ROOT"


@dataclass(frozen=True)
class DataSpec:
    """A ``--data`` value read against the registry: its entry and ROOT (None for a built-in set); what a run
    needs to know about a dataset before loading it."""

    entry: DataEntry
    root: str | None = None

    @property
    def kind(self) -> str:
        """The entry's name ("shapes", "digits", "cifar10", ..., or "folder" for an ImageNet-style folder)."""
        return self.entry.name

    @property
    def image_size(self) -> int:
        """The native size (generated and CIFAR data) or the default crop (folders), or S for segmentation."""
        return self.entry.image_size

    @property
    def mean(self) -> Triple:
        return self.entry.mean

    @property
    def std(self) -> Triple:
        return self.entry.std

    @property
    def flips(self) -> bool:
        return self.entry.flips

    @property
    def crops(self) -> bool:
        return self.entry.crops


def _shapes(task: str) -> Callable[[Request], Dataset]:
    return lambda r: ShapesDataset(r.split, size=r.size, length=r.length, seed=r.seed, transform=r.transform,
                                   task=task)


def _cifar(variant: str) -> Callable[[Request], Dataset]:
    return lambda r: CIFARDataset(r.root, variant, r.split, download=r.download, transform=r.transform)


def _folder_pairs(dataset: type[SegmentationFolderDataset]) -> Loader:
    return Loader(dataset, lambda r: dataset(r.root, r.split, transform=r.transform))


def _cifar_entry(variant: str, title: str) -> DataEntry:
    folder = CIFAR_LAYOUTS[variant][0]
    return DataEntry(variant, title, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                     {"classify": Loader(CIFARDataset, _cifar(variant))},
                     layout=f"ROOT/{folder}/, CIFAR's python version", downloads=True)


def _segmentation_entry(name: str, dataset: type[SegmentationFolderDataset]) -> DataEntry:
    return DataEntry(name, dataset.name, dataset.image_size, dataset.mean, dataset.std,
                     {"segment": _folder_pairs(dataset)}, layout=dataset.layout)


REGISTRY: dict[str, DataEntry] = {entry.name: entry for entry in (
    DataEntry("shapes", "shapes", 64, *GREY, {
        "classify": Loader(ShapesDataset, _shapes("largest")),
        "segment": Loader(ShapesSegmentationDataset, lambda r: ShapesSegmentationDataset(
            r.split, size=r.size, length=r.length, seed=r.seed, transform=r.transform))}, renders=True),
    DataEntry("shapes-pairs", "shapes-pairs", 64, *GREY, {"classify": Loader(ShapesDataset, _shapes("pair"))},
              renders=True),
    DataEntry("shapes-same", "shapes-same", 64, *GREY, {"classify": Loader(ShapesDataset, _shapes("same"))},
              renders=True),
    DataEntry("shapes-same-colour", "shapes-same-colour", 64, *GREY,
              {"classify": Loader(ShapesDataset, _shapes("same-colour"))}, renders=True),
    DataEntry("digits", "digits", 32, *GREY, {"classify": Loader(DigitsDataset, lambda r: DigitsDataset(
        r.split, size=r.size, seed=r.seed, transform=r.transform))}, flips=False),
    _cifar_entry("cifar10", "CIFAR-10"),
    _cifar_entry("cifar100", "CIFAR-100"),
    _segmentation_entry("coco-stuff", COCOStuffDataset),
    _segmentation_entry("lip", LIPDataset),
)}
# Any other --data value of a classification run: the path of an ImageNet-style folder tree.
FOLDER = DataEntry("folder", "image folder", 224, IMAGENET_MEAN, IMAGENET_STD, {"classify": Loader(
    ImageFolderDataset, lambda r: ImageFolderDataset(r.root, r.split, transform=r.transform))}, layout=LAYOUT,
    crops=True)
FOLDER_USAGE = "an existing folder laid out as ROOT/train/<class>/<image>"


def parse_data(data: str, task: str = "classify") -> DataSpec:
    """Read a ``--data`` value of a ``task`` ("classify" or "segment") against the registry (see the module
    docstring); raise ValueError naming what the task takes."""
    check_inputs(data=data)
    check_choice("task", task, tuple(TASKS))
    name, colon, root = data.partition(":")
    entry = REGISTRY.get(name)
    if entry is not None and task in entry.loaders:
        if entry.layout is None and colon:
            tip = f"; for an image folder tree named {name}, give its path (./{name})" if _takes_folders(task) else ""
            raise ValueError(f"expected the built-in {name!r} alone (it reads no files), got {data!r}{tip}")
        if entry.layout is not None and not root:
            raise ValueError(f"expected {name}:ROOT naming the folder that holds the {entry.title} files "
                             f"({entry.layout}), got {data!r}")
        if entry.layout is None and _takes_folders(task) and Path(name).is_dir():
            _note_shadowed_folder(name)
        return DataSpec(entry, root or None)
    if _takes_folders(task) and Path(data).expanduser().is_dir():
        return DataSpec(FOLDER, data)
    other = f"; {name!r} is {TASKS[_tasks_of(entry)[0]]} data" if entry is not None else ""
    what = "data" if task == "classify" else f"{TASKS[task]} data"
    raise ValueError(f"unknown {what} {data!r}; expected {_listed(_usages(task, quoted=True))}{other}")


def _takes_folders(task: str) -> bool:
    return task in FOLDER.loaders


def _tasks_of(entry: DataEntry) -> list[str]:
    return [task for task in TASKS if task in entry.loaders]


def _usages(task: str, quoted: bool = False) -> list[str]:
    """How ``--data`` may be written for ``task``, in registry order, the folder fallback last."""
    usages = [repr(e.usage) if quoted else e.usage for e in REGISTRY.values() if task in e.loaders]
    return usages + ([FOLDER_USAGE if quoted else "an ImageNet-style folder"] if _takes_folders(task) else [])


def _listed(items: list[str]) -> str:
    return f"{', '.join(items[:-1])} or {items[-1]}" if len(items) > 1 else items[0]


def data_help() -> str:
    """The ``--data`` values of each task, for a command line's help: "classification: shapes, ...; segmentation:
    shapes, coco-stuff:ROOT or lip:ROOT"."""
    return "; ".join(f"{TASKS[task]}: {_listed(_usages(task))}" for task in TASKS)


@functools.cache
def _note_shadowed_folder(name: str) -> None:
    """Say once per process that the built-in ``name`` is used although a folder of that name exists here."""
    print(f"vtlab: note: --data {name} is the built-in {name} set, not the folder ./{name} here; to train on the "
          f"folder, pass --data ./{name}", file=sys.stderr)


__all__ = ["FOLDER", "REGISTRY", "TASKS", "DataEntry", "DataSpec", "Loader", "Request", "data_help", "parse_data"]
