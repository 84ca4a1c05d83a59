"""The ``shapes-same`` task (:mod:`vtlab.data.shapes`, task "same"): its label is a fixed function of the scene
(whether the two medium shapes are of one type), yet a linear readout of per-object features summed over the
scene is at chance, while the same readout solves the ``shapes-pairs`` label; and the dataset is reachable by
its ``--data`` name."""

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vtlab.cli import main
from vtlab.data import ShapesDataset, create_data, data_help, parse_data
from vtlab.data.shapes import MEDIUM, PAIRS, SAME, SHAPES, SMALL, one_thread, render_shapes, scene_generator
from vtlab.train import engine

SIZE, TRAIN, TEST = 64, 2000, 1000


def scenes(task: str, split: str, count: int) -> list[tuple]:
    """Scenes 0..count-1 with their shapes, rendered on one thread as the datasets render them."""
    with one_thread():
        return [render_shapes(SIZE, scene_generator(split, 0, i), task) for i in range(count)]


@pytest.fixture(scope="module")
def same():
    return scenes("same", "train", TRAIN), scenes("same", "val", TEST)


def features(shape) -> np.ndarray:
    """Everything known about one shape: one-hot type, one-hot type times radius (the per-type size that solves
    "pair"), radius, centre, rotation, colour and pixels shown."""
    onehot = np.eye(len(SHAPES))[shape.kind]
    r = shape.radius / SIZE
    return np.concatenate([onehot, onehot * r, [r, shape.x / SIZE, shape.y / SIZE, math.cos(shape.angle),
                                                 math.sin(shape.angle)], shape.colour, [shape.visible / SIZE**2]])


def pooled(split: list[tuple]) -> np.ndarray:
    return np.stack([sum(features(s) for s in shapes) for *_, shapes in split])


def labels(split: list[tuple]) -> np.ndarray:
    return np.array([label for _, _, label, _ in split])


def readout_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Test accuracy of a logistic-regression readout fitted on the training scenes."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float((model.fit(train_x, train_y).predict(test_x) == test_y).mean())


def test_a_scene_is_redrawn_to_its_bytes_and_its_label_is_whether_the_medium_pair_matches(same):
    train, _ = same
    for i in (0, 7, 123):
        image, mask, label, shapes = render_shapes(SIZE, scene_generator("train", 0, i), "same")
        assert torch.equal(image, train[i][0]) and torch.equal(mask, train[i][1]) and shapes == train[i][3]
    dataset = ShapesDataset("train", size=SIZE, length=8, task="same")
    assert torch.equal(dataset.images, torch.stack([s[0] for s in train[:8]]))
    assert dataset.labels.tolist() == labels(train[:8]).tolist()
    for _, mask, label, shapes in train:
        pair, small = shapes[:2], shapes[2:]
        assert label == int(pair[0].kind == pair[1].kind) and 1 <= len(small) <= 2
        assert all(MEDIUM[0] * SIZE <= s.radius <= MEDIUM[1] * SIZE for s in pair)
        assert all(SMALL[0] * SIZE <= s.radius <= SMALL[1] * SIZE for s in small)
        assert len({s.kind for s in small} | {pair[0].kind, pair[1].kind}) == len(small) + 2 - label
        assert min(s.visible for s in shapes) > 0 and min(s.visible for s in pair) > max(s.visible for s in small)
        counts = torch.bincount(mask.flatten(), minlength=len(SHAPES) + 1)
        for kind in range(len(SHAPES)):  # the per-shape pixel counts add up to the mask's, type by type
            assert counts[kind + 1] == sum(s.visible for s in shapes if s.kind == kind)
    n, same_count = len(train), int(labels(train).sum())
    assert abs(same_count - n / 2) < 3.5 * math.sqrt(n / 4)  # P(same) = 1/2 exactly: a binomial count


