"""The per-sample weights a fit trains with: ``sample_weight`` times the class weights.

``class_weight`` follows Keras and scikit-learn's classifiers: 'balanced' gives class c the
weight n / (k * n_c) (n samples, k classes present, n_c samples of class c), a dict
{class id: weight} gives its classes those weights and every other class 1. The result
multiplies ``sample_weight`` (the weights' own meaning: see ``losses`` in the kernels).
"""
import numpy as np

from .checks import check_class_weight, check_sample_weight


def class_labels(arch, yi, t, name="class_weight"):
    """The class id of each training sample, for class weights: the ids of the softmax losses,
    the 0/1 labels of 'bce'; refused for 'mse' and 'multilabel' (no single class per sample)."""
    if arch.takes_class_ids:
        return yi
    if arch.loss == "bce":
        labels = t[:, 0]
        if not ((labels == 0) | (labels == 1)).all():
            raise ValueError(f"{name} needs 0/1 labels for loss 'bce'; y holds probabilities between 0 and 1")
        return labels.astype(np.int64)
    raise ValueError(f"{name} needs one class per sample; loss {arch.loss!r} has none: use sample_weight")


def balanced_class_weights(labels, n_classes):
    """{class id: n / (k * n_c)} over the k classes present in ``labels`` (scikit-learn's
    ``compute_class_weight('balanced')``)."""
    counts = np.bincount(labels, minlength=n_classes)
    present = np.flatnonzero(counts)
    return {int(c): labels.shape[0] / (present.size * counts[c]) for c in present}


def fit_weights(arch, yi, t, sample_weight, class_weight, name="sample_weight"):
    """The weights (n,) in the model's dtype a fit trains with, or an empty array when
    neither ``sample_weight`` nor ``class_weight`` is given (the unweighted path)."""
    n = max(yi.shape[0], t.shape[0])
    w = check_sample_weight(sample_weight, n, arch.dtype, name)
    class_weight = check_class_weight(class_weight, max(arch.n_classes, 2))
    if class_weight is None:
        return _unless_uniform(w)
    labels = class_labels(arch, yi, t)
    if isinstance(class_weight, str):
        class_weight = balanced_class_weights(labels, max(arch.n_classes, 2))
    per_class = np.ones(max(arch.n_classes, 2), np.float64)
    for c, v in class_weight.items():
        per_class[c] = v
    cw = per_class[labels]
    w = cw if w.size == 0 else w * cw
    w = np.ascontiguousarray(w, dtype=arch.dtype)
    if not (w > 0).any():
        raise ValueError("the class weights times sample_weight are zero for every sample: at least one sample "
                         "must have a positive weight")
    return _unless_uniform(w)


def _unless_uniform(w):
    """``w``, or an empty array (the unweighted path, exactly the same losses) when every weight
    is the same positive number: a weighted mean with equal weights is the plain mean."""
    return w[:0] if w.size and w.min() == w.max() else w
