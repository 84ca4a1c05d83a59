"""The transforms that turn a dataset's raw items into normalised tensors of one size.

Classification (:func:`classification_transform`): an image becomes float32 (3, S, S) normalised with the
data's mean and std. Images of any size (folders) are cropped to S (random-resized crops in training, a resize
and a centre crop in evaluation), images of a native size are resized to S×S if S is not that size. In
training, ``augment="flip"`` adds a random horizontal flip where a flip keeps the label (not for digits), and
``augment="autoaugment"`` also AutoAugment's ImageNet policy.

Segmentation (:func:`segmentation_transform`): geometry applied to an (image, mask) pair alike, so that every
mask pixel stays on its image pixel. Items come out as image float32 (3, S, S) normalised with the dataset's
mean and std and mask int64 (S, S) holding class indices or :data:`~vtlab.data.labels.IGNORE_INDEX` (255),
which losses and metrics skip. The geometry is torchvision's v2 transforms on
``tv_tensors.Image``/``tv_tensors.Mask``, so masks are always resized with nearest neighbours:

- evaluation (the val split, which is never augmented) and ``augment="none"`` on real data: resize so that the
  longer side is S (aspect kept), then pad bottom/right to S×S, the image with 0 (black, before
  normalisation) and the mask with IGNORE_INDEX: no pixel is dropped and padded pixels are not scored;
- ``augment="flip"`` on real data (train split): rescale by a random factor in :data:`SCALE_RANGE` relative to
  that evaluation scale (``v2.ScaleJitter``), a random S×S crop padded where the rescaled image is smaller
  (image 0, mask IGNORE_INDEX, never 0, which is a real class), and a random horizontal flip that exchanges
  the dataset's ``flip_pairs`` (LIP's left and right parts, since a flipped left arm is a right arm);
- data of a native square size (``shapes``): a resize to S×S if S is not that size, and with ``augment="flip"``
  on train a random horizontal flip.

The random steps draw from torch's global generator, so ``torch.manual_seed`` and DataLoader worker seeding
govern them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from .checks import check_choice, check_inputs
from .labels import IGNORE_INDEX
from .registry import DataSpec

AUGMENTS = ("none", "flip", "autoaugment")
SEGMENTATION_AUGMENTS = ("none", "flip")
SCALE_RANGE = (0.5, 2.0)  # the training rescale factors, relative to the evaluation scale


def classification_transform(spec: DataSpec, train: bool, image_size: int | None = None, augment: str = "none"):
    """uint8 image (or PIL for folders) → normalised float tensor, with the recipe's augmentation if ``train``."""
    if not isinstance(spec, DataSpec):
        raise ValueError(f"expected spec to be a DataSpec (from parse_data), got {type(spec).__name__}")
    check_inputs(train=train, image_size=image_size)
    check_choice("augment", augment, AUGMENTS)
    size = image_size if image_size is not None else spec.image_size
    steps: list = [v2.ToImage()]
    if spec.crops:
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


class PairedHorizontalFlip:
    """Flip an (image, mask) pair left-right with probability ``p``, exchanging the mask's classes in
    ``swap_pairs`` (LIP's left/right parts). ``p=1.0`` always flips, ``p=0.0`` never."""

    def __init__(self, p: float = 0.5, swap_pairs: Sequence[tuple[int, int]] = ()):
        check_inputs(p=p)
        self.p, self.swap_pairs = p, tuple(swap_pairs)
        self.table = torch.arange(256)
        for a, b in self.swap_pairs:
            self.table[a], self.table[b] = b, a

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.p == 0.0 or (self.p < 1.0 and float(torch.rand(())) >= self.p):
            return image, mask
        image, flipped = F.horizontal_flip(image), F.horizontal_flip(mask)
        if self.swap_pairs:
            swapped = self.table[flipped.as_subclass(torch.Tensor).long()].to(flipped.dtype)
            flipped = tv_tensors.wrap(swapped, like=flipped) if isinstance(flipped, tv_tensors.Mask) else swapped
        return image, flipped

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p}, swap_pairs={self.swap_pairs})"


