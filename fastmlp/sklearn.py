"""scikit-learn estimators over fastmlp: ``MLPClassifier`` and ``MLPRegressor``.

They follow scikit-learn's conventions (parameters stored unchanged, fitted
state in attributes ending in ``_``, ``validate_data`` input checks) and train
a ``fastmlp.MLP`` with ``MLP.fit`` (one compiled call per epoch on the numba
backend). Stopping works like ``sklearn.neural_network``: training ends when the
training loss (or, with ``early_stopping``, the validation score) has not
improved by ``tol`` for more than ``n_iter_no_change`` epochs, and a
``ConvergenceWarning`` is emitted when ``max_iter`` epochs run out first.

A ``fit`` or ``partial_fit`` checks every hyperparameter and the data before it
changes anything: one that raises leaves a fitted estimator exactly as it was
(weights, ``n_iter_``, ``loss_curve_``, ``n_features_in_`` ...). NaN and inf are
refused where scikit-learn refuses them: in X, in a regressor's y, and in the real
hyperparameters. Wrong types raise TypeError, wrong values ValueError
(``fastmlp.checks``).

``fit`` and ``partial_fit`` take ``sample_weight`` with scikit-learn's meaning (each
batch's loss is sum w_i l_i / sum w_i, and the L2 penalty is divided by the expected
batch weight, batch_size times the mean weight, which is sum w for a full batch:
integer weights act as repeated rows). ``MLPClassifier`` also takes ``class_weight``
('balanced' or {label: weight}) and multi-label targets (an (n, k) indicator matrix,
trained with a sigmoid per label, loss 'multilabel').

scikit-learn is an optional dependency: ``pip install fastmlp[sklearn]``.
"""
import copy
import warnings

import numpy as np

from scipy.special import log_softmax

try:
    from sklearn import neural_network as sklearn_nn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, is_multilabel
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as e:  # pragma: no cover - exercised in a subprocess without scikit-learn
    raise ImportError("fastmlp.sklearn needs scikit-learn (>= 1.6); install it with: "
                      "pip install fastmlp[sklearn]") from e

from .architecture import Architecture
from .backends import BACKEND_NAMES
from .callbacks import Callback
from .checks import (check_bool, check_choice, check_dtype, check_hidden_sizes, check_int, check_positive_float,
                     check_positive_int, check_real)
from .initializers import INIT_NAMES
from .model import MLP
from .optimizers import DEFAULTS as OPTIMIZER_DEFAULTS
from .optimizers import Optimizer
from .weights import fit_weights
from .sklearn_convert import from_sklearn, to_sklearn

__all__ = ["MLPClassifier", "MLPRegressor", "expected_failed_checks", "to_sklearn", "from_sklearn"]

# scikit-learn estimator checks known to fail, by estimator and dtype:
# {check name: reason}. scikit-learn >= 1.6 has no tag for this: pass
# ``expected_failed_checks(estimator)`` to ``check_estimator`` (or the function
# itself to ``parametrize_with_checks``). tests/test_sklearn_checks.py asserts
# that exactly the listed checks fail, so an entry whose check passes fails there.
_WEIGHTS_FLOAT32 = (
    "float32 training on weighted rows and on the same rows repeated sums the batch in another order "
    "and with other terms (w_i l_i once instead of l_i w_i times): predictions differ by about 3e-7 "
    "relative after 100 epochs, the check allows 1e-7. Equal to 1e-10 with dtype='float64' (the check passes).")
EXPECTED_FAILED_CHECKS = {
    "MLPClassifier": {
        "float32": {
            "check_methods_subset_invariance": (
                "float32 predict_proba of a single row can differ from that of the whole batch in the last "
                "bits (about 5e-7 relative): the whole batch's products are large enough for BLAS, a single "
                "row's run in fastmlp's own loops, which sum in another order; the check allows 1e-7. "
                "Exact with dtype='float64'."),
            "check_sample_weight_equivalence_on_dense_data": _WEIGHTS_FLOAT32,
        },
        "float64": {},
    },
    "MLPRegressor": {"float32": {"check_sample_weight_equivalence_on_dense_data": _WEIGHTS_FLOAT32},
                     "float64": {}},
}

