"""Figures for fastmlp: training curves, decision boundaries, class probabilities,
sweep studies, signal propagation, gradient cost, universal approximation (boxes and
towers), grids of dataset samples, learning curves, per-layer diagnostics,
decision-boundary snapshots and the learning-rate range test.

Every function builds a ``matplotlib.figure.Figure`` directly (no pyplot, no
window: it renders with Agg), returns it, and writes a PNG only when given
``path``; :func:`new_figure` and :func:`finish` are that convention, for other
figures to follow.
"""
from .approximation import plot_box_approximation, plot_tower_approximation
from .base import finish, new_figure
from .boundary import plot_decision_boundary
from .comparison import plot_init_sensitivity, plot_lr_comparison
from .curves import plot_history
from .diagnostics import plot_layer_diagnostics
from .gradient_cost import plot_gradient_cost
from .learning_curve import plot_learning_curve
from .lr_finder import plot_lr_finder
from .probabilities import plot_probabilities
from .samples import plot_samples
from .signal import plot_signal_propagation
from .snapshots import plot_boundary_snapshots
from .sweep_plots import plot_sweep_curves, plot_sweep_heatmaps

__all__ = ["plot_history", "plot_decision_boundary", "plot_probabilities", "plot_sweep_heatmaps",
           "plot_sweep_curves", "plot_lr_comparison", "plot_init_sensitivity", "plot_signal_propagation",
           "plot_gradient_cost", "plot_box_approximation", "plot_tower_approximation", "plot_samples",
           "plot_learning_curve", "plot_layer_diagnostics", "plot_boundary_snapshots", "plot_lr_finder", "new_figure",
           "finish"]
