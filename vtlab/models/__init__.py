"""Model builders: ResNet baselines and VT-ResNets, reached through :func:`create_model`."""

from . import resnet  # noqa: F401  (registers the builders)
from .registry import create_model, list_models, model_input_size, register_model
from .resnet import VT_CONFIGS, ResNet, VTResNet

__all__ = ["VT_CONFIGS", "ResNet", "VTResNet", "create_model", "list_models", "model_input_size", "register_model"]
