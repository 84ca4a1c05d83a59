"""Segmentation label PNGs: their raw values (one class value per pixel, palette indices read as they are)
and the lookup tables that map them to class indices, with :data:`IGNORE_INDEX` for pixels that losses and
metrics skip."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .images import READ_ERRORS, BadFileError

IGNORE_INDEX = 255


def make_label_table(values: Sequence[int] | range, first_class: int = 0) -> np.ndarray:
    """A 256-entry uint8 lookup table from PNG value to class: ``values[i]`` → ``first_class + i``, anything
    else → IGNORE_INDEX."""
    table = np.full(256, IGNORE_INDEX, np.uint8)
    table[np.asarray(values)] = np.arange(first_class, first_class + len(values))
    return table


def value_table(defined: Iterable[Iterable[int]]) -> np.ndarray:
    """A 256-entry bool table: True for the label values in ``defined`` (ranges or tuples of values)."""
    table = np.zeros(256, bool)
    for values in defined:
        table[list(values)] = True
    return table


def read_label(path: str | Path) -> np.ndarray:
    """A label PNG's raw values (mode "L" or "P" read as indices, nothing converted), (H, W) integers. Raises a
    ValueError naming the file if it is unreadable or not one value per pixel."""
    try:
        with Image.open(path) as label:
            label.load()
            values = np.array(label)
    except READ_ERRORS as error:
        raise BadFileError(path, str(error) or type(error).__name__, what="label") from error
    if values.ndim != 2 or not (np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_):
        raise BadFileError(path, f"expected a single-channel label PNG of mode L or P, one class value per pixel, "
                                 f"got an array of shape {values.shape} and dtype {values.dtype}", what="label")
    return values


def load_label(path: str | Path, table: np.ndarray) -> np.ndarray:
    """Read a label PNG's raw values (see :func:`read_label`) and map them through ``table``; returns uint8
    (H, W)."""
    values = read_label(path)
    if values.dtype == np.uint8:
        return table[values]
    values = values.astype(np.int64)
    mapped = np.full(values.shape, IGNORE_INDEX, np.uint8)
    valid = (values >= 0) & (values < len(table))
    mapped[valid] = table[values[valid]]
    return mapped


__all__ = ["IGNORE_INDEX", "load_label", "make_label_table", "read_label", "value_table"]
