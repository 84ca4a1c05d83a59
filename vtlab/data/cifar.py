"""CIFAR-10 and CIFAR-100, read from the official "python version" archives as they unpack:

    ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    ROOT/cifar-100-python/{train, test, meta}

Nothing is downloaded unless ``download=True`` (torchvision's downloader, which needs a network); otherwise a
missing file raises an error that says where the files belong and where they come from.

The batches are pickles, and a pickle can name any callable to run. They are read by :class:`CIFARUnpickler`,
which resolves only the few numpy globals that genuine CIFAR batches hold (array reconstruction) and refuses
anything else with a ValueError before it runs: a crafted ``data_batch_1`` cannot execute code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .checks import check_choice, check_inputs

LAYOUTS = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta",
                b"labels", b"label_names"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", b"fine_labels", b"fine_label_names"),
}
SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html"


# What numpy arrays in a pickle need (protocol 2, as the official files, and protocols 4-5 as numpy writes them
# today), under numpy's old (numpy.core) and new (numpy._core) module names.
ALLOWED_GLOBALS = frozenset({
    ("_codecs", "encode"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
})


class CIFARUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, lists, bytes, numbers and numpy arrays only: any other global (a
    function or class that unpickling would call) raises ValueError naming it, before it is called."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise ValueError(f"refusing to load the global {module}.{name}: a CIFAR batch holds only dicts, lists "
                             f"and numpy arrays, so this file is not one (it may be crafted to run code)")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise ValueError(f"refusing a persistent id {pid!r}: a CIFAR batch has none")


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"missing CIFAR file {path}")
    try:
        with open(path, "rb") as f:
            content = CIFARUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read CIFAR file {path}: {error}") from error
    if not isinstance(content, dict):
        raise ValueError(f"cannot read CIFAR file {path}: expected a pickled dict, got {type(content).__name__}")
    return content


def _read_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A batch's rows (uint8 (N, 3072)) and labels (int64 (N,)), or a ValueError naming the file."""
    batch = _unpickle(path)
    for key in (b"data", label_key):
        if key not in batch:
            raise ValueError(f"CIFAR file {path} has no {key!r} entry (it has {sorted(batch)}); expected a batch of "
                             f"the python version")
    data, labels = batch[b"data"], batch[label_key]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        shown = f"{data.dtype} of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"CIFAR file {path}: expected uint8 rows of 3072 pixels, got {shown}")
    if not isinstance(labels, list | tuple | np.ndarray):
        raise ValueError(f"CIFAR file {path}: expected its labels as a list of integers, got {type(labels).__name__}")
    values = np.asarray(labels) if len(labels) else np.zeros(0, np.int64)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        kinds = sorted({type(label).__name__ for label in labels})
        raise ValueError(f"CIFAR file {path}: expected its labels as a list of integers, got {', '.join(kinds)}")
    if len(values) != len(data):
        raise ValueError(f"CIFAR file {path} has {len(data)} image rows but {len(values)} labels; expected one "
                         f"label per row")
    return data, values.astype(np.int64)


def _read_names(path: Path, names_key: bytes) -> tuple[str, ...]:
    """The class names of a meta file (bytes, decoded as UTF-8, or str), or a ValueError naming the file."""
    meta = _unpickle(path)
    names = meta.get(names_key)
    if not isinstance(names, list | tuple) or not names or \
            not all(isinstance(name, bytes | str) for name in names):
        shown = type(names).__name__ if not isinstance(names, list | tuple) else \
            f"[{', '.join(sorted({type(name).__name__ for name in names}))}] of {len(names)}"
        raise ValueError(f"CIFAR file {path}: expected {names_key!r} as a non-empty list of class names (bytes or "
                         f"str), got {shown}")
    try:
        decoded = tuple(name.decode() if isinstance(name, bytes) else name for name in names)
    except UnicodeDecodeError as error:
        raise ValueError(f"CIFAR file {path}: a class name is not UTF-8 text ({error})") from error
    repeated = sorted({name for name in decoded if decoded.count(name) > 1})
    if repeated:
        raise ValueError(f"CIFAR file {path}: expected distinct class names, got {repeated} more than once")
    return decoded


class CIFARDataset(Dataset):
    """Items are (image uint8 (3, 32, 32), label). ``split`` is "train" or "val" (the official test set).

    Every batch is checked as it is read: one label per image row, labels integers in [0, number of class
    names), class names bytes or str; a ValueError names the file that breaks one."""

    def __init__(self, root: str | Path, variant: str = "cifar10", split: str = "train", download: bool = False,
                 transform=None):
        check_inputs(root=root, download=download, transform=transform)
        check_choice("CIFAR variant", variant, tuple(LAYOUTS))
        check_choice("split", split, ("train", "val"))
        folder, train_files, test_files, meta_file, label_key, names_key = LAYOUTS[variant]
        root = Path(root).expanduser()
        if download:
            import torchvision

            getattr(torchvision.datasets, variant.upper())(root, train=split == "train", download=True)
        if not (root / folder).is_dir():
            raise FileNotFoundError(
                f"no {variant} data at {root / folder}: unpack the python version of {variant} from {SOURCE} "
                f"into {root} (it creates {folder}/), or pass download=True (--download) where a network is available")
        paths = [root / folder / name for name in (train_files if split == "train" else test_files)]
        batches = [_read_batch(path, label_key) for path in paths]
        self.classes = _read_names(root / folder / meta_file, names_key)
        self.num_classes = len(self.classes)
        for path, (_, labels) in zip(paths, batches, strict=True):
            outside = labels[(labels < 0) | (labels >= self.num_classes)]
            if len(outside):
                raise ValueError(f"CIFAR file {path} has {len(outside)} label(s) outside [0, {self.num_classes}) "
                                 f"(the {self.num_classes} class names of {meta_file}), e.g. {int(outside[0])}")
        self.images = torch.from_numpy(np.concatenate([data for data, _ in batches])).view(-1, 3, 32, 32)
        self.labels = torch.from_numpy(np.concatenate([labels for _, labels in batches]))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.images[index]
        return (self.transform(image) if self.transform else image), int(self.labels[index])
