"""vtlab: Visual Transformers (Wu et al., 2020, arXiv 2006.03677), equation by equation."""

from .cost import count_macs, count_params, macs_by_module
from .models import create_model, list_models

__version__ = "0.1.0"
__all__ = ["__version__", "count_macs", "count_params", "create_model", "list_models", "macs_by_module"]
