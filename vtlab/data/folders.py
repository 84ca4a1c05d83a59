"""ImageNet-style class folders: ROOT/train/<class>/<image> and ROOT/val/<class>/<image>.

torchvision's ImageFolder does the walking; vtlab adds errors that name the folder or file at fault.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError
from torchvision.datasets import ImageFolder

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LAYOUT = "ROOT/train/<class>/<image> and ROOT/val/<class>/<image> (the ImageNet layout)"


def load_image(path: str) -> Image.Image:
    """Open an image as RGB, or raise a ValueError naming the file."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as error:  # PIL raises SyntaxError on some broken files
        raise ValueError(f"cannot read image {path}: {error}") from error


class ImageFolderDataset(ImageFolder):
    """Items are (PIL image, class index); classes are the sorted sub-folder names of ROOT/<split>."""

    def __init__(self, root: str | Path, split: str = "train", transform=None):
        if split not in ("train", "val"):
            raise ValueError(f"unknown split {split!r}; expected 'train' or 'val'")
        root = Path(root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"no folder {root}; expected {LAYOUT}")
        folder = root / split
        if not folder.is_dir():
            raise FileNotFoundError(f"no {split}/ folder in {root}; expected {LAYOUT}")
        try:
            super().__init__(str(folder), transform=transform, loader=load_image)
        except FileNotFoundError as error:
            raise ValueError(f"{folder} holds no class folders with images; expected {LAYOUT} ({error})") from error
        self.num_classes = len(self.classes)
