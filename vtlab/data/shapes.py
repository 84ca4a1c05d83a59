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
Its label is still read linearly from a sum over objects: argmax over pairs {a, b} of s_a + s_b, where s is
the per-type sum of radii.

``task="same"`` asks for a relation: two medium shapes ("the pair") and one or two small ones of other types;
the label is 1 if the pair's two types are the same (classes "different", "same"). Whether they are is drawn
once per scene with probability exactly 1/2, with the types, before any redraw (a redraw for visibility draws
the background and the geometry again, never the types). Each shape shows, and both medium ones show more
pixels than any small one; two medium shapes of one type share a mask value. What this buys, for any
per-object features φ(o) (type, size, colour, place, anything) summed over a scene's objects:

- Each object's own distribution is the same in both classes (each medium and each small shape's type is
  uniform over the six, the number of small ones does not depend on the label, and the geometry is drawn alike,
  up to the redraws' dependence on which types meet): only the joint of the pair's types differs. So
  E[Σφ | same] = E[Σφ | different]. The gradient in w of a convex loss of w·Σφ + b (least squares,
  logistic, hinge) at the best constant is proportional to that difference of class means: the loss's
  population fit is the constant, at chance, and a fit on finitely many scenes differs from it only by its
  sampling error.
- No threshold of an additive score Σg(o) is right on every scene: with medium shapes A1, A2 of type a,
  B1, B2 of type b and a small D of a third type, the "same" scenes {A1, A2, D}, {B1, B2, D} and the
  "different" scenes {A1, B2, D}, {B1, A2, D} have the same total score, so one of the four is misread.
- Not proved, and false: that every linear threshold is at chance (calling "same" when both medium shapes are
  circles, squares or triangles, a threshold at 2 of a sum of per-object indicators, is right on 13/20 of
  scenes), or that a nonlinear readout of a sum fails (any function of a set is ρ(Σφ(o)) for some φ, ρ).

``task="same-colour"`` is the same relation on colour, which a network sees from its first layer where a type
takes many: the pair's two shapes and the one or two small ones have distinct types, and the label (a fair coin,
drawn once) is 1 if the pair has one colour. The first medium shape's colour is uniform in the RGB cube; the
second's is the same, or (label 0) the first's shifted on the torus [0, 1)³ by a uniform 0.25–0.75 per
channel, so that it is uniform too and differs by at least 0.25 in every channel. So each object's own
distribution is again the same in both classes, and the two arguments above hold as they are (with colours
for types in the second).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from .checks import check_choice, check_inputs

SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")
GREY = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))  # the mean and std that the generated sets are normalised with
PAIRS = tuple(itertools.combinations(range(len(SHAPES)), 2))  # task "pair": label i is the pair PAIRS[i]
SAME = ("different", "same")  # task "same": the classes
TASKS = ("largest", "pair", "same", "same-colour")
SPLITS = {"train": 0, "val": 1, "test": 2}
MEDIUM, SMALL = (0.20, 0.26), (0.09, 0.13)  # tasks "pair" and "same": circumradii, as fractions of the size


@dataclass(frozen=True)
class Shape:
    """One shape of a scene: its type (an index into :data:`SHAPES`), centre (x, y) and circumradius in pixels,
    rotation in radians, colour (RGB in 0..1, before the pixel noise) and how many of its pixels show."""

    kind: int
    x: float
    y: float
    radius: float
    angle: float
    colour: tuple[float, float, float]
    visible: int


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
    """One scene: image (3, size, size) uint8, mask (size, size) int64 in 0..6, label (0..5; 0..14 for the
    "pair" task; 0 or 1 for "same"). See :func:`render_shapes`, which also returns the shapes."""
    return render_shapes(size, generator, task)[:3]


