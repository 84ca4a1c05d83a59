"""Model builders: ResNet baselines and VT-ResNets (classification), FPN and VT-FPN (segmentation), reached
through :func:`create_model`."""

from . import fpn, resnet  # noqa: F401  (registers the builders)
from .fpn import FPN, VT_FPN_CONFIG, SegmentationFPN
from .registry import create_model, list_models, model_input_size, model_task, register_model
from .resnet import VT_CONFIGS, ResNet, VTResNet

__all__ = ["FPN", "VT_CONFIGS", "VT_FPN_CONFIG", "ResNet", "SegmentationFPN", "VTResNet", "create_model",
           "list_models", "model_input_size", "model_task", "register_model"]