# out_activation_ of a fitted estimator, by the fastmlp loss it trains
OUT_ACTIVATIONS = {"cross_entropy": "softmax", "multilabel": "logistic", "mse": "identity"}

_PARAMS_DOC = """
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Widths of the hidden layers; ``()`` gives no hidden layer.
    activation : str or sequence of str, default='relu'
        Hidden activation: 'identity', 'logistic' (= 'sigmoid'), 'tanh', 'relu',
        'leaky_relu'; one name for all hidden layers or one per layer.
    solver : {'adam', 'sgd', 'adamw', 'rmsprop', 'adagrad'}, default='adam'
        The fastmlp optimizer ('lbfgs' is not available: training is by mini-batches).
    alpha : float, default=1e-4
        L2 penalty as in scikit-learn: ``alpha / 2 * sum(W^2) / batch_size`` added to
        each batch's mean loss, ``alpha * W / batch_size`` to its gradient, weights only
        (not the biases); the optimizer's ``l2`` (see ``fastmlp.optimizers``).
    batch_size : int or 'auto', default='auto'
        Mini-batch size; 'auto' is ``min(200, n_samples)``; larger values are
        clipped to ``n_samples``.
    learning_rate_init : float, default=1e-3
        Constant learning rate.
    max_iter : int, default=200
        Most epochs per ``fit``.
    shuffle : bool, default=True
        Reshuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    tol : float, default=1e-4
        Smallest improvement of the loss (or validation score) that counts.
    verbose : bool, default=False
        Print one line per epoch.
    warm_start : bool, default=False
        ``fit`` continues from the fitted model (same architecture and classes)
        instead of starting anew.
    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1).
    nesterovs_momentum : bool, default=True
        Nesterov momentum for 'sgd' (when ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified for classifiers),
        stop when its score (accuracy or R^2) stops improving, and keep the
        weights of the best epoch. ``partial_fit`` ignores it.
    validation_fraction : float, default=0.1
        Held-out fraction for ``early_stopping``, in (0, 1).
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's moment decay rates, in [0, 1).
    epsilon : float, default=1e-8
        Numerical stability term of 'adam', 'rmsprop' and 'adagrad'.
    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement tolerated before stopping.
    init : str, default='auto'
        Weight initialisation (see ``fastmlp.MLP``).
    dtype : {'float32', 'float64'}, default='float32'
        Precision of the weights and of the computation.
    backend : {'numba', 'numpy', 'loop'}, default='numba'
        fastmlp implementation that computes (all give the same numbers).
"""

_ATTRS_DOC = """
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    model_ : fastmlp.MLP
        The trained network.
    loss_curve_ : list of float
        Mean training loss of each epoch, the L2 penalty included (as scikit-learn's).
    best_loss_ : float or None
        Lowest training loss seen (None with ``early_stopping``).
    validation_scores_ : list of float or None
        Validation score of each epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
    n_iter_ : int
        Epochs run (summed over ``warm_start`` fits and ``partial_fit`` calls).
    t_ : int
        Training samples seen.
    n_layers_ : int
        Layers including input and output.
    n_outputs_ : int
    out_activation_ : str
    coefs_, intercepts_ : list of ndarray
        Copies of the per-layer weights (n_in, n_out) and biases.
"""


def expected_failed_checks(estimator):
    """scikit-learn checks ``estimator`` is known to fail, as {check name: reason}.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor

    Returns
    -------
    dict
        For ``check_estimator(estimator, expected_failed_checks=...)`` or as the
        callable of ``parametrize_with_checks(..., expected_failed_checks=...)``.
    """
    try:
        dtype = np.dtype(estimator.dtype).name
    except TypeError:
        dtype = None
    kind = next((cls.__name__ for cls in (MLPClassifier, MLPRegressor) if isinstance(estimator, cls)), None)
    return dict(EXPECTED_FAILED_CHECKS.get(kind, {}).get(dtype, {}))


