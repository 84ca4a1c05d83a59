"""Real photographs that ship offline: scikit-image's bundled samples, centre-cropped square and resized.

Used to look at token maps on natural images (the paper's Figure 6 shows ImageNet and LIP images, which
cannot be bundled). Needs scikit-image (``pip install "vtlab[notebooks]"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from .checks import check_inputs

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")


def sample_photos(names: Sequence[str] = PHOTOS, size: int = 64) -> torch.Tensor:
    """scikit-image's sample photos ``names`` as uint8 (len(names), 3, size, size)."""
    try:
        import skimage.data
    except ImportError as error:
        raise ImportError("sample_photos needs scikit-image: pip install scikit-image") from error
    loaders = {name: getattr(skimage.data, name) for name in PHOTOS[:-1]}
    loaders["motorcycle"] = lambda: skimage.data.stereo_motorcycle()[0]
    if isinstance(names, str):
        raise ValueError(f"expected names as a list of photo names, got the string {names!r}; write [{names!r}]")
    unknown = [name for name in names if name not in loaders]
    if unknown:
        raise ValueError(f"unknown photos {unknown}; expected some of {list(loaders)}")
    check_inputs(size=size)
    if size < 16:
        raise ValueError(f"expected size >= 16, got {size}")
    images = []
    for name in names:
        photo = torch.from_numpy(loaders[name]()[..., :3].copy()).permute(2, 0, 1)  # (3, H, W) uint8
        side = min(photo.shape[-2:])
        images.append(v2.Resize((size, size), antialias=True)(v2.CenterCrop(side)(photo)))
    return torch.stack(images)
