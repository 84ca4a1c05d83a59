"""``digits``: scikit-learn's bundled 1,797 handwritten digits (8×8, 17 grey levels), upsampled to RGB.

Shipped with scikit-learn, so it needs no download. Split 80/20 into train and val by a seeded permutation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .checks import check_choice, check_inputs


class DigitsDataset(Dataset):
    """Items are (image uint8 (3, size, size), label in 0..9)."""

    classes = tuple(str(d) for d in range(10))
    num_classes = 10

    def __init__(self, split: str = "train", size: int = 32, seed: int = 0, val_fraction: float = 0.2,
                 transform=None):
        from sklearn.datasets import load_digits

        check_choice("split", split, ("train", "val"))
        check_inputs(size=size, seed=seed, val_fraction=val_fraction, transform=transform)
        digits = load_digits()
        order = torch.randperm(len(digits.target), generator=torch.Generator().manual_seed(seed))
        n_val = round(len(order) * val_fraction)
        keep = order[:n_val] if split == "val" else order[n_val:]
        images = torch.as_tensor(digits.images, dtype=torch.float32)[keep, None] / 16
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        self.images = (images.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
        self.labels = torch.as_tensor(digits.target)[keep]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.images[index]
        return (self.transform(image) if self.transform else image), int(self.labels[index])