def _writable(a):
    """``a``, or a copy of it if it is read-only (the kernels would compile anew for read-only arrays)."""
    return a if a.flags.writeable else a.copy()


class _Monitor(Callback):
    """Per-epoch bookkeeping of one fit: loss curve, scores and the stopping rule
    (``validation`` is (X, y, sample_weight or None))."""

    def __init__(self, est, n_samples, validation, incremental):
        self.est, self.n_samples, self.validation, self.incremental = est, n_samples, validation, incremental
        self.count = 0

    def on_epoch_end(self, trainer, epoch, logs):
        est, model = self.est, trainer.model
        loss = float(logs["loss"])
        est.n_iter_ += 1
        est.t_ += self.n_samples
        est.loss_curve_.append(loss)
        if self.validation is not None:
            score = float(est._validation_score(model, *self.validation))
            est.validation_scores_.append(score)
            self.count = self.count + 1 if score < est.best_validation_score_ + est.tol else 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_params = model.params.copy()
        else:
            self.count = self.count + 1 if loss > est.best_loss_ - est.tol else 0
            est.best_loss_ = min(est.best_loss_, loss)
        return not self.incremental and self.count > est.n_iter_no_change

    def on_train_end(self, trainer):
        if self.validation is not None and self.est._best_params is not None:
            trainer.model.params[...] = self.est._best_params


