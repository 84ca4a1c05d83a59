"""Segmentation metrics: IoU per class, mean IoU and pixel accuracy over labelled pixels, with torchmetrics.

IoU of class c = |pred = c and label = c| / |pred = c or label = c| over pixels whose label is not the ignore
index; mIoU averages it over the classes that occur in the predictions or the labels (a class absent from both
has no IoU), the convention of torchmetrics' ``MulticlassJaccardIndex(average="macro")``. Pixel accuracy is the
fraction of labelled pixels predicted right. Both accumulate over batches and, under torch.distributed, over
processes (torchmetrics synchronises its states in ``compute``). :func:`class_iou` gives the per-class IoUs of one
set of predictions from the same torchmetrics computation, so that their mean over the classes present is the mIoU.
"""

from __future__ import annotations

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex
from torchmetrics.functional.classification import multiclass_jaccard_index

from ..data import IGNORE_INDEX


def _check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"expected num_classes to be an integer >= 2, got {num_classes!r}")


def segmentation_metrics(num_classes: int, ignore_index: int = IGNORE_INDEX) -> MetricCollection:
    """``update(predictions (N, H, W), labels (N, H, W))``, then ``compute()`` → {"miou", "pixel_acc"}."""
    _check_num_classes(num_classes)
    return MetricCollection({
        "miou": MulticlassJaccardIndex(num_classes, average="macro", ignore_index=ignore_index),
        "pixel_acc": MulticlassAccuracy(num_classes, average="micro", ignore_index=ignore_index),
    })


def class_iou(predictions: torch.Tensor, masks: torch.Tensor, num_classes: int,
              ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """IoU of each class (num_classes,) over labelled pixels, NaN for a class absent from both the labels and
    the predictions; its ``nanmean`` is the mIoU of :func:`segmentation_metrics`.

    predictions and masks (N, H, W), class indices (masks may hold ``ignore_index``)."""
    _check_num_classes(num_classes)
    if predictions.shape != masks.shape:
        raise ValueError(f"expected predictions and masks of one shape, got {tuple(predictions.shape)} and "
                         f"{tuple(masks.shape)}")
    return multiclass_jaccard_index(predictions, masks, num_classes, average="none", ignore_index=ignore_index,
                                    zero_division=float("nan"))
