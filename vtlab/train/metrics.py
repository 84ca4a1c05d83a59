"""Segmentation metrics: mean IoU and pixel accuracy over labelled pixels, with torchmetrics.

IoU of class c = |pred = c and label = c| / |pred = c or label = c| over pixels whose label is not the ignore
index; mIoU averages it over the classes that occur in the predictions or the labels (a class absent from both
has no IoU), the convention of torchmetrics' ``MulticlassJaccardIndex(average="macro")``. Pixel accuracy is the
fraction of labelled pixels predicted right. Both accumulate over batches and, under torch.distributed, over
processes (torchmetrics synchronises its states in ``compute``).
"""

from __future__ import annotations

from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from ..data import IGNORE_INDEX


def segmentation_metrics(num_classes: int, ignore_index: int = IGNORE_INDEX) -> MetricCollection:
    """``update(predictions (N, H, W), labels (N, H, W))``, then ``compute()`` → {"miou", "pixel_acc"}."""
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"expected num_classes to be an integer >= 2, got {num_classes!r}")
    return MetricCollection({
        "miou": MulticlassJaccardIndex(num_classes, average="macro", ignore_index=ignore_index),
        "pixel_acc": MulticlassAccuracy(num_classes, average="micro", ignore_index=ignore_index),
    })
