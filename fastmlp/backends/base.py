"""What every backend shares: the :class:`Backend` protocol and the records that cross it."""
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class TrainingData:
    """What an epoch trains on: X (n, n_in) in the model's dtype, y (n,) int64 class ids or
    empty, t (n, n_out) real targets or empty, the batch geometry, w (n,) sample weights
    in the model's dtype, or empty (unweighted: the default), and the training's
    ``fastmlp.dropout.Dropout`` (None: no dropout)."""
    X: np.ndarray
    y: np.ndarray
    t: np.ndarray
    batch_size: int
    drop_last: bool
    w: np.ndarray = field(default=None)
    dropout: object = None

    def __post_init__(self):
        if self.w is None:
            object.__setattr__(self, "w", np.zeros(0, self.X.dtype))

    @property
    def weighted(self):
        return self.w.shape[0] > 0

    @property
    def n(self):
        return self.X.shape[0]


@dataclass(frozen=True)
class EpochResult:
    """One epoch's (or one chunk of it) totals: sum of per-sample losses and correct
    predictions over the ``seen`` samples, the number of updates, and whether a batch loss
    was not finite (training stopped there, before that batch's update)."""
    loss_sum: float
    correct: int
    seen: int
    steps: int
    diverged: bool

    def __add__(self, later):
        """The totals of this part of an epoch followed by ``later``."""
        return EpochResult(self.loss_sum + later.loss_sum, self.correct + later.correct, self.seen + later.seen,
                           self.steps + later.steps, self.diverged or later.diverged)


class Backend(Protocol):
    """What every backend answers (``params`` is the model's flat parameter vector)."""

    name: str

    def output(self, params, X):
        """The last layer's output (n, n_out) only: logits or values."""

    def layer_outputs(self, params, X):
        """Every layer's output, a list of (n, n_l) arrays."""

    def probabilities(self, params, X):
        """Class probabilities (n, n_classes) in float64 (classifiers only)."""

    def loss_and_grad(self, params, grads, X, y, t, w=None, dropout=None, step=0):
        """(mean loss, correct) for one batch; the gradient into ``grads`` (params layout).
        With sample weights w (n,) the mean is weighted: sum w_i l_i / sum w_i. With
        ``dropout`` (a ``fastmlp.dropout.Dropout``), of the training forward with the masks
        of update ``step``; without, of the network as it predicts."""

    def evaluate(self, params, X, y, t, w=None):
        """(n times the mean loss, correct), forward only: the sum of the per-sample losses,
        or with sample weights w (n,) n times their weighted mean."""

    def train_epoch(self, params, state, optimizer, data, order, lr):
        """One pass over ``order`` in mini-batches of ``data``: params and the optimizer
        ``state`` updated in place; returns an :class:`EpochResult`."""

    def exclusive(self):
        """A context holding this backend for one fit (see :class:`BackendBase`)."""

    def check_training(self, optimizer, batch_size, weighted=False, dropout=False):
        """Raise (ValueError) if this backend cannot train ``optimizer`` at ``batch_size``
        (on weighted data when ``weighted``, with dropout when ``dropout``)."""

    def count_flagged(self, X, limit):
        """How many values of X (already in the model's form: ``checks.ready_rows``) are NaN,
        inf or beyond ``limit`` in magnitude, counted in one pass; None leaves them to the
        NumPy passes of ``checks.check_X``."""

    def needs_preparing(self, optimizer, data):
        """Whether :meth:`prepare` has work to do (compiling or loading code) for this training."""

    def prepare(self, params, state, optimizer, data):
        """Get ready to train (compile or load the epoch code) without changing anything;
        returns (seconds, compiled: bool), or None when there was nothing to do."""


def no_weights(w):
    """Whether ``w`` means unweighted (None or empty)."""
    return w is None or w.shape[0] == 0


def weighted_total(weighted_sum, weight_sum, n):
    """n times the weighted mean loss, from sum w_i l_i and sum w_i: what ``evaluate``
    returns for weighted samples (the trainer divides by n)."""
    return weighted_sum * n / weight_sum


def probabilities_from_logits(loss, z):
    """Class probabilities (n, n_classes), float64, from logits z (n, n_out): the softmax
    (cross-entropy, softmax_mse), [1 - p, p] with p = sigmoid(z) (bce), or the sigmoid of
    each output (multilabel)."""
    z = np.asarray(z, np.float64)
    if loss == "bce":
        p = 0.5 * (1.0 + np.tanh(0.5 * z[:, 0]))
        return np.stack([1 - p, p], axis=1)
    if loss == "multilabel":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class BackendBase:
    """What every backend inherits: one training at a time per backend (so per model), and
    the check a fit makes before it changes anything.

    :meth:`exclusive` holds the lock for a whole fit and refuses a second thread's fit of
    the same model at once with a clear error, instead of interleaving the two; a backend's
    ``train_epoch`` also holds it, so direct epoch calls from several threads run one after
    the other.
    """

    # Whether the backend has ``screened(params, X, probabilities, limit)``: the output and the
    # count of values of X that are not finite or beyond ``limit``, for X already in the model's
    # dtype and C order (``checks.ready_rows``), so that no separate pass checks them.
    screens = False

    def __init__(self):
        self._fit_lock = threading.RLock()

    @contextlib.contextmanager
    def exclusive(self):
        if not self._fit_lock.acquire(blocking=False):
            raise RuntimeError("this model is being trained by another thread; train a copy in each thread "
                               "(model.copy()) or wait for that fit to end")
        try:
            yield
        finally:
            self._fit_lock.release()

    def check_training(self, optimizer, batch_size, weighted=False, dropout=False):
        """Raise (ValueError) if this backend cannot train ``optimizer`` at ``batch_size``;
        the trainer asks before anything changes. Every optimizer trains here."""

    def count_flagged(self, X, limit):
        return None  # NumPy's passes in ``check_X`` are this backend's own way

    def needs_preparing(self, optimizer, data):
        return False

    def compiling_aside(self):
        """For how many seconds kernels have been compiling in threads beside the training (the numba backend's
        faster kernels for a shape, on a machine's first run), or 0.0 when none compile now."""
        return 0.0

    def prepare(self, params, state, optimizer, data):
        return None
