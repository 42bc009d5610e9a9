"""Numerical experiments behind the explanatory figures: signal propagation
through deep nets, the cost of a gradient (backprop versus finite differences)
and universal approximation with hand-set step units."""
from .approximation import box_approximation, box_network
from .gradient_cost import count_forward_passes, gradient_cost, multiply_adds
from .signal import signal_propagation

__all__ = ["signal_propagation", "gradient_cost", "count_forward_passes", "multiply_adds", "box_network",
           "box_approximation"]
