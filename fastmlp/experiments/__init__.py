"""Numerical experiments behind the explanatory figures: signal propagation
through deep nets, the cost of a gradient (backprop versus finite differences),
universal approximation with hand-set step units (boxes in 1-D, towers in 2-D) and
the learning curve over the training-set size."""
from .approximation import box_approximation, box_network, box_network_2d, tower_approximation
from .gradient_cost import count_forward_passes, gradient_cost, multiply_adds
from .learning_curve import LearningCurve, learning_curve
from .signal import signal_propagation

__all__ = ["signal_propagation", "gradient_cost", "count_forward_passes", "multiply_adds", "box_network",
           "box_approximation", "box_network_2d", "tower_approximation", "learning_curve", "LearningCurve"]
