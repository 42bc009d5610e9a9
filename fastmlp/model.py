"""The MLP model: parameters in one flat buffer, computed by one of three interchangeable backends.

The model owns its parameters, optimizer state and history; its ``engine`` (a backend of
``fastmlp.backends``) owns every scratch buffer and computes. ``predict`` and ``forward``
ask the engine for the last layer's output only.
"""
import numpy as np

from . import buffers, modelfile
from .aliases import ParamsAliases
from .architecture import Architecture
from .backends import make_backend
from .history import History
from .initializers import initialize
from .optimizers import Optimizer
from .checks import (UNSCALED_LIMIT, check_callable, check_dropout, check_int, check_sample_weight, check_targets,
                     check_X, ready_rows)
from .dropout import Dropout
from .summary import summary_text


def _finite_as(value, dtype, name):
    """``value`` cast to ``dtype``, refused if not real or non-finite after the cast (e.g. 1e39 in float32)."""
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real numbers; got dtype {value.dtype}")
    with np.errstate(over="ignore"):
        cast = value.astype(dtype)
    if not np.isfinite(cast).all():
        raise ValueError(f"{name} contains NaN or inf (or values too large for {np.dtype(dtype).name})")
    return cast


class MLP:
    """A multi-layer perceptron.

    Parameters
    ----------
    layers : sequence of int
        ``[n_in, h1, ..., n_out]``.
    activation : str or sequence of str, default 'relu'
        Hidden activation, for all hidden layers or one per hidden layer:
        'identity', 'tanh', 'sigmoid', 'relu', 'leaky_relu', 'step' (forward only).
    loss : {'cross_entropy', 'mse', 'bce', 'multilabel', 'softmax_mse'}, default 'cross_entropy'
        Output and loss together: softmax + cross-entropy (classes), identity +
        mean squared error (regression), sigmoid + binary cross-entropy (one unit),
        a sigmoid + binary cross-entropy per output unit averaged over the units
        (multi-label: targets (n, n_out) of 0/1; alias 'sigmoid_cross_entropy'),
        softmax + mean squared error to the one-hot target (classes; alias
        'softmax_squared_error').
    init : str or list of str, default 'auto'
        'normal' (``init_std``), 'uniform' (``init_bound``), 'fan_max' (variance
        1/max(n_in, n_out)), 'lecun_normal', 'lecun_uniform', 'glorot_normal',
        'glorot_uniform', 'he_normal', 'he_uniform', their fan_out twins
        'lecun_normal_fan_out', 'lecun_uniform_fan_out', 'he_normal_fan_out',
        'he_uniform_fan_out' (variance over n_out, torch's ``mode='fan_out'``),
        'torch' (PyTorch's nn.Linear default: U(+-1/sqrt(n_in)) for W and b),
        'zeros' ('xavier_*', 'kaiming_*', 'lecun' and 'pytorch' are aliases);
        'auto' is He normal after relu-like layers and Glorot uniform otherwise.
        A list gives one name per weight layer (``len(layers) - 1``).
    init_std, init_bound : float, optional
        Standard deviation of 'normal', bound of 'uniform'.
    bias_init : float, str or None, default None
        A constant, or an init name to draw the biases with; None lets each
        layer's init decide: 'torch' draws them as nn.Linear, the others start at 0.
    leaky_slope : float, default 0.01
        Slope of 'leaky_relu' below zero.
    dtype : {'float32', 'float64'}, default 'float32'
    backend : {'numba', 'numpy', 'loop'}, default 'numba'
        Which implementation computes; all give the same numbers.
    seed : int, numpy Generator or None
        Makes the initial weights reproducible, and the shuffling (and dropout masks)
        of every ``fit`` that is given no seed of its own (as scikit-learn's random_state).
    dropout : float or sequence of float, default 0.0
        Inverted dropout on the hidden layers' outputs in training: each unit is dropped
        with this probability in [0, 1) and the kept ones scaled by 1 / (1 - p); one rate
        for all hidden layers or one per hidden layer. Prediction, ``evaluate`` and
        validation never drop (nor ``loss_and_grad`` unless asked). The masks come from
        the fit's seed and are the same in every backend.

    Attributes
    ----------
    params : ndarray (n_params,)
        Every weight and bias, layer by layer: W (n_in, n_out) row-major, then b.
    W, b : list of ndarray
        Per-layer views into ``params``: ``W[l]`` is (n_in, n_out), so a layer
        computes ``z = x @ W[l] + b[l]``. Writing into them sets the weights.
    """

    def __init__(self, layers, activation="relu", loss="cross_entropy", init="auto", init_std=None,
                 init_bound=None, bias_init=None, leaky_slope=0.01, dtype="float32", backend="numba", seed=None,
                 dropout=0.0):
        self.arch = Architecture.build(layers, activation, loss, leaky_slope, dtype)
        self._dropout = check_dropout(dropout, self.arch.n_layers - 1)
        self._impl = make_backend(backend, self.arch)
        self._backend = backend
        self._params = buffers.zeros(self.arch.n_params, self.arch.dtype)
        initialize(self.arch, self._params, init, seed, init_std, init_bound, bias_init)
        self._aliases = ParamsAliases(self._params)  # ``params`` hands out arrays over it, watched
        self.init = init if isinstance(init, str) else list(init)
        self.seed = seed
        self.history = None
        self.optimizer_state = None

    # -- structure -------------------------------------------------------------------------------
    layers = property(lambda self: self.arch.layers)
    activation = property(lambda self: self.arch.activation)
    loss = property(lambda self: self.arch.loss)
    dtype = property(lambda self: self.arch.dtype)
    n_params = property(lambda self: self.arch.n_params)

    @property
    def params(self):
        """Every weight and bias in one flat buffer (see the class docstring); write into it,
        or assign an array of the same shape (validated and copied in, as ``set_params``). (An array over the
        model's buffer: the same while it lives; ``fastmlp.aliases`` tells why.)"""
        return self._aliases.array()

    @params.setter
    def params(self, flat):
        self.set_params(flat)

    W = property(lambda self: [w for w, _ in self.arch.split(self.params)])
    b = property(lambda self: [b for _, b in self.arch.split(self.params)])

    @property
    def dropout(self):
        """The dropout rate of each hidden layer in training (a tuple); assign one rate or one
        per hidden layer (validated)."""
        return self._dropout

    @dropout.setter
    def dropout(self, rates):
        self._dropout = check_dropout(rates, self.arch.n_layers - 1)

    @property
    def backend(self):
        """Name of the implementation in use; assign another name to switch (weights stay)."""
        return self._backend

    @backend.setter
    def backend(self, name):
        self._impl = make_backend(name, self.arch)
        self._backend = name

    @property
    def engine(self):
        """The backend object computing for this model (``fastmlp.backends.Backend``); e.g.
        ``model.engine.epoch_kernel = 'generic'`` picks the numba backend's epoch kernel."""
        return self._impl

    def __repr__(self):
        rates = self.dropout
        drop = "" if not any(rates) else f", dropout={rates[0] if len(set(rates)) == 1 else list(rates)}"
        return (f"MLP(layers={list(self.layers)}, activation={list(self.activation)}, loss={self.loss!r}{drop}, "
                f"dtype={np.dtype(self.dtype).name}, backend={self.backend!r})")

    def summary(self, print_fn=print):
        """A Keras-like table of the layers (input and output shapes, activation, weights,
        biases and parameter count per layer), the total, the loss, dtype, backend and
        optimizer state; printed with ``print_fn`` (None prints nothing) and returned as text."""
        text = summary_text(self)
        if print_fn is not None:
            check_callable(print_fn, "print_fn", "a function of one str, or None")(text)
        return text

    def split(self, flat):
        """Per-layer ``(W, b)`` views of a flat vector laid out like ``params`` (e.g. gradients)."""
        flat = np.asarray(flat)
        if flat.shape != (self.n_params,):
            raise ValueError(f"flat vector must have shape ({self.n_params},); got {flat.shape}")
        return self.arch.split(flat)

    def set_params(self, flat):
        """Replace every parameter from a flat vector (validated first)."""
        flat = np.asarray(flat)
        if flat.shape != (self.n_params,):
            raise ValueError(f"params must have shape ({self.n_params},); got {flat.shape}")
        flat = _finite_as(flat, self.dtype, "params")
        self.params[...] = flat

    def set_layer(self, l, W=None, b=None):
        """Set layer ``l``'s weights (n_in, n_out) and/or biases (n_out,), validated first."""
        L = self.arch.n_layers
        l = check_int(l, "layer index")
        if not -L <= l < L:
            raise IndexError(f"layer index must be in [{-L}, {L - 1}] ({L} weight layers); got {l}")
        Wv, bv = self.arch.split(self.params)[l]
        new = []
        for name, value, view in (("W", W, Wv), ("b", b, bv)):
            if value is None:
                continue
            value = np.asarray(value)
            if value.shape != view.shape:
                raise ValueError(f"{name} for layer {l} must have shape {view.shape}; got {value.shape}")
            new.append((view, _finite_as(value, self.dtype, f"{name} for layer {l}")))
        for view, value in new:
            view[...] = value

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_impl"], state["_aliases"]  # workspace buffers, the arrays handed out: rebuilt on load
        return state

    def __setstate__(self, state):
        """Every buffer a fresh writable array, even after a read-only (joblib mmap) load:
        the kernels write into them, and read-only arrays would compile separately."""
        if "params" in state:  # pickled by fastmlp 0.1
            state["_params"] = state.pop("params")
        self.__dict__.update(state)
        self.__dict__.setdefault("seed", None)  # pickled by fastmlp 0.1
        self.__dict__.setdefault("_dropout", (0.0,) * (len(state["arch"].layers) - 2))  # pickled before dropout
        a = self.arch
        self.arch = Architecture.build(a.layers, a.activation, a.loss, a.leaky_slope, a.dtype)
        self._params = buffers.copy(self._params)
        self._aliases = ParamsAliases(self._params)
        if self.optimizer_state is not None:
            self.optimizer_state = self.optimizer_state.copy()
        self._impl = make_backend(self._backend, self.arch)

    def copy(self):
        """An independent model with the same architecture, backend, weights, optimizer state
        and history (nothing shared: fitting the copy leaves this model as it is)."""
        other = object.__new__(MLP)
        other.__dict__.update(self.__dict__)
        other._params = buffers.copy(self._params)
        other._aliases = ParamsAliases(other._params)
        other._impl = make_backend(self.backend, self.arch)
        other.optimizer_state = None if self.optimizer_state is None else self.optimizer_state.copy()
        other.history = None if self.history is None else History.from_dict(self.history.to_dict())
        return other

    # -- computing -------------------------------------------------------------------------------
    def _X(self, X, name="X"):
        return check_X(X, self.arch.n_in, self.arch.dtype, name)

    def layer_outputs(self, X):
        """Every layer's output for X, a list of (n, n_l) arrays; the last are the logits."""
        return self._impl.layer_outputs(self._params, self._X(X))

    def forward(self, X):
        """The network's output before the loss's link: logits (classifiers) or values (mse)."""
        return self._infer(X, False)

    def _infer(self, X, probabilities):
        """The output (``probabilities``: the class probabilities) for X, checked as ``check_X``
        checks it. An X already in the model's form (``ready_rows``) goes straight to a backend
        that ``screens`` its values while computing: only when some are not finite or unscaled
        does ``check_X`` look at it (and refuse or warn, with its messages)."""
        impl, arch = self._impl, self.arch
        if impl.screens and ready_rows(X, arch.n_in, arch.dtype):
            out, flagged = impl.screened(self._params, X, probabilities, UNSCALED_LIMIT, self._aliases)
            if flagged:
                self._X(X)
            return out
        X = self._X(X)
        return impl.probabilities(self._params, X) if probabilities else impl.output(self._params, X)

    def predict_proba(self, X):
        """Class probabilities (n, n_classes): softmax of the logits, [1-p, p] for 'bce', each
        label's sigmoid (n, n_out) for 'multilabel' (rows need not sum to 1)."""
        if not self.arch.is_classifier:
            raise ValueError("predict_proba needs a classifier (loss 'cross_entropy', 'softmax_mse', 'bce' or "
                             "'multilabel'); this model uses 'mse'")
        return self._infer(X, True)

    def predict(self, X):
        """Class ids (n,) for classifiers; the 0/1 indicator matrix (n, n_out) for 'multilabel';
        predicted values (n, n_out) for 'mse'."""
        z = self.forward(X)
        if self.arch.takes_class_ids:
            return z.argmax(axis=1)
        if self.loss == "bce":
            return (z[:, 0] > 0).astype(np.int64)
        if self.loss == "multilabel":
            return (z > 0).astype(np.int64)
        return z

    def _data(self, X, y):
        X = check_X(X, self.arch.n_in, self.arch.dtype, count=self._impl.count_flagged)
        yi, t = check_targets(y, self.arch, X.shape[0])
        return X, yi, t

    def loss_and_grad(self, X, y, sample_weight=None, dropout_seed=None, step=1):
        """Mean loss over the batch and its gradient, laid out like ``params``.

        Parameters
        ----------
        X : array (n, n_in)
        y : class ids (n,) or one-hot (n, n_classes) for 'cross_entropy' and 'softmax_mse';
            0/1 (n,) for 'bce'; 0/1 (n, n_out) for 'multilabel'; targets (n,) or
            (n, n_out) for 'mse'.
        sample_weight : array (n,) of float >= 0, optional
            The weighted mean sum w_i l_i / sum w_i instead of the mean.
        dropout_seed : int >= 0, optional
            With a seed (and a model with ``dropout``), the loss and gradient of the
            training forward: the dropout masks of update ``step`` of a ``fit`` with this
            seed (the batch's rows in order). None: the network as it predicts.
        step : int >= 1, default 1
            The update (1-based, as the optimizer counts them) whose masks are used.

        Returns
        -------
        loss : float
        grads : ndarray (n_params,)
            Use ``model.split(grads)`` for per-layer ``(dW, db)``.
        """
        self.arch.trainable()
        X, yi, t = self._data(X, y)
        w = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        dropout = None
        if dropout_seed is not None:
            dropout_seed = check_int(dropout_seed, "dropout_seed", low=0)
            step = check_int(step, "step", low=1)
            dropout = Dropout.from_seed(self.dropout, dropout_seed)
        grads = np.empty_like(self._params)
        loss, _ = self._impl.loss_and_grad(self._params, grads, X, yi, t, w, dropout, step)
        return float(loss), grads

    def evaluate(self, X, y, sample_weight=None):
        """``{'loss': mean loss, 'accuracy': fraction correct (NaN for 'mse')}``; the loss is
        the weighted mean with ``sample_weight`` (the accuracy stays unweighted). For
        'multilabel' a sample is correct when all its labels are."""
        X, yi, t = self._data(X, y)
        w = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        total, correct = self._impl.evaluate(self._params, X, yi, t, w)
        n = X.shape[0]
        return {"loss": total / n, "accuracy": correct / n if self.arch.is_classifier else float("nan")}

    # -- training and persistence ----------------------------------------------------------------
    def fit(self, X, y, epochs=10, batch_size=32, lr=0.01, optimizer="sgd", schedule=None, **kwargs):
        """Train in place; returns the run's History (also appended to ``model.history``).

        ``kwargs`` are ``Trainer.fit`` options (shuffle, drop_last, validation_data,
        validation_split, early_stopping, callbacks, verbose, seed, on_divergence,
        sample_weight, class_weight, sampling, dropout) and the optimizer's hyperparameters
        (momentum, nesterov, weight_decay, ..., and the penalties and clipping l2, l1,
        decoupled_weight_decay, clip_norm, clip_value).
        See ``fastmlp.Trainer``.
        """
        from .trainer import FIT_OPTIONS, Trainer
        fit_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in FIT_OPTIONS}
        trainer = Trainer(self, optimizer, lr, schedule, **kwargs)
        return trainer.fit(X, y, epochs, batch_size, **fit_kw)

    def save(self, path):
        """Save to ``path`` atomically (.npz, see ``fastmlp.modelfile``; the suffix is added when
        missing); returns the path written."""
        st = self.optimizer_state
        meta = {
            "layers": list(self.layers), "activation": list(self.activation), "loss": self.loss,
            "leaky_slope": self.arch.leaky_slope, "dtype": np.dtype(self.dtype).name, "backend": self.backend,
            "optimizer": None if st is None else {"name": st.name, "hyper": st.hyper},
            "optimizer_step": 0 if st is None else int(st.step),
            "history": None if self.history is None else self.history.to_dict(),
            "seed": self.seed if isinstance(self.seed, int) and not isinstance(self.seed, bool) else None,
            "dropout": list(self.dropout),
        }
        return modelfile.write(path, meta, self._params, None if st is None else st.values())

    def to_onnx(self, path, opset=None, classes=None):
        """Write this model as an ONNX file (atomically); returns the path written. Needs the
        ``onnx`` package (``pip install "fastmlp[onnx]"``); see ``fastmlp.onnx.export``."""
        from .onnx import export
        return export(self, path, opset, classes)

    @staticmethod
    def load(path):
        """Load a model saved by ``save`` (``.npz`` may be left out); every malformed file raises
        ``ModelFormatError`` naming the problem, before anything large is allocated."""
        f = modelfile.read(path)
        meta = f.meta
        try:
            model = MLP(meta["layers"], meta["activation"] or "identity", meta["loss"], init="zeros",
                        leaky_slope=meta["leaky_slope"], dtype=meta["dtype"], backend=meta["backend"],
                        dropout=meta.get("dropout"))  # absent in files written before dropout
            model.params[...] = f.params
            if f.slots is not None:
                optimizer = Optimizer(meta["optimizer"]["name"], **meta["optimizer"]["hyper"])
                model.optimizer_state = optimizer.new_state(model.n_params, model.dtype)
                model.optimizer_state.values()[...] = f.slots
                model.optimizer_state.step = meta["optimizer_step"]
            if meta["history"] is not None:
                model.history = History.from_dict(meta["history"])
            model.seed = meta.get("seed")
        except (KeyError, TypeError, ValueError) as e:
            raise modelfile.ModelFormatError(f"{path}: invalid model metadata: {e}") from None
        return model
