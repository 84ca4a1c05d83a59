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


class CIFARDataset(Dataset):
    """Items are (image uint8 (3, 32, 32), label). ``split`` is "train" or "val" (the official test set)."""

    def __init__(self, root: str | Path, variant: str = "cifar10", split: str = "train", download: bool = False,
                 transform=None):
        if variant not in LAYOUTS:
            raise ValueError(f"unknown CIFAR variant {variant!r}; expected one of {list(LAYOUTS)}")
        if split not in ("train", "val"):
            raise ValueError(f"unknown split {split!r}; expected 'train' or 'val'")
        folder, train_files, test_files, meta_file, label_key, names_key = LAYOUTS[variant]
        root = Path(root).expanduser()
        if download:
            import torchvision

            getattr(torchvision.datasets, variant.upper())(root, train=split == "train", download=True)
        if not (root / folder).is_dir():
            raise FileNotFoundError(
                f"no {variant} data at {root / folder}: unpack the python version of {variant} from {SOURCE} "
                f"into {root} (it creates {folder}/), or pass download=True (--download) where a network is available")
        batches = [_unpickle(root / folder / name) for name in (train_files if split == "train" else test_files)]
        try:
            data = np.concatenate([b[b"data"] for b in batches])
            labels = [label for b in batches for label in b[label_key]]
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise ValueError(f"expected uint8 rows of 3072 pixels, got {data.dtype} of shape {data.shape}")
            self.images = torch.from_numpy(data).view(-1, 3, 32, 32)
        except (KeyError, ValueError, RuntimeError, TypeError) as error:
            raise ValueError(f"{root / folder} does not hold {variant} batches in the python layout: "
                             f"{error}") from error
        self.labels = torch.tensor(labels)
        self.classes = tuple(n.decode() for n in _unpickle(root / folder / meta_file)[names_key])
        self.num_classes = len(self.classes)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.images[index]
        return (self.transform(image) if self.transform else image), int(self.labels[index])
