"""``shapes``: procedural scenes of coloured shapes on textured backgrounds, with an image label and a mask.

Every scene holds one large shape, whose type is the image's label, and one to three smaller shapes of other
types, on a background of random stripes and noise; every shape shows, and the label's shows the most pixels.
The mask gives each pixel the type of the shape it shows (0 for background), so that token coefficient maps
can be scored against known regions. Scene ``i`` of a split is drawn from its own generator, seeded by
(seed, split, i): a dataset is the same on every machine and any scene can be regenerated alone.

Classes (mask values 1..6; the label is the mask value minus 1): circle, square, triangle, star, cross, ring.
No two are the same up to rotation (a diamond would be a rotated square), since every shape is rotated.

``task="pair"`` draws scenes whose label depends on two objects: two medium shapes of different types and one
or two smaller ones of other types; the label is the unordered pair of the two medium shapes' types (15
classes, :data:`PAIRS`), so no single object decides it. Both medium shapes show more pixels than any small one.
"""

from __future__ import annotations

import functools
import itertools
import math

import torch
from torch.utils.data import Dataset

from .checks import check_choice, check_inputs

SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")
GREY = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))  # the mean and std that the generated sets are normalised with
PAIRS = tuple(itertools.combinations(range(len(SHAPES)), 2))  # task "pair": label i is the pair PAIRS[i]
TASKS = ("largest", "pair")
SPLITS = {"train": 0, "val": 1, "test": 2}


def _inside(kind: str, u: torch.Tensor, v: torch.Tensor, r: float) -> torch.Tensor:
    """Pixels inside a shape of circumradius ``r``, in coordinates (u, v) centred and rotated with it."""
    if kind == "circle":
        return u**2 + v**2 <= r**2
    if kind == "square":
        return torch.maximum(u.abs(), v.abs()) <= 0.75 * r
    if kind == "triangle":  # equilateral: inside all three edges, each at distance r/2 from the centre
        return torch.stack([u * math.cos(a) + v * math.sin(a) <= r / 2
                            for a in (math.pi / 2, 7 * math.pi / 6, 11 * math.pi / 6)]).all(0)
    if kind == "star":  # five rounded lobes
        return torch.sqrt(u**2 + v**2) <= r * (0.62 + 0.38 * torch.cos(5 * torch.atan2(v, u)))
    if kind == "cross":
        return ((u.abs() <= r / 3) & (v.abs() <= r)) | ((v.abs() <= r / 3) & (u.abs() <= r))
    if kind == "ring":
        return (u**2 + v**2 <= r**2) & (u**2 + v**2 >= (0.55 * r) ** 2)
    raise ValueError(f"unknown shape {kind!r}; expected one of {SHAPES}")


def render_scene(size: int, generator: torch.Generator,
                 task: str = "largest") -> tuple[torch.Tensor, torch.Tensor, int]:
    """One scene: image (3, size, size) uint8, mask (size, size) int64 in 0..6, label (0..5, or 0..14 for the
    "pair" task).

    Guaranteed: every shape shows, and the label's shape shows more pixels than any other (for "pair": both
    labelled shapes show more pixels than any other); a draw that breaks either is drawn again from the same
    generator, so scenes stay deterministic.
    """
    if task not in TASKS:
        raise ValueError(f"unknown shapes task {task!r}; expected one of {TASKS}")
    while True:
        if task == "largest":
            image, mask, label, kinds = _draw(size, generator)
            visible = torch.bincount(mask.flatten(), minlength=len(SHAPES) + 1)[1:]
            if all(visible[k] > 0 for k in kinds) and int(visible.argmax()) == label:
                return image, mask, label
        else:
            image, mask, label, kinds = _draw(size, generator, pair=True)
            visible = torch.bincount(mask.flatten(), minlength=len(SHAPES) + 1)[1:]
            labelled = PAIRS[label]
            if all(visible[k] > 0 for k in kinds) and \
                    min(visible[k] for k in labelled) > max((visible[k] for k in kinds[2:]), default=0):
                return image, mask, label


