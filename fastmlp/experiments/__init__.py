"""Numerical experiments behind the explanatory figures: signal propagation
through deep nets, the cost of a gradient (backprop versus finite differences)
and universal approximation with hand-set step units (boxes in 1-D, towers in 2-D)."""
from .approximation import box_approximation, box_network, box_network_2d, tower_approximation
from .gradient_cost import count_forward_passes, gradient_cost, multiply_adds
from .signal import signal_propagation

__all__ = ["signal_propagation", "gradient_cost", "count_forward_passes", "multiply_adds", "box_network",
           "box_approximation", "box_network_2d", "tower_approximation"]