def render_shapes(size: int, generator: torch.Generator,
                  task: str = "largest") -> tuple[torch.Tensor, torch.Tensor, int, list[Shape]]:
    """One scene with its shapes: image (3, size, size) uint8, mask (size, size) int64 in 0..6, label, and the
    drawn shapes in drawing order (for "pair" and "same": the two medium ones first).

    Guaranteed: every shape shows, and the label's shape shows more pixels than any other (for "pair" and
    "same": both medium shapes show more pixels than any small one), counted per shape, not per mask value; a
    draw that breaks either is drawn again from the same generator, so scenes stay deterministic. "largest" and
    "pair" draw their types again too; "same" and "same-colour" draw their label, types (and the pair's colours)
    once, so that P(same) is exactly 1/2.
    """
    check_choice("shapes task", task, TASKS)
    colours = None
    if task == "same":
        label, kinds, sizes = _choose_same(generator)
    elif task == "same-colour":
        label, kinds, sizes, colours = _choose_same_colour(generator)
    fixed = task in ("same", "same-colour")  # the label and types (and colours) are drawn once, before any redraw
    y, x = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    while True:
        image = _background(x, y, generator)
        if not fixed:
            label, kinds, sizes = _choose(task, generator)
        mask, shapes = _paint(image, x, y, generator, kinds, sizes, colours)
        visible = [s.visible for s in shapes]
        if task == "largest":  # one shape per type: the types' pixel counts, whose first maximum is the label's
            per_type = torch.zeros(len(SHAPES), dtype=torch.int64)
            per_type[kinds] = torch.tensor(visible)
            shows = int(per_type.argmax()) == label
        else:
            shows = min(visible[:2]) > max(visible[2:], default=0)
        if min(visible) > 0 and shows:
            return (image.clamp(0, 1) * 255).round().to(torch.uint8), mask, label, shapes