def test_a_linear_readout_of_summed_object_features_is_at_chance_on_same_but_solves_pair(same):
    """A logistic readout of the per-object features summed over the scene is at chance on "same" (within
    3.5 binomial standard deviations of 0.5 on the test scenes; the module docstring says why). The test can
    fail: the same readout of the two medium shapes' features followed by the outer product of their one-hot
    types (whose trace is the label) must reach > 0.95; and on "pair" the summed features alone, whose per-type
    radii single out the two medium types, must solve the 15-way label."""
    (train, test), n = same, len(same[1])
    accuracy = readout_accuracy(pooled(train), labels(train), pooled(test), labels(test))
    assert abs(accuracy - 0.5) < 3.5 * math.sqrt(0.25 / n), accuracy
    # not every linear threshold is at chance: "same" iff both medium shapes are circles, squares or triangles
    # (a sum of per-object indicators >= 2) is right on 13/20 of scenes; a fit of a convex loss does not find it
    rule = np.array([int(max(shapes[0].kind, shapes[1].kind) < 3) for *_, shapes in test])
    assert abs((rule == labels(test)).mean() - 0.65) < 3.5 * math.sqrt(0.65 * 0.35 / n)

    def relational(split):
        return np.stack([np.concatenate([features(shapes[0]), features(shapes[1]),
                                         np.outer(np.eye(len(SHAPES))[shapes[0].kind],
                                                  np.eye(len(SHAPES))[shapes[1].kind]).ravel()])
                         for *_, shapes in split])

    assert readout_accuracy(relational(train), labels(train), relational(test), labels(test)) > 0.95

    pair_train, pair_test = scenes("pair", "train", 1000), scenes("pair", "val", 500)
    assert len(set(labels(pair_train))) == len(PAIRS)
    assert readout_accuracy(pooled(pair_train), labels(pair_train), pooled(pair_test), labels(pair_test)) > 0.9


def test_same_colour_is_whether_the_pair_shares_a_colour_and_a_summed_readout_is_at_chance():
    """"same-colour": distinct types, the label is whether the two medium shapes have one colour (else every
    channel differs by at least 0.25 on the torus), and the logistic readout of the summed per-object features is
    at chance, while one of the pair's colour difference solves it."""
    train, test = scenes("same-colour", "train", TRAIN), scenes("same-colour", "val", TEST)
    for _, _, label, shapes in train:
        pair = shapes[:2]
        gap = [min(abs(a - b), 1 - abs(a - b)) for a, b in zip(pair[0].colour, pair[1].colour, strict=True)]
        assert len({s.kind for s in shapes}) == len(shapes) and 1 <= len(shapes) - 2 <= 2
        assert (label == 1 and max(gap) < 1e-6) or (label == 0 and min(gap) >= 0.25 - 1e-6)
        assert min(s.visible for s in pair) > max(s.visible for s in shapes[2:])
    n = len(test)
    assert abs(int(labels(train).sum()) - TRAIN / 2) < 3.5 * math.sqrt(TRAIN / 4)
    accuracy = readout_accuracy(pooled(train), labels(train), pooled(test), labels(test))
    assert abs(accuracy - 0.5) < 3.5 * math.sqrt(0.25 / n), accuracy

    def colour_gap(split):
        return np.array([[np.abs(np.subtract(shapes[0].colour, shapes[1].colour)).sum()] for *_, shapes in split])

    assert readout_accuracy(colour_gap(train), labels(train), colour_gap(test), labels(test)) > 0.99
    dataset = ShapesDataset("val", size=SIZE, length=6, task="same-colour")
    assert (dataset.num_classes, dataset.labels.tolist()) == (2, labels(test[:6]).tolist())
    assert parse_data("shapes-same-colour", "classify").kind == "shapes-same-colour"


def test_shapes_same_is_a_two_class_dataset_by_its_data_name(tmp_path, monkeypatch):
    """``shapes-same`` is parsed, listed in the --data help, built with its two classes, and accepted by
    ``vtlab train --data shapes-same`` up to the first dataset it builds (then interrupted: no training)."""
    spec = parse_data("shapes-same", "classify")
    assert (spec.kind, spec.image_size, spec.mean, spec.std) == ("shapes-same", 64, (0.5,) * 3, (0.25,) * 3)
    assert "shapes-same" in data_help().split("; ")[0] and "shapes-same" not in data_help().split("; ")[1]
    with pytest.raises(ValueError, match="'shapes-same' is classification data"):
        parse_data("shapes-same", "segment")
    data = create_data("classify", "shapes-same", "val", length=6)
    assert (data.num_classes, data.classes, len(data)) == (2, SAME, 6)
    built = []

    def interrupt(task, data, split, *args, **kwargs):
        built.append(create_data(task, data, split, *args, **kwargs))
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "create_data", interrupt)
    assert main(["train", "--data", "shapes-same", "--model", "resnet_mini", "--epochs", "1", "--train-size", "4",
                 "--val-size", "4", "--quiet", "--out", str(tmp_path / "run")]) == 130
    (dataset,) = built
    assert (dataset.num_classes, len(dataset), dataset.task) == (2, 4, "same")