def _draw(size: int, generator: torch.Generator, pair: bool = False):
    def uniform(low: float, high: float, n: int = 1) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    y, x = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    # background: stripes of two random colours at a random angle and period, plus noise
    angle, period = uniform(0, math.pi).item(), uniform(0.15, 0.5).item() * size
    stripes = (torch.sin(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period) > 0).float()
    colours = uniform(0.1, 0.9, 6).view(2, 3, 1, 1)
    image = colours[0] * stripes + colours[1] * (1 - stripes) + 0.06 * torch.randn(3, size, size, generator=generator)
    mask = torch.zeros(size, size, dtype=torch.int64)

    if pair:  # two medium shapes (the label is their pair of types) and one or two small ones
        order = torch.randperm(len(SHAPES), generator=generator).tolist()
        label = PAIRS.index(tuple(sorted(order[:2])))
        kinds = order[:2] + order[2:2 + int(torch.randint(1, 3, (1,), generator=generator))]
        sizes = [(0.20, 0.26)] * 2 + [(0.09, 0.13)] * (len(kinds) - 2)
    else:
        label = int(torch.randint(len(SHAPES), (1,), generator=generator))
        others = [k for k in torch.randperm(len(SHAPES), generator=generator).tolist() if k != label]
        kinds = [label] + others[: int(torch.randint(1, 4, (1,), generator=generator))]
        sizes = [(0.26, 0.36)] + [(0.10, 0.16)] * (len(kinds) - 1)
    placed: list[tuple[float, float, float]] = []
    for k, (low, high) in zip(kinds, sizes, strict=True):  # large first, small on top, apart where there is room
        r = uniform(low, high).item() * size
        for _ in range(20):
            cx, cy = uniform(r, size - r, 2).tolist()
            if all(math.hypot(cx - px, cy - py) > r + pr for px, py, pr in placed):
                break
        placed.append((cx, cy, r))
        theta = uniform(0, 2 * math.pi).item()
        u = (x - cx) * math.cos(theta) + (y - cy) * math.sin(theta)
        v = -(x - cx) * math.sin(theta) + (y - cy) * math.cos(theta)
        region = _inside(SHAPES[k], u, v, r)
        colour = uniform(0.0, 1.0, 3).view(3, 1)
        image[:, region] = colour + 0.04 * torch.randn(3, int(region.sum()), generator=generator)
        mask[region] = k + 1
    return (image.clamp(0, 1) * 255).round().to(torch.uint8), mask, label, kinds


def scene_generator(split: str, seed: int, index: int) -> torch.Generator:
    """The generator that draws scene ``index`` of ``split``: each scene has its own, so any one can be redrawn."""
    return torch.Generator().manual_seed((seed * 3 + SPLITS[split]) * 1_000_003 + index)


@functools.lru_cache(maxsize=8)
def _render_split(split: str, size: int, length: int, seed: int,
                  task: str = "largest") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, masks, labels) of a split, rendered once per process: rendering is the slow part of a short run,
    and a notebook or test suite builds the same splits many times. Callers must not modify the tensors."""
    scenes = [render_scene(size, scene_generator(split, seed, i), task) for i in range(length)]
    return (torch.stack([s[0] for s in scenes]), torch.stack([s[1] for s in scenes]),
            torch.tensor([s[2] for s in scenes]))


class ShapesDataset(Dataset):
    """``length`` scenes of ``size``×``size`` pixels: items are (image uint8 (3, size, size), label), or
    (image, mask (size, size)) with ``target="mask"``. ``transform`` is applied to the image (classification)
    or to the (image, mask) pair (segmentation). ``task``: "largest" (the label is the largest shape's type) or
    "pair" (the label is the pair of the two medium shapes' types; see the module docstring)."""

    classes = SHAPES
    num_classes = len(SHAPES)

    def __init__(self, split: str = "train", size: int = 64, length: int | None = None, seed: int = 0,
                 target: str = "label", transform=None, task: str = "largest"):
        check_choice("split", split, tuple(SPLITS))
        check_choice("target", target, ("label", "mask"))
        check_choice("shapes task", task, TASKS)
        check_inputs(size=size, length=length, seed=seed, transform=transform)
        length = length if length is not None else (2000 if split == "train" else 500)
        if size < 16:
            raise ValueError(f"expected scenes of at least 16x16 pixels, got size={size}")
        if task == "pair" and target == "label":
            self.classes = tuple(f"{SHAPES[a]}+{SHAPES[b]}" for a, b in PAIRS)
            self.num_classes = len(PAIRS)
        self.split, self.size, self.seed, self.target, self.transform = split, size, seed, target, transform
        self.task = task
        self.images, self.masks, self.labels = _render_split(split, size, length, seed, task)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.images[index]
        if self.target == "mask":
            pair = (image, self.masks[index])
            return self.transform(*pair) if self.transform else pair
        return (self.transform(image) if self.transform else image), int(self.labels[index])
