"""Cost counting in the paper's convention, the paper's reported figures, and the side-by-side report."""

from .counting import count_macs, count_params, macs_by_module, neck_inputs, neck_macs, neck_macs_by_module

__all__ = ["count_macs", "count_params", "macs_by_module", "neck_inputs", "neck_macs", "neck_macs_by_module"]
