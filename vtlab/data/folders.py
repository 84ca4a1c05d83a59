"""ImageNet-style class folders: ROOT/train/<class>/<image> and ROOT/val/<class>/<image>.

torchvision's ImageFolder finds the classes; vtlab walks the class folders itself and adds errors that name
the folder or file at fault. Images are read by :func:`vtlab.data.images.load_image` (by pixel mode).

Symbolic links are followed (to files, and to folders elsewhere), except a link to a folder that the walk is
already inside (the split folder, the class folder or one between): following it would walk in circles,
adding every image many times and under the wrong class. Such links are left out and kept in
``link_loops`` as (link, target), which :func:`vtlab.data.scan_dataset` reports before training.
"""

from __future__ import annotations

import os
from pathlib import Path

from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from .checks import check_choice, check_inputs
from .images import load_image

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LAYOUT = "ROOT/train/<class>/<image> and ROOT/val/<class>/<image> (the ImageNet layout)"


class ImageFolderDataset(ImageFolder):
    """Items are (PIL image, class index); classes are the sorted sub-folder names of ROOT/<split>.
    ``data_root`` is ROOT; ``link_loops`` lists the symbolic links that were not followed (see the module
    docstring)."""

    def __init__(self, root: str | Path, split: str = "train", transform=None):
        check_inputs(root=root, transform=transform)
        check_choice("split", split, ("train", "val"))
        root = Path(root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"no folder {root}; expected {LAYOUT}")
        folder = root / split
        if not folder.is_dir():
            raise FileNotFoundError(f"no {split}/ folder in {root}; expected {LAYOUT}")
        self.data_root, self.link_loops = root, []
        try:
            super().__init__(str(folder), transform=transform, loader=load_image)
        except FileNotFoundError as error:
            raise ValueError(f"{folder} holds no class folders with images; expected {LAYOUT} ({error})") from error
        self.num_classes = len(self.classes)

    def make_dataset(self, directory: str, class_to_idx: dict[str, int], extensions=None, is_valid_file=None,
                     allow_empty: bool = False) -> list[tuple[str, int]]:
        """(path, class index) of every image file under each class folder, in sorted order; raises
        FileNotFoundError naming the classes that hold none."""
        if not class_to_idx:
            raise FileNotFoundError(f"no class folders in {directory}")
        samples, empty = [], []
        split_real = os.path.realpath(directory)
        for name in sorted(class_to_idx):
            found = [(path, class_to_idx[name]) for path in self._walk(os.path.join(directory, name), [split_real])]
            samples += found
            empty += [] if found else [name]
        if empty:
            loops = f"; {len(self.link_loops)} symbolic link(s) into a folder they are inside were not followed" \
                if self.link_loops else ""
            raise FileNotFoundError(f"no image files ({', '.join(IMG_EXTENSIONS)}) in the class folder(s) "
                                    f"{', '.join(empty)}{loops}")
        return samples

    def _walk(self, folder: str, inside: list[str]) -> list[str]:
        """The image files under ``folder``, sorted, following links except into the real folders ``inside``
        (the ones the walk is in) or folders holding them."""
        real = os.path.realpath(folder)
        if any(_contains(real, outer) for outer in inside):
            self.link_loops.append((folder, real))
            return []
        inside = [*inside, real]
        files, folders = [], []
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
        for entry in entries:
            if entry.is_dir():
                folders.append(entry.path)
            elif entry.name.lower().endswith(IMG_EXTENSIONS):
                files.append(entry.path)
        for sub in folders:
            files += self._walk(sub, inside)
        return files


def _contains(folder: str, inner: str) -> bool:
    """Whether the real path ``folder`` is ``inner`` or a folder above it."""
    return inner == folder or inner.startswith(folder.rstrip(os.sep) + os.sep)


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "LAYOUT", "ImageFolderDataset", "load_image"]