class _BaseMLP(BaseEstimator):
    """Shared parameters, checks and training loop of the two estimators."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", solver="adam", alpha=1e-4, batch_size="auto",
                 learning_rate_init=1e-3, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 init="auto", dtype="float32", backend="numba"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.dtype = dtype
        self.backend = backend

    # -- fitted views ----------------------------------------------------------------------------
    @property
    def coefs_(self):
        """Copies of the per-layer weight matrices (n_in, n_out)."""
        return [w.copy() for w in self.model_.W]

    @property
    def intercepts_(self):
        """Copies of the per-layer bias vectors."""
        return [b.copy() for b in self.model_.b]

    def summary(self, print_fn=print):
        """The fitted network's ``MLP.summary()`` table: printed with ``print_fn`` (None prints
        nothing) and returned as text."""
        check_is_fitted(self)
        return self.model_.summary(print_fn)

    # -- checks ----------------------------------------------------------------------------------
    def _check_params(self):
        """Validate the hyperparameters; returns the hidden sizes and the numpy dtype."""
        hidden = check_hidden_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        try:
            check_choice(self.solver, "solver", sorted(OPTIMIZER_DEFAULTS))
        except ValueError as e:
            hint = " ('lbfgs' is not available: fastmlp trains by mini-batches)" if self.solver == "lbfgs" else ""
            raise ValueError(f"{e}{hint}") from None
        for name in ("max_iter", "n_iter_no_change"):
            check_positive_int(getattr(self, name), name)
        for name in ("tol", "alpha"):
            check_real(getattr(self, name), name, low=0)
        for name in ("learning_rate_init", "epsilon"):
            check_positive_float(getattr(self, name), name)
        check_real(self.validation_fraction, "validation_fraction", 0, 1, low_open=True, high_open=True)
        for name in ("momentum", "beta_1", "beta_2"):
            check_real(getattr(self, name), name, 0, 1, high_open=True)
        if isinstance(self.batch_size, str):
            check_choice(self.batch_size, "batch_size", ["auto"])
        else:
            check_positive_int(self.batch_size, "batch_size")
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            check_bool(getattr(self, name), name)
        if not isinstance(self.verbose, (bool, np.bool_)):
            check_int(self.verbose, "verbose", low=0)
        check_choice(self.backend, "backend", BACKEND_NAMES)
        check_choice(self.init, "init", INIT_NAMES)  # also checked when unused (warm_start, partial_fit)
        if self.random_state is not None and not isinstance(self.random_state, np.random.RandomState):
            check_int(self.random_state, "random_state", 0, 2**32 - 1)
        return hidden, check_dtype(self.dtype)

    def _optimizer(self, mean_weight=1.0):
        """The optimizer; the L2 penalty alpha / 2 ||W||^2 is divided by each batch's size in the
        update, as scikit-learn's, and with sample weights also by their mean: by the batch's
        expected weight sum (scikit-learn divides by the batch's sum of weights; the same in
        full-batch training)."""
        hyper = {"l2": float(self.alpha) / mean_weight}
        if self.solver == "sgd":
            hyper.update(momentum=float(self.momentum), nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        else:
            hyper["eps"] = float(self.epsilon)
        if self.solver in ("adam", "adamw"):
            hyper.update(beta1=float(self.beta_1), beta2=float(self.beta_2))
        return Optimizer(self.solver, **hyper)

    def _validate_data(self, X, y, first, dtype, **kw):
        """``validate_data`` of (X, y), without touching this estimator: on a first fit it records
        ``n_features_in_`` (and ``feature_names_in_``) on a copy; returns X, y and those attributes,
        to be set once every check has passed."""
        probe = copy.copy(self)
        X, y = validate_data(probe, X, y, reset=first, dtype=dtype, order="C", **kw)
        seen = {k: v for k, v in vars(probe).items() if k in ("n_features_in_", "feature_names_in_")}
        return X, y, seen if first else {}

    def _fitted_model(self, X):
        """The fitted model and X validated for it (feature count and names checked)."""
        check_is_fitted(self)
        return self.model_, _writable(validate_data(self, X, reset=False, dtype=self.model_.dtype, order="C"))

    def _class_weight(self, classes, loss):
        """``class_weight`` for ``MLP.fit`` (the classifier has one)."""
        return None

    # -- training --------------------------------------------------------------------------------
    def _start(self, model, early):
        """The fitted state of a model new to this estimator (nothing trained here yet)."""
        self.model_ = model
        self.n_iter_, self.t_, self.loss_curve_ = 0, 0, []
        self.n_layers_, self.n_outputs_ = len(model.layers), model.layers[-1]
        self.out_activation_ = OUT_ACTIVATIONS[model.loss]
        self._best_params = None
        self.best_loss_ = None if early else np.inf
        self.validation_scores_ = [] if early else None
        self.best_validation_score_ = -np.inf if early else None

    @classmethod
    def from_sklearn(cls, estimator, backend="numba"):
        """A fitted estimator of this class carrying the weights of a fitted scikit-learn one.

        Its predictions equal the scikit-learn estimator's (to float rounding); the
        hyperparameters both have are copied (a solver fastmlp lacks, 'lbfgs', gives
        the default), ``dtype`` is that of its ``coefs_``. ``fit`` with ``warm_start=True``
        and ``partial_fit`` continue from these weights. See ``fastmlp.sklearn.from_sklearn``
        for what converts.

        Parameters
        ----------
        estimator : fitted sklearn.neural_network.MLPClassifier (for MLPClassifier)
            or MLPRegressor (for MLPRegressor)
        backend : {'numba', 'numpy', 'loop'}, default 'numba'
        """
        kind = "MLPClassifier" if cls._loss == "cross_entropy" else "MLPRegressor"
        if not isinstance(estimator, getattr(sklearn_nn, kind)):
            raise TypeError(f"{cls.__name__}.from_sklearn takes a scikit-learn {kind}; got {type(estimator).__name__}")
        model = from_sklearn(estimator, backend=backend, binary="cross_entropy")
        if model.loss != cls._loss and not (kind == "MLPClassifier" and model.loss == "multilabel"):
            raise ValueError(f"cannot convert this {kind} (loss {model.loss!r}) to fastmlp.sklearn.{cls.__name__}, "
                             f"whose loss is {cls._loss!r}; use fastmlp.sklearn.from_sklearn for a fastmlp.MLP")
        ours = cls().get_params()
        params = {k: v for k, v in estimator.get_params().items() if k in ours}
        if params.get("solver") not in OPTIMIZER_DEFAULTS:
            params.pop("solver", None)
        est = cls(**params, dtype=np.dtype(model.dtype).name, backend=backend)
        est._start(model, early=False)
        est._random_state = check_random_state(est.random_state)
        est.n_features_in_ = model.layers[0]
        if hasattr(estimator, "feature_names_in_"):
            est.feature_names_in_ = estimator.feature_names_in_.copy()
        est._targets_from(estimator)
        return est

    def _fit(self, X, y, incremental, classes=None, sample_weight=None):
        hidden, dtype = self._check_params()
        first = not hasattr(self, "model_") or not (self.warm_start or incremental)
        X, y, n_out, fitted, loss = self._prepare(X, y, first, incremental, classes, dtype)  # loss: of this y
        X, y = _writable(X), _writable(y)
        class_weight = self._class_weight(fitted.get("classes_", getattr(self, "classes_", None)), loss)
        layers = (X.shape[1], *hidden, n_out)
        # a warm start draws from a copy of the fitted random state, kept only if the fit goes ahead
        rs = check_random_state(self.random_state) if first else copy.deepcopy(self._random_state)
        if first:
            model = MLP(layers, activation=self.activation, loss=loss, init=self.init, dtype=dtype,
                        backend=self.backend, seed=rs.randint(np.iinfo(np.int32).max))
        else:
            model = self.model_
            if (model.layers != layers or model.dtype != dtype or model.loss != loss
                    or model.activation != Architecture.build(layers, self.activation, loss).activation):
                raise ValueError(
                    f"cannot continue training ({'partial_fit' if incremental else 'warm_start'}): the fitted "
                    f"model has layers {list(model.layers)}, activation {list(model.activation)}, dtype "
                    f"{np.dtype(model.dtype).name}; the parameters now ask for layers {list(layers)}, activation "
                    f"{self.activation!r}, dtype {np.dtype(dtype).name}. Refit with warm_start=False")
        model.arch.trainable()
        # sample_weight times the class weights: None when unweighted (or all equal)
        sw = fit_weights(model.arch, *((y, y[:0]) if y.ndim == 1 else (np.zeros(0, np.int64), y)), sample_weight,
                         class_weight)
        sw = sw if sw.size else None
        batch_size = min(200 if self.batch_size == "auto" else int(self.batch_size), X.shape[0])
        mean_weight = 1.0 if sw is None else float(sw.astype(np.float64).mean())
        optimizer = self._optimizer(mean_weight)
        validation = None
        if self.early_stopping and not incremental:
            stratify = y if loss in ("cross_entropy", "softmax_mse") else None
            n_val = int(np.ceil(self.validation_fraction * X.shape[0]))
            need = max(2, len(np.unique(y)) if stratify is not None else 2)
            if n_val < need or X.shape[0] - n_val < need // 2 + 1:
                raise ValueError(f"early_stopping=True: the validation set of {n_val} sample(s) (validation_fraction="
                                 f"{self.validation_fraction} of {X.shape[0]}) is too small; it needs at least {need}"
                                 + (" (one per class)" if stratify is not None else "")
                                 + ": increase validation_fraction or the number of samples")
            if sw is None:
                X, Xv, y, yv = train_test_split(X, y, test_size=self.validation_fraction, random_state=rs,
                                                stratify=stratify)
                swv = None
            else:
                X, Xv, y, yv, sw, swv = train_test_split(X, y, sw, test_size=self.validation_fraction,
                                                         random_state=rs, stratify=stratify)
                if not (sw > 0).any():
                    raise ValueError("early_stopping=True left only samples of weight 0 to train on")
                mean_weight = float(sw.astype(np.float64).mean())
            validation = (Xv, yv, swv)
            batch_size = min(batch_size, X.shape[0])
            optimizer = self._optimizer(mean_weight)
        # every check passed: from here on the estimator changes
        if first:
            self.__dict__.pop("feature_names_in_", None)  # fitted before on named columns, now on an array
        for k, v in fitted.items():
            setattr(self, k, v)
        self._random_state = rs
        if first:
            self._start(model, early=self.early_stopping and not incremental)
        if model.backend != self.backend:
            model.backend = self.backend
        if validation is not None and self.validation_scores_ is None:  # early stopping turned on for a warm start
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
        if validation is None and self.best_loss_ is None:  # early stopping turned off for a warm start
            self.best_loss_ = np.inf
        monitor = _Monitor(self, X.shape[0], validation, incremental)
        history = model.fit(X, y, epochs=1 if incremental else self.max_iter, batch_size=batch_size,
                            lr=float(self.learning_rate_init), optimizer=optimizer, shuffle=bool(self.shuffle),
                            callbacks=[monitor], verbose=2 if self.verbose else 0,
                            seed=rs.randint(np.iinfo(np.int32).max), sample_weight=sw)
        if not incremental and not history.stopped_early and not history.diverged and not history.interrupted:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        return self


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron classifier trained by fastmlp (softmax + cross-entropy).

    Any class labels (strings, non-contiguous integers) are accepted; binary
    problems use two softmax outputs, so ``predict_proba`` is (n, 2). A multi-label
    y (an (n, k) indicator matrix of 0/1, as scikit-learn's MLPClassifier takes) trains
    a sigmoid per label (fastmlp's loss 'multilabel'): ``predict`` then returns the
    (n, k) indicator matrix and ``predict_proba`` each label's probability.

    Parameters
    ----------{_PARAMS_DOC}
    class_weight : dict {{label: weight}}, 'balanced' or None, default=None
        Weights of the classes, multiplying ``sample_weight``: 'balanced' is
        n_samples / (n_classes * count of the class), as in scikit-learn's other
        classifiers; classes missing from a dict weigh 1. Not for multi-label y.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
        The sorted class labels (0..k-1 for a multi-label y).{_ATTRS_DOC}"""

    _loss = "cross_entropy"  # of class labels; a multi-label y trains 'multilabel'

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", solver="adam", alpha=1e-4, batch_size="auto",
                 learning_rate_init=1e-3, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 init="auto", dtype="float32", backend="numba", class_weight=None):
        super().__init__(hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate_init, max_iter,
                         shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
                         validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, init, dtype, backend)
        self.class_weight = class_weight

    def _prepare(self, X, y, first, incremental, classes, dtype):
        if is_multilabel(y):
            return self._prepare_multilabel(X, y, first, dtype)
        X, y, seen = self._validate_data(X, y, first, dtype=dtype)
        check_classification_targets(y)
        if first:
            if incremental and classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            known = np.unique(classes if incremental else y)
            if len(known) < 2:
                raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; got 1 class "
                                 f"({known[0]!r})" if len(known) else "classes is empty")
        else:
            known = self.classes_
            if incremental and classes is not None and not np.array_equal(np.unique(classes), known):
                raise ValueError(f"classes={np.unique(classes)!r} differs from the classes of the earlier calls, "
                                 f"{known!r}")
            if not incremental and not np.array_equal(np.unique(y), known):
                raise ValueError(f"warm_start can only be used where y has the same classes as in the previous "
                                 f"call to fit: previously {known!r}, y has {np.unique(y)!r}")
        ids = np.searchsorted(known, y)
        bad = (ids >= len(known)) | (known[np.minimum(ids, len(known) - 1)] != y)
        if bad.any():
            raise ValueError(f"y contains labels not in classes {known!r}: {np.unique(y[bad])!r}")
        return X, ids.astype(np.int64), len(known), dict(seen, classes_=known) if first else {}, self._loss

    def _prepare_multilabel(self, X, y, first, dtype):
        """A multi-label indicator y (n, k): targets (n, k) of 0/1 for the loss 'multilabel'."""
        X, y, seen = self._validate_data(X, y, first, dtype=dtype, multi_output=True)
        k = y.shape[1]
        if not first and len(self.classes_) != k:
            raise ValueError(f"y has {k} labels; the fitted model has {len(self.classes_)}")
        return X, np.ascontiguousarray(y, dtype=dtype), k, dict(seen, classes_=np.arange(k)) if first else {}, \
            "multilabel"

    def _targets_from(self, estimator):
        """The targets' fitted state from a scikit-learn estimator (``from_sklearn``)."""
        self.classes_ = estimator.classes_.copy()

    def _class_weight(self, classes, loss):
        """``class_weight`` for ``MLP.fit``: None, 'balanced' or {class id: weight} (labels mapped to ids)."""
        cw = self.class_weight
        if cw is None:
            return None
        if loss == "multilabel":
            raise ValueError("class_weight is not supported for multi-label y: use sample_weight")
        if isinstance(cw, str):
            return check_choice(cw, "class_weight", ["balanced"])
        if not isinstance(cw, dict):
            raise TypeError(f"class_weight must be 'balanced', a dict {{label: weight}} or None; got {cw!r}")
        ids = {}
        for label, weight in cw.items():
            pos = np.flatnonzero(classes == label)
            if not pos.size:
                raise ValueError(f"class_weight names the label {label!r}, which is not one of the classes "
                                 f"{classes!r}")
            ids[int(pos[0])] = weight
        return ids

    def _validation_score(self, model, X, y, sample_weight):
        pred = model.predict(X)
        right = (pred == y).all(axis=1) if pred.ndim == 2 else pred == y
        return np.average(right, weights=sample_weight)

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y); returns self.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
        y : array-like (n_samples,) or (n_samples, n_labels)
            Class labels of any kind numpy can sort, or a multi-label indicator matrix of 0/1.
        sample_weight : array-like (n_samples,), optional
            Weights >= 0: each batch's loss is sum w_i l_i / sum w_i.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the fitted state; returns self.

        Parameters
        ----------
        X, y, sample_weight : as for ``fit``
        classes : array-like, optional
            All the classes; required on the first call (unless y is multi-label).
        """
        return self._fit(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in ``classes_`` order; for a
        multi-label fit, each label's probability (rows need not sum to 1)."""
        model, X = self._fitted_model(X)
        return model.predict_proba(X)

    def predict_log_proba(self, X):
        """Log of ``predict_proba``, computed stably from the logits."""
        model, X = self._fitted_model(X)
        z = model.forward(X).astype(np.float64)
        if model.loss == "multilabel":
            return -np.logaddexp(0.0, -z)  # log sigmoid(z)
        return log_softmax(z, axis=1)

    def predict(self, X):
        """The most probable class label of each sample; for a multi-label fit the (n, k)
        indicator matrix of the labels whose probability exceeds 1/2."""
        model, X = self._fitted_model(X)
        if model.loss == "multilabel":
            return model.predict(X)
        return self.classes_[model.forward(X).argmax(axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron regressor trained by fastmlp (identity output, mean squared error).

    Multi-output targets (n, k) are supported; a 1-D y gives 1-D predictions.
    The loss is the mean of squared errors over all outputs (no factor 1/2).

    Parameters
    ----------{_PARAMS_DOC}
    Attributes
    ----------{_ATTRS_DOC}"""

    _loss = "mse"

    def _prepare(self, X, y, first, incremental, classes, dtype):
        X, y, seen = self._validate_data(X, y, first, dtype=dtype, multi_output=True, y_numeric=True)
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        if not first and y2.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y2.shape[1]} outputs; the fitted model has {self.n_outputs_}")
        return X, y2, y2.shape[1], dict(seen, _y_1d=y.ndim == 1) if first else {}, self._loss

    def _validation_score(self, model, X, y, sample_weight):
        return r2_score(y, model.forward(X).astype(np.float64), sample_weight=sample_weight)

    def _targets_from(self, estimator):
        """The targets' fitted state from a scikit-learn estimator (``from_sklearn``): one output
        predicts (n,), as scikit-learn's."""
        self._y_1d = estimator.n_outputs_ == 1

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y); returns self.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
        y : array-like (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like (n_samples,), optional
            Weights >= 0: each batch's loss is sum w_i l_i / sum w_i.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the fitted state; returns self."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X):
        """Predicted values, (n_samples,) if fitted on a 1-D y, else (n_samples, n_outputs)."""
        model, X = self._fitted_model(X)
        z = model.forward(X).astype(np.float64)
        return z.ravel() if self._y_1d else z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
