"""Numerical experiments behind the explanatory figures: signal propagation
through deep nets, the cost of a gradient (backprop versus finite differences),
universal approximation with hand-set step units and the learning curve over
the training-set size."""
from .approximation import box_approximation, box_network
from .gradient_cost import count_forward_passes, gradient_cost, multiply_adds
from .learning_curve import LearningCurve, learning_curve
from .signal import signal_propagation

__all__ = ["signal_propagation", "gradient_cost", "count_forward_passes", "multiply_adds", "box_network",
           "box_approximation", "learning_curve", "LearningCurve"]
