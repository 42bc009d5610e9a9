"""The influence of the training-set size N: a learning curve.

One model per (N, seed) is trained on N rows of the training set (nested random subsets,
``fastmlp.sweep.train_subset``) and measured on those N rows and on the whole test set.
The runs are a sweep over ``n_train`` x ``seed`` (``fastmlp.sweep``), so they go to worker
processes or a Dask cluster the same way.
"""
import numpy as np

from ..checks import check_int_list, check_type
from ..sweep import METRICS, SweepResult, sweep


class LearningCurve:
    """The runs of a learning curve, as arrays over sizes x seeds.

    Attributes
    ----------
    sizes : list of int
        The training-set sizes N, ascending.
    seeds : list of int
        One run per size and seed (the seed draws the subset, the weights and the shuffling).
    result : SweepResult
        Every run's record (settings, final metrics, curves per epoch).
    """

    def __init__(self, sizes, seeds, result):
        self.sizes, self.seeds = list(sizes), list(seeds)
        self.result = check_type(result, "result", SweepResult, "a SweepResult")

    def __repr__(self):
        return f"LearningCurve(sizes={self.sizes}, seeds={self.seeds})"

    def values(self, metric):
        """``metric`` (e.g. 'test_accuracy', 'train_loss') of every run: (len(sizes), len(seeds)), NaN for a
        run that failed."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}; got {metric!r}")
        out = np.full((len(self.sizes), len(self.seeds)), np.nan)
        for i, n in enumerate(self.sizes):
            for j, seed in enumerate(self.seeds):
                for r in self.result.select(n_train=n, seed=seed):
                    out[i, j] = r[metric]
        return out

    def mean(self, metric):
        """Mean of ``metric`` over the seeds, per size (NaN where no run gave a value)."""
        return _over_seeds(np.nanmean, self.values(metric))

    def std(self, metric):
        """Standard deviation of ``metric`` over the seeds, per size (0 with one seed)."""
        return _over_seeds(np.nanstd, self.values(metric))

    def to_dict(self):
        """Plain data: sizes, seeds and, per metric, the mean and standard deviation per size."""
        out = {"sizes": self.sizes, "seeds": self.seeds}
        for metric in METRICS:
            mean = self.mean(metric)
            if np.isfinite(mean).any():
                out[metric] = {"mean": [float(v) for v in mean], "std": [float(v) for v in self.std(metric)]}
        return out


def _over_seeds(statistic, values):
    out = np.full(values.shape[0], np.nan)
    for i, row in enumerate(values):
        if np.isfinite(row).any():
            out[i] = statistic(row)
    return out


def learning_curve(data, sizes, settings=None, seeds=(0, 1, 2), n_jobs=1, client=None, verbose=False):
    """Train on N rows of the training set for each N in ``sizes``, repeated over ``seeds``.

    Parameters
    ----------
    data : Dataset, (X_train, y_train, X_test, y_test) or a dataset name
        A name is generated with the data settings in ``settings`` (n_samples, noise,
        test_size, data_seed), as in :func:`fastmlp.sweep.sweep`.
    sizes : sequence of int >= 1
        Training-set sizes, each at most the rows of the training set.
    settings : dict, optional
        Model, trainer, fit and data settings shared by every run (any key of
        ``fastmlp.settings.known_keys()`` except ``n_train`` and ``seed``), over
        ``fastmlp.sweep.DEFAULTS``; e.g. ``{'hidden': (32,), 'epochs': 50, 'lr': 0.1}``.
    seeds : sequence of int >= 0
        One run per seed and size: the seed draws the subset (nested across sizes),
        the initial weights and the shuffling.
    n_jobs, client, verbose
        As in :func:`fastmlp.sweep.sweep` (default: in this process).

    Returns
    -------
    LearningCurve
        ``mean('test_accuracy')``, ``std('train_loss')``, ... per size.
    """
    sizes = check_int_list(sizes, "sizes", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    for name, values in (("sizes", sizes), ("seeds", seeds)):
        if not values or len(set(values)) != len(values):
            raise ValueError(f"{name} must be a non-empty list of distinct values; got {list(values)}")
    check_type(settings, "settings", (dict, type(None)), "a dict of settings or None")
    fixed = sorted({"n_train", "seed"} & set(settings or {}))
    if fixed:
        raise ValueError(f"settings must not set {fixed}: a learning curve varies them (give sizes and seeds)")
    sizes = sorted(sizes)
    result = sweep(data, {"n_train": sizes, "seed": seeds}, base=dict(settings or {}), n_jobs=n_jobs, client=client,
                   verbose=verbose)
    failed = [r["error"] for r in result.records if r["error"]]
    if len(failed) == len(result.records):
        raise ValueError(f"every run of the learning curve failed, e.g. {failed[0]}")
    return LearningCurve(sizes, seeds, result)

