"""Reading an image file as 8-bit RGB, by the rules of its pixel mode, so that no mode is decoded wrongly
without a word.

PIL opens a file in one of its modes; :func:`load_image` turns each into RGB with values 0..255 as follows:

- 8-bit modes ``1``, ``L``, ``P``, ``RGB``, ``RGBX``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``: PIL's conversion
  to RGB (LAB and HSV are converted as colours, not reinterpreted; a Pillow that cannot convert one raises
  the error below).
- Modes with transparency, ``LA``, ``PA``, ``RGBA``, ``RGBa``, and ``1``, ``L``, ``P`` or ``RGB`` with a
  transparent value (a PNG ``tRNS`` chunk): composited over white, as a viewer on a white page shows them
  (dropping the alpha channel would show whatever colour the file keeps under transparent pixels).
- 16-bit modes ``I;16``, ``I;16L``, ``I;16B``, ``I;16N`` (16-bit PNGs and TIFFs): the full 16-bit range,
  which is what the formats define, scaled to 0..255 (v / 257, rounded). An image whose largest value is
  1..255 is refused: it is 8-bit data in a 16-bit file or an image under 1/256 of full scale, and either
  reading would be a guess. Mode ``I`` read from a PNG (older Pillows open 16-bit grey PNGs so) follows
  this rule.
- 32-bit integer mode ``I`` (TIFF): the format does not define its range, so it is read only when every
  value is already in 0..255 (taken as it is); any other range is refused.
- float mode ``F`` (TIFF): values in [0, 1] are scaled by 255; anything else (negative, above 1, NaN or
  infinite) is refused, since [0, 1] and [0, 255] images cannot be told apart in general.
- any other mode (``La``, ``I;16S``, ...) is refused.

A refusal is a :class:`BadFileError` (a ValueError) naming the file, its mode and its value range. A
multi-frame file (GIF, multi-page TIFF) is read as its first frame. An image of more than
``PIL.Image.MAX_IMAGE_PIXELS`` pixels (PIL's decompression-bomb limit, about 89 million by default) is
refused before it is decoded: a tiny file can claim a size that would fill memory. Raise that limit in
Python to read larger images. Embedded colour profiles and EXIF orientation are not applied (as in
torchvision's loader): pixels are read as stored, so that segmentation labels stay aligned with them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, UnidentifiedImageError

EIGHT_BIT_MODES = frozenset({"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
ALPHA_MODES = frozenset({"LA", "PA", "RGBA", "RGBa"})
KEYED_MODES = frozenset({"1", "L", "P", "RGB"})  # modes whose PNGs can name a transparent value
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
WIDE_MODES = SIXTEEN_BIT_MODES | {"I", "F"}  # modes whose reading depends on the values, not the header alone
MODES = EIGHT_BIT_MODES | ALPHA_MODES | WIDE_MODES
READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


class BadFileError(ValueError):
    """An image (or label) file that cannot be used: ``path`` and ``reason`` are kept for a scan's summary;
    the message is "cannot read <what> <path>: <reason>"."""

    def __init__(self, path: str, reason: str, what: str = "image"):
        super().__init__(f"cannot read {what} {path}: {reason}")
        self.path, self.reason = str(path), reason


def check_pixel_count(path: str, width: int, height: int) -> None:
    """Raise :class:`BadFileError` if a ``width``×``height`` image is above PIL's decompression-bomb limit."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise BadFileError(path, f"its header claims {width}x{height} = {width * height:,} pixels, above the "
                             f"decompression-bomb limit of {limit:,}, PIL.Image.MAX_IMAGE_PIXELS")


def check_mode(mode: str, path: str) -> None:
    """Raise :class:`BadFileError` unless :func:`load_image` has a rule for the pixel mode ``mode``."""
    if mode not in MODES:
        raise BadFileError(path, f"mode {mode} is not one vtlab reads; expected 8-bit, 16-bit, or float pixels "
                                 f"in [0, 1]; convert the file to 8-bit RGB")


def open_image(path: str) -> Image.Image:
    """Open an image file lazily (the header only), or raise :class:`BadFileError` naming it."""
    try:
        image = Image.open(path)
    except READ_ERRORS as error:  # PIL raises SyntaxError on some broken files
        raise BadFileError(path, describe(error, "opening")) from error
    try:
        check_pixel_count(path, *image.size)
    except BadFileError:
        image.close()
        raise
    return image


def load_image(path: str) -> Image.Image:
    """Read an image file as 8-bit RGB by the rules of the module docstring, or raise :class:`BadFileError`."""
    with open_image(path) as image:
        try:
            return to_rgb(image, path)
        except BadFileError:
            raise
        except READ_ERRORS as error:
            raise BadFileError(path, describe(error, "decoding")) from error


def to_rgb(image: Image.Image, path: str) -> Image.Image:
    """The RGB image of an opened file, by its mode (see the module docstring)."""
    mode = image.mode
    check_mode(mode, path)
    if mode in KEYED_MODES and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ALPHA_MODES:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode in EIGHT_BIT_MODES:
        return image.convert("RGB")
    return Image.fromarray(_wide_to_8_bit(np.asarray(image), mode, image.format, path)).convert("RGB")


def _wide_to_8_bit(values: np.ndarray, mode: str, file_format: str | None, path: str) -> np.ndarray:
    """uint8 grey values of a 16-bit, 32-bit integer or float image, or :class:`BadFileError` for an ambiguous range."""
    if values.size == 0:
        return values.astype(np.uint8)
    if mode == "F":
        low, high = float(np.min(values)), float(np.max(values))
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 1:
            raise BadFileError(path, f"float image of mode F with values {_span(values)}; expected values in [0, 1], "
                                 f"which are scaled to 0..255; convert the file to 8-bit")
        return np.round(values * 255).astype(np.uint8)
    low, high = int(values.min()), int(values.max())
    if mode in SIXTEEN_BIT_MODES or (mode == "I" and file_format == "PNG"):
        if 0 < high <= 255:
            raise BadFileError(path, f"16-bit image of mode {mode} with values {low}..{high}: 8-bit values in a 16-bit "
                                 f"file, or an image under 1/256 of full scale; expected the 16-bit range "
                                 f"0..65535; convert the file to 8-bit")
        return np.round(values.astype(np.float64) / 257).astype(np.uint8)
    if low < 0 or high > 255:  # 32-bit integers: no range is defined
        raise BadFileError(path, f"32-bit integer image of mode I with values {low}..{high}, whose range the file "
                             f"does not say: 0..255, 0..65535 or wider; expected values in 0..255; convert the "
                             f"file to 8-bit")
    return values.astype(np.uint8)


def _span(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    span = f"{float(finite.min()):g}..{float(finite.max()):g}" if finite.size else "none finite"
    return span + (" and NaN or infinite ones" if finite.size < values.size else "")


def describe(error: BaseException, stage: str) -> str:
    """Why a file failed, in words, from the error PIL or the system raised while ``stage`` ("opening" or
    "decoding") it."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image file PIL can identify: a wrong extension, or no image at all"
    if isinstance(error, FileNotFoundError):
        return "no such file, a broken symbolic link?"
    if isinstance(error, PermissionError):
        return "permission denied"
    text = str(error) or type(error).__name__
    if isinstance(error, Image.DecompressionBombError):
        return text
    return f"truncated or corrupt {'header' if stage == 'opening' else 'data'}: {text}"