def _uniform(generator: torch.Generator, low: float, high: float, n: int = 1) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _background(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Stripes of two random colours at a random angle and period, plus noise: float (3, size, size)."""
    size = x.shape[0]
    angle, period = _uniform(generator, 0, math.pi).item(), _uniform(generator, 0.15, 0.5).item() * size
    stripes = (torch.sin(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period) > 0).float()
    colours = _uniform(generator, 0.1, 0.9, 6).view(2, 3, 1, 1)
    return colours[0] * stripes + colours[1] * (1 - stripes) + 0.06 * torch.randn(3, size, size, generator=generator)


def _choose(task: str, generator: torch.Generator) -> tuple[int, list[int], list[tuple[float, float]]]:
    """Tasks "largest" and "pair": (label, the shapes' types, their radius ranges), large or medium first."""
    if task == "pair":  # two medium shapes (the label is their pair of types) and one or two small ones
        order = torch.randperm(len(SHAPES), generator=generator).tolist()
        label = PAIRS.index(tuple(sorted(order[:2])))
        kinds = order[:2] + order[2:2 + int(torch.randint(1, 3, (1,), generator=generator))]
        return label, kinds, [MEDIUM] * 2 + [SMALL] * (len(kinds) - 2)
    label = int(torch.randint(len(SHAPES), (1,), generator=generator))
    others = [k for k in torch.randperm(len(SHAPES), generator=generator).tolist() if k != label]
    kinds = [label] + others[: int(torch.randint(1, 4, (1,), generator=generator))]
    return label, kinds, [(0.26, 0.36)] + [(0.10, 0.16)] * (len(kinds) - 1)


def _choose_same(generator: torch.Generator) -> tuple[int, list[int], list[tuple[float, float]]]:
    """Task "same": (label, types, radius ranges). The label is a fair coin; the pair is one type (uniform) or
    two (a uniform ordered pair); the one or two small shapes take distinct types outside the pair's."""
    label = int(torch.randint(2, (1,), generator=generator))
    order = torch.randperm(len(SHAPES), generator=generator).tolist()
    pair, rest = ([order[0]] * 2, order[1:]) if label else (order[:2], order[2:])
    kinds = pair + rest[: int(torch.randint(1, 3, (1,), generator=generator))]
    return label, kinds, [MEDIUM] * 2 + [SMALL] * (len(kinds) - 2)


def _choose_same_colour(generator: torch.Generator) -> tuple[int, list[int], list[tuple[float, float]],
                                                             list[torch.Tensor]]:
    """Task "same-colour": (label, distinct types, radius ranges, the pair's two colours (3, 1)); see the module
    docstring."""
    label = int(torch.randint(2, (1,), generator=generator))
    order = torch.randperm(len(SHAPES), generator=generator).tolist()
    kinds = order[: 2 + int(torch.randint(1, 3, (1,), generator=generator))]
    first = _uniform(generator, 0.0, 1.0, 3).view(3, 1)
    shift = _uniform(generator, 0.25, 0.75, 3).view(3, 1)
    second = first.clone() if label else (first + shift) % 1.0
    return label, kinds, [MEDIUM] * 2 + [SMALL] * (len(kinds) - 2), [first, second]


def _paint(image: torch.Tensor, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, kinds: list[int],
           sizes: list[tuple[float, float]], colours: list[torch.Tensor] | None = None,
           ) -> tuple[torch.Tensor, list[Shape]]:
    """Draw the shapes onto ``image`` in order (later ones on top, apart where there is room): the mask of types
    and the shapes, each with the pixels of it that show (counted per shape, so two of one type stay apart).
    ``colours``: those of the first shapes, (3, 1) each, where they are given; the others' are drawn."""
    size = x.shape[0]
    mask = torch.zeros(size, size, dtype=torch.int64)
    owner = torch.zeros(size, size, dtype=torch.int64)  # 1 + the index of the shape each pixel shows
    placed: list[tuple[float, float, float]] = []
    drawn = []
    for i, (k, (low, high)) in enumerate(zip(kinds, sizes, strict=True)):
        r = _uniform(generator, low, high).item() * size
        for _ in range(20):
            cx, cy = _uniform(generator, r, size - r, 2).tolist()
            if all(math.hypot(cx - px, cy - py) > r + pr for px, py, pr in placed):
                break
        placed.append((cx, cy, r))
        theta = _uniform(generator, 0, 2 * math.pi).item()
        u = (x - cx) * math.cos(theta) + (y - cy) * math.sin(theta)
        v = -(x - cx) * math.sin(theta) + (y - cy) * math.cos(theta)
        region = _inside(SHAPES[k], u, v, r)
        colour = colours[i] if colours is not None and i < len(colours) else _uniform(generator, 0.0, 1.0, 3).view(3, 1)
        image[:, region] = colour + 0.04 * torch.randn(3, int(region.sum()), generator=generator)
        mask[region] = k + 1
        owner[region] = i + 1
        drawn.append((k, cx, cy, r, theta, tuple(colour.flatten().tolist())))
    visible = torch.bincount(owner.flatten(), minlength=len(kinds) + 1)[1:].tolist()
    return mask, [Shape(*d, visible=n) for d, n in zip(drawn, visible, strict=True)]


def scene_generator(split: str, seed: int, index: int) -> torch.Generator:
    """The generator that draws scene ``index`` of ``split``: each scene has its own, so any one can be redrawn."""
    return torch.Generator().manual_seed((seed * 3 + SPLITS[split]) * 1_000_003 + index)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the body on one intra-op thread, then restore the count: a scene is many small tensor operations,
    which a second thread only slows (the more so on a busy machine). The scenes are the same either way."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@functools.lru_cache(maxsize=8)
def _render_split(split: str, size: int, length: int, seed: int,
                  task: str = "largest") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, masks, labels) of a split, rendered once per process: rendering is the slow part of a short run,
    and a notebook or test suite builds the same splits many times. Callers must not modify the tensors."""
    with one_thread():
        scenes = [render_scene(size, scene_generator(split, seed, i), task) for i in range(length)]
    return (torch.stack([s[0] for s in scenes]), torch.stack([s[1] for s in scenes]),
            torch.tensor([s[2] for s in scenes]))


class ShapesDataset(Dataset):
    """``length`` scenes of ``size``×``size`` pixels: items are (image uint8 (3, size, size), label), or
    (image, mask (size, size)) with ``target="mask"``. ``transform`` is applied to the image (classification)
    or to the (image, mask) pair (segmentation). ``task``: "largest" (the label is the largest shape's type),
    "pair" (the label is the pair of the two medium shapes' types), "same" (whether the two medium shapes are
    of one type) or "same-colour" (whether they are of one colour); see the module docstring."""

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
        elif task in ("same", "same-colour") and target == "label":
            self.classes, self.num_classes = SAME, len(SAME)
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