class ResizeLongerAndPad:
    """Resize an (image, mask) pair so that its longer side is ``size`` (aspect kept; bilinear for the image,
    nearest for the mask), then pad bottom/right to size×size: image with 0, mask with IGNORE_INDEX."""

    def __init__(self, size: int):
        check_inputs(size=size)
        self.size = size

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = image.shape[-2:]
        scale = self.size / max(height, width)
        new = (min(self.size, max(1, round(height * scale))), min(self.size, max(1, round(width * scale))))
        if new != (height, width):
            image, mask = F.resize(image, list(new), antialias=True), F.resize(mask, list(new))
        padding = [0, 0, self.size - new[1], self.size - new[0]]  # left, top, right, bottom
        if padding[2] or padding[3]:
            image, mask = F.pad(image, padding, fill=0), F.pad(mask, padding, fill=IGNORE_INDEX)
        return image, mask

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class SegmentationTransform:
    """(image uint8 (3, H, W), mask (H, W)) → (image float32 (3, S, S) normalised, mask int64 (S, S)): the
    geometric ``steps`` on tv_tensors, each called as ``step(image, mask)``, then scaling to [0, 1] and
    normalisation of the image."""

    def __init__(self, steps: Sequence, mean: Sequence[float], std: Sequence[float]):
        self.steps, self.mean, self.std = list(steps), list(mean), list(std)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if mask.dtype != torch.uint8:  # the geometry runs on uint8 masks: every class index and 255 fit
            if mask.numel() and (int(mask.min()) < 0 or int(mask.max()) > IGNORE_INDEX):
                raise ValueError(f"expected mask values in [0, {IGNORE_INDEX}], got {int(mask.min())}.."
                                 f"{int(mask.max())}")
            mask = mask.to(torch.uint8)
        image, mask = tv_tensors.Image(image), tv_tensors.Mask(mask)
        for step in self.steps:
            image, mask = step(image, mask)
        image = F.normalize(F.to_dtype(image, torch.float32, scale=True), self.mean, self.std)
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor).to(torch.int64)

    def __repr__(self) -> str:
        steps = "".join(f"\n    {step!r}," for step in self.steps)
        return f"{type(self).__name__}([{steps}\n], mean={tuple(self.mean)}, std={tuple(self.std)})"


def segmentation_transform(dataset, train: bool, image_size: int | None = None, augment: str = "flip",
                           flip_p: float = 0.5) -> SegmentationTransform:
    """The transform of a segmentation dataset class (or instance) for a split (see the module docstring).

    ``image_size`` is S (the dataset's ``image_size`` if None); ``flip_p`` is the flip's probability when
    ``train`` and ``augment="flip"`` (``flip_p=1.0`` forces it, e.g. in tests).
    """
    check_inputs(train=train, image_size=image_size, flip_p=flip_p)
    check_choice("augment", augment, SEGMENTATION_AUGMENTS)
    size = image_size if image_size is not None else dataset.image_size
    augmented = train and augment == "flip"
    if dataset.native_size is not None:  # shapes: square scenes of a native size
        steps: list = [] if size == dataset.native_size else [v2.Resize((size, size), antialias=True)]
    elif augmented:
        steps = [v2.ScaleJitter((size, size), scale_range=SCALE_RANGE, antialias=True),
                 v2.RandomCrop(size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX})]
    else:
        steps = [ResizeLongerAndPad(size)]
    if augmented:
        steps.append(PairedHorizontalFlip(flip_p, dataset.flip_pairs))
    return SegmentationTransform(steps, dataset.mean, dataset.std)


__all__ = ["AUGMENTS", "SCALE_RANGE", "SEGMENTATION_AUGMENTS", "PairedHorizontalFlip", "ResizeLongerAndPad",
           "SegmentationTransform", "classification_transform", "segmentation_transform"]
