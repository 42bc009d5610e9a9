"""The trainer: epochs, the learning-rate schedule, validation, history, early stopping,
callbacks, divergence and Ctrl-C.

It does not know which backend computes: each epoch is one call of the model's
``engine.train_epoch`` (the ``Backend`` protocol of ``fastmlp.backends``), which the numba
backend runs as one compiled call and the numpy and loop backends batch by batch.
"""
import math
import numbers
import time
import warnings

import numpy as np

from . import buffers
from .backends import EpochResult, TrainingData
from .backends.numpy import evaluate as reference_evaluate
from .callbacks import EarlyStopping, make_callbacks
from .dropout import Dropout
from .history import History
from .optimizers import make_optimizer
from .progress import Progress, so_far
from .schedules import make_schedule
from .threads import one_blas_thread
from .weights import fit_weights
from .checks import (check_choice, check_dropout, check_positive_float, check_positive_int, check_real,
                     check_sample_weight, check_seed, check_targets, check_X, user_stacklevel)


FIT_OPTIONS = ("shuffle", "drop_last", "validation_data", "validation_split", "early_stopping", "callbacks",
               "verbose", "seed", "on_divergence", "divergence_factor", "sample_weight", "class_weight", "sampling",
               "dropout")
SAMPLINGS = ("epoch", "replacement")
# Rows of the training data whose loss before training is the reference of divergence_factor.
REFERENCE_ROWS = 64
# An epoch runs as compiled chunks of whole batches of about this many seconds each: between
# them the progress display advances and Ctrl-C is honoured, at no measurable cost.
CHUNK_SECONDS = 0.5
FIRST_CHUNK_SAMPLES = 256  # before any speed is measured (rounded to whole batches, at least one)


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the loss or the weights became non-finite."""


class DivergenceError(RuntimeError):
    """Raised instead of DivergenceWarning when ``on_divergence='raise'``."""


class Trainer:
    """Trains an MLP in place.

    Parameters
    ----------
    model : MLP
    optimizer : str or Optimizer, default 'sgd'
        'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad' (hyperparameters as keywords).
    lr : float, default 0.01
        Base learning rate.
    schedule : str or Schedule, optional
        'constant', 'step', 'exponential', 'inverse_time', 'cosine', 'warmup',
        'plateau', or a Schedule object (see ``fastmlp.schedules``). Each fit tells
        the schedule its epochs (``schedule.start``): 'cosine' without
        ``total_epochs`` decays over the fit's epochs.
    **optimizer_params
        Hyperparameters of the optimizer (momentum, nesterov, weight_decay, beta1, ...),
        and for every optimizer the penalties and clipping: l2 (scikit-learn's alpha), l1,
        decoupled_weight_decay, clip_norm, clip_value (see ``fastmlp.optimizers``; the
        reported training loss includes the penalties).

    The optimizer state lives in ``model.optimizer_state`` so a later fit with
    the same optimizer resumes it (and ``save`` keeps it).

    Attributes (for callbacks, during ``fit``)
    ------------------------------------------
    history : History
        This run's epochs so far.
    state : OptimizerState
        The optimizer state being trained (``model.optimizer_state`` once the fit ends).
    has_validation : bool
        Validation data was given (the ``val_*`` metrics are measured).
    """

    def __init__(self, model, optimizer="sgd", lr=0.01, schedule=None, **optimizer_params):
        self.model = model
        self.optimizer = make_optimizer(optimizer, **optimizer_params)
        self.lr = check_positive_float(lr, "lr")
        self.schedule = make_schedule(schedule)
        self.history = None
        self.state = None
        self.has_validation = False
        self.stop_training = False

    # -- state ---------------------------------------------------------------------------------
    def _state(self):
        """The model's optimizer state when it belongs to this optimizer, else a fresh one."""
        st = self.model.optimizer_state
        arch = self.model.arch
        if st is None or not st.fits(self.optimizer, arch.n_params, arch.dtype):
            st = self.optimizer.new_state(arch.n_params, arch.dtype)
        return st

    # -- input checks (nothing changes until all pass) ------------------------------------------
    def _check(self, X, y, epochs, batch_size, validation_data, validation_split, drop_last, verbose,
               on_divergence, seed, divergence_factor, sample_weight=None, class_weight=None, shuffle=True,
               sampling="epoch", dropout=None):
        model = self.model
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        check_choice(int(verbose) if isinstance(verbose, bool) else verbose, "verbose", (0, 1, 2))
        check_choice(on_divergence, "on_divergence", ("warn", "raise"))
        if divergence_factor is not None:
            check_real(divergence_factor, "divergence_factor", low=1.0, low_open=True)
        model.arch.trainable()
        X = check_X(X, model.arch.n_in, model.arch.dtype, count=model.engine.count_flagged)
        yi, t = check_targets(y, model.arch, X.shape[0])
        w = fit_weights(model.arch, yi, t, sample_weight, class_weight)
        check_choice(sampling, "sampling", SAMPLINGS)
        if sampling == "replacement" and not shuffle:
            raise ValueError("shuffle=False keeps the given order, sampling='replacement' draws samples at random: "
                             "give one of them")
        if validation_data is not None and validation_split is not None:
            raise ValueError("give validation_data or validation_split, not both")
        if validation_split is not None:
            check_real(validation_split, "validation_split", low=0.0, high=1.0, low_open=True, high_open=True)
            (X, yi, t, w), val = _split(X, yi, t, w, validation_split, model.arch.is_classifier)
            if w.size and not (w > 0).any():
                raise ValueError("validation_split left only samples of weight 0 to train on")
            if val[3].size and not (val[3] > 0).any():
                val = val[:3] + (np.zeros(0, w.dtype),)  # held-out rows of weight 0 only: their plain mean
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a pair (X_val, y_val) or a triple (X_val, y_val, "
                                 "sample_weight_val)")
            Xv = check_X(validation_data[0], model.arch.n_in, model.arch.dtype, "validation X",
                         count=model.engine.count_flagged)
            yv, tv = check_targets(validation_data[1], model.arch, Xv.shape[0], name="validation y")
            wv = check_sample_weight(validation_data[2] if len(validation_data) == 3 else None, Xv.shape[0],
                                     model.arch.dtype, "validation sample_weight")
            if model.arch.takes_class_ids:
                unseen = np.setdiff1d(yv, yi)
                if unseen.size:
                    raise ValueError(f"validation labels {unseen.tolist()} do not occur in the training labels")
            val = (Xv, yv, tv, wv)
        else:
            val = None
        check_seed(seed)
        if drop_last and batch_size > X.shape[0]:
            raise ValueError(f"batch_size {batch_size} exceeds the {X.shape[0]} training samples: "
                             "with drop_last=True no batch would be left")
        batch_size = min(batch_size, X.shape[0])  # a larger batch is the full batch
        rates = model.dropout if dropout is None else check_dropout(dropout, model.arch.n_layers - 1)
        model.engine.check_training(self.optimizer, batch_size, weighted=w.size > 0, dropout=any(rates))
        return X, yi, t, w, epochs, batch_size, val, rates

    # -- training ------------------------------------------------------------------------------
    def fit(self, X, y, epochs=10, batch_size=32, shuffle=True, drop_last=False, validation_data=None,
            validation_split=None, early_stopping=None, callbacks=None, verbose=1, seed=None,
            on_divergence="warn", divergence_factor=1e4, sample_weight=None, class_weight=None, sampling="epoch",
            dropout=None):
        """Train for ``epochs`` epochs of mini-batches; returns this run's History.

        Parameters
        ----------
        X, y : training data (as for ``MLP.loss_and_grad``).
        epochs, batch_size : positive int
            batch_size 1 is online SGD; ``len(X)`` is full-batch gradient descent.
        shuffle : bool
            Reshuffle each epoch (seeded by ``seed``); else keep the given order.
        drop_last : bool
            Skip the last partial batch of each epoch (by default it is used).
        validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            The validation loss is the plain mean, or the weighted mean when weights are given.
        validation_split : float in (0, 1), optional
            Hold out this fraction of (X, y) (stratified for classifiers), with its weights.
        early_stopping : EarlyStopping or int, optional
            An int is the patience with monitor 'val_loss' (or 'loss' without
            validation) and restore of the best weights.
        callbacks : list of Callback or functions ``f(epoch, logs) -> stop?``
        verbose : 0, 1 or 2
            Quiet, progress bar on a terminal (lines otherwise), always lines.
        seed : int >= 0, Generator or None
            Shuffling order. With an int, epoch ``e`` (counted over the
            model's history) gets the same order in every run, so fitting
            2 epochs then 2 more equals fitting 4. None takes the model's
            seed (``MLP(seed=...)``, as scikit-learn's random_state governs
            both), and draws one when the model has none either.
        on_divergence : {'warn', 'raise'}
            When training diverges (below), it stops and the weights go back to
            the end of the last good epoch; then warn, or raise DivergenceError.
        divergence_factor : float > 1 or None, default 1e4
            Training diverges when the loss or the weights become non-finite,
            or when an epoch's mean loss exceeds this many times the loss before
            training (on the first 64 training rows): a finite blow-up. None
            counts only non-finite values.
        sample_weight : array (n,) of float >= 0, optional
            Each batch's loss is sum_i w_i l_i / sum_i w_i (scikit-learn's convention), so
            integer weights act as repeated rows in full-batch training, and weights
            only matter relative to the others in the same batch (at batch_size 1 only
            zero weights change anything). A batch whose weights sum to 0 is skipped: no
            update, not counted in the epoch's loss and accuracy. The reported loss is
            the mean over batches of their weighted mean loss; accuracy is unweighted.
        class_weight : 'balanced' or dict {class id: weight}, optional
            Multiplies ``sample_weight`` (or ones) by the weight of each sample's class:
            'balanced' is n / (n_classes_present * count of the class); a dict's missing
            classes weigh 1. For class-id losses and 'bce' with 0/1 labels.
        sampling : {'epoch', 'replacement'}
            'epoch': every sample once per epoch (shuffled, or in order with
            ``shuffle=False``). 'replacement': each epoch draws n indices i.i.d. uniformly
            (seeded like the shuffle: epoch e's draw depends only on the seed and e), so
            a sample may appear several times in an epoch, or not at all.
        dropout : float or sequence of float, optional
            The dropout rates of this fit only, in place of the model's ``dropout``
            (one rate for every hidden layer or one per hidden layer). The masks come
            from ``seed`` as the shuffling does: an int seed gives the same masks in every
            run and every backend, and 2 epochs then 2 more the same as 4.
        """
        X, yi, t, w, epochs, batch_size, val, rates = self._check(
            X, y, epochs, batch_size, validation_data, validation_split, drop_last, verbose, on_divergence, seed,
            divergence_factor, sample_weight, class_weight, shuffle, sampling, dropout)
        if isinstance(early_stopping, numbers.Integral) and not isinstance(early_stopping, bool):
            early_stopping = EarlyStopping("val_loss" if val is not None else "loss", patience=int(early_stopping))
        elif early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be an EarlyStopping or an int patience; got {early_stopping!r}")
        if isinstance(early_stopping, EarlyStopping) and early_stopping.monitor.startswith("val_") and val is None:
            raise ValueError(f"early stopping monitors {early_stopping.monitor!r} but no validation data was given")
        cbs = make_callbacks(callbacks) + ([early_stopping] if early_stopping else [])
        dropout = Dropout.from_seed(rates, self.model.seed if seed is None else seed)  # all checks passed

        model, arch, engine = self.model, self.model.arch, self.model.engine
        order_for = _shuffler(model.seed if seed is None else seed, sampling == "replacement") if shuffle else None
        self.state = state = self._state()
        self.has_validation = val is not None
        data = TrainingData(X, yi, t, batch_size, bool(drop_last), w, dropout)
        self.history = history = History()
        self.stop_training = False
        base_epoch = len(model.history) if model.history is not None else 0
        self.schedule.start(base_epoch, epochs)  # a length-dependent schedule follows this fit
        progress = Progress(int(verbose), base_epoch + epochs, X.shape[0])
        clock = _ChunkClock(batch_size, X.shape[0])
        with engine.exclusive():  # one fit at a time per model
            if engine.needs_preparing(self.optimizer, data):
                progress.note("preparing the kernels (compiled on the first run only, then cached)...")
                seconds, compiled = engine.prepare(model.params, state, self.optimizer, data)
                progress.note(f"kernels {'compiled' if compiled else 'loaded from the cache'} in {seconds:.1f} s")
            limit = math.inf
            if divergence_factor is not None:  # by the NumPy reference: a few rows, nothing to compile
                rows = slice(0, REFERENCE_ROWS)
                with np.errstate(all="ignore"), one_blas_thread():
                    ref = reference_evaluate(arch, model.params, X[rows], yi[rows], t[rows])[0]
                limit = divergence_factor * max(ref / min(X.shape[0], REFERENCE_ROWS), np.finfo(arch.dtype).tiny)
            for cb in cbs:
                cb.on_train_begin(self)
            saved_params, saved_state = buffers.copy(model.params), state.copy()  # the last good epoch's values
            try:
                for epoch in range(base_epoch, base_epoch + epochs):
                    done = False
                    try:
                        if epoch > base_epoch:  # the first epoch's were copied above
                            saved_params[...] = model.params
                            saved_state.copy_from(state)
                        lr = _scheduled_lr(self.schedule, epoch, self.lr)
                        order = order_for(epoch, X.shape[0]) if order_for else np.arange(X.shape[0])
                        progress.start_epoch(epoch)
                        t0 = time.perf_counter()
                        result = self._epoch(state, data, order, lr, clock, progress)
                        seconds = time.perf_counter() - t0
                        seen = result.seen
                        loss = result.loss_sum / max(seen, 1)
                        if result.diverged or loss > limit or not np.isfinite(model.params).all():
                            model.params[...] = saved_params
                            state.copy_from(saved_state)
                            history.diverged = True
                            why = (f"the mean loss {loss:.4g} exceeds divergence_factor x the loss before training "
                                   f"({limit:.4g})" if loss > limit else "the loss or weights became non-finite")
                            msg = (f"training diverged in epoch {epoch + 1} (lr={lr:g}): {why}; weights restored "
                                   "to the end of the last good epoch; lower the learning rate")
                            if on_divergence == "raise":
                                raise DivergenceError(msg)
                            warnings.warn(msg, DivergenceWarning, stacklevel=user_stacklevel())
                            break
                        row = {"epoch": epoch, "loss": loss,
                               "accuracy": result.correct / max(seen, 1) if arch.is_classifier else math.nan,
                               "lr": lr, "seconds": seconds, "samples_per_s": seen / seconds if seconds > 0 else math.inf}
                        if val is not None:
                            vt, vc = engine.evaluate(model.params, *val)
                            nv = val[0].shape[0]
                            row["val_loss"] = float(vt) / nv
                            row["val_accuracy"] = float(vc) / nv if arch.is_classifier else math.nan
                        history.append(row)
                        done = True
                        progress.end_epoch(history.rows[-1])
                        self.schedule.observe(epoch, history.rows[-1])
                        stop = [cb.on_epoch_end(self, epoch, history.rows[-1]) for cb in cbs]
                    except KeyboardInterrupt:
                        # Ctrl-C: keep every completed epoch; a half-done epoch is undone.
                        if not done:
                            model.params[...] = saved_params
                            state.copy_from(saved_state)
                        history.interrupted = True
                        warnings.warn(f"training interrupted: kept the {len(history)} completed epoch(s)",
                                      RuntimeWarning, stacklevel=user_stacklevel())
                        break
                    if any(stop) or self.stop_training:
                        history.stopped_early = True
                        break
            finally:
                aside = engine.compiling_aside()  # (seconds; loads from the cache, 40-80 ms, not counted)
                if aside > 0:  # even one begun by the fit's last call: the next call that compiles waits for it
                    progress.note(f"kernels still compiling in the background ({so_far(aside)}): this "
                                  "machine's faster kernels for this shape, compiled once, then loaded from the cache; "
                                  "until they are done a call that compiles (a first evaluate or predict) waits for "
                                  "them, and so does this process's exit")
                progress.close()
                for cb in cbs:
                    cb.on_train_end(self)
                model.optimizer_state = state
                if model.history is None:
                    model.history = History()
                model.history.extend(history)
            return history

    def _epoch(self, state, data, order, lr, clock, progress):
        """One epoch over ``order`` as chunks of whole batches, each one call of the engine
        (see ``_ChunkClock``): the same batches and updates as one call, with the progress
        advanced between chunks; stops at the first chunk that diverged."""
        model = self.model
        total = EpochResult(0.0, 0, 0, 0, False)
        start, n = 0, order.shape[0]
        while start < n:
            stop = min(n, start + clock.next_samples())
            t0 = time.perf_counter()
            part = model.engine.train_epoch(model.params, state, self.optimizer, data, order[start:stop], lr)
            clock.record(part.seen, time.perf_counter() - t0)
            total = total + part
            if part.diverged:
                break
            progress.advance(total.seen, total.loss_sum / max(total.seen, 1))
            start = stop
        return total


class _ChunkClock:
    """How many samples the next chunk of an epoch takes: whole batches, about
    ``CHUNK_SECONDS`` at the speed measured so far (the first chunk: ``FIRST_CHUNK_SAMPLES``).
    At least one batch; the last chunk takes what is left, so a partial batch is only ever last."""

    def __init__(self, batch_size, n):
        self.batch_size, self.n = batch_size, n
        self.rate = None  # samples per second measured so far

    def next_samples(self):
        want = FIRST_CHUNK_SAMPLES if self.rate is None else self.rate * CHUNK_SECONDS
        return max(1, int(want) // self.batch_size) * self.batch_size

    def record(self, samples, seconds):
        if samples and seconds > 0:
            self.rate = samples / seconds


def _scheduled_lr(schedule, epoch, base_lr):
    """The schedule's learning rate for ``epoch``, refused unless positive and finite."""
    lr = schedule.lr(epoch, base_lr)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"schedule {schedule!r} gave the learning rate {lr!r} for epoch {epoch + 1}; a learning "
                         "rate must be a positive finite number (check the schedule's lr method)")
    return float(lr)


def _shuffler(seed, replacement=False):
    """``order(epoch, n)``: the sample order of an epoch: a permutation of the n samples, or
    with ``replacement`` n indices drawn i.i.d. uniformly.

    With an int seed (or None, drawn once) each epoch's order depends only on
    the seed and the epoch's number counted over the model's whole history, so
    a fit of 2 epochs then 2 more gives the same orders as one fit of 4. A
    Generator is used as it is, one draw per epoch.
    """
    draw = (lambda rng, n: rng.integers(0, n, n, dtype=np.int64)) if replacement else (lambda rng, n: rng.permutation(n))
    if isinstance(seed, np.random.Generator):
        return lambda epoch, n: draw(seed, n)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    return lambda epoch, n: draw(np.random.default_rng([seed, epoch]), n)


def _split(X, yi, t, w, fraction, stratify):
    """Hold out ``fraction`` of the rows (stratified over class ids when classifying)."""
    from .datasets.preprocessing import split_indices
    labels = yi if yi.size else np.zeros(X.shape[0], np.int64)
    tr, va = split_indices(labels, fraction, seed=0, stratify=stratify and yi.size > 0)
    pick = lambda a, i: a[i] if a.size else a  # noqa: E731
    return (X[tr], pick(yi, tr), pick(t, tr), pick(w, tr)), (X[va], pick(yi, va), pick(t, va), pick(w, va))
