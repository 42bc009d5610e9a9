"""Optimizer updates over the flat parameter buffer: fast, numba.

The state of every optimizer lives in ``slots`` (2, S), two buffers in the params layout
(each row padded to whole cache lines, S >= P; the first P elements are used), named by
what they hold for each optimizer (``fastmlp.optimizers.SLOT_NAMES``):

    sgd      slots[0] = velocity                                   (torch.optim.SGD)
    adam     slots[0] = m (first moment), slots[1] = v (second)    (Kingma & Ba 2015, torch.optim.Adam)
    rmsprop  slots[0] = square_avg                                 (torch.optim.RMSprop)
    adagrad  slots[0] = sum of squared gradients                   (torch.optim.Adagrad)

Weight decay is L2 added to the gradient, g <- g + wd * p, as torch.optim does.
Decoupled weight decay (Loshchilov & Hutter 2019, torch.optim.AdamW) shrinks every parameter,
biases included, before the update and apart from the gradient: p <- p * (1 - lr * dwd), with
the epoch's learning rate (not Adam's bias-corrected or Adagrad's decayed one); the update that
follows (and its coupled weight decay) sees the shrunk p. Each element update does it first
(``Coeffs.decay``, exactly 1 without decoupled decay): no separate pass over the parameters
(AdamW as fast as Adam: ``fastmlp.bench.features``). Penalties and clipping act on the gradient
before it comes here (``regularisation``).
Adam, RMSprop and Adagrad divide by sqrt(state) + eps through ``intrinsics.estimated_quotient``:
in float32 the CPU's reciprocal estimate refined by one Newton step, within a few units in the
last place of the rounded quotient (the reference variants divide exactly: the same weights to
float32 tolerance); a divide per element had made the batch-1 pass over the first layer 28%
slower on an Intel Xeon. float64 divides exactly.
Every update runs with denormals flushed to zero (``intrinsics.flush_denormals``, on the thread
that runs it, and back after): moments and velocities that decay geometrically (a weight whose
gradient stays 0, e.g. under an input pixel that is 0) become denormal after some hundred steps
(m, momentum 0.9) or tens of thousands (v), and each operation on one then costs several times a
normal one. Flushed, such a value is 0 instead of below 1.2e-38: its share of a step
(lr * m / (sqrt(v) + eps) against a parameter) was already below the parameter's rounding. Not
flushed when ``eps`` itself is below the smallest normal float32 (``Coeffs.flush``, ``flushes``),
where a flushed v could matter. A training epoch flushes them in all it computes (``epoch``);
the update flushes them itself too, for the update called alone (``optimizer_step``).
``step`` is the 1-based number of this update. The update here runs on one thread: beside the
BLAS's own threads a parallel update measured slower at every batch size (Adam on
784-256-128-64-10: batch 8 27k against 30k samples/s serial, batch 64 and 256 equal or 1% behind:
its threads wait for the BLAS's spinning ones). When the kernels own the threads instead
(``split``, the BLAS on one thread), a large layer's update is cut over them there.
``hyper.kind`` is an optimizer id (every update compiled, chosen per call) or a static
``UpdateChoice`` (``structs``, ``static.Static``): only that optimizer's update is compiled.
"""
from collections import namedtuple

import numpy as np
from numba import njit
from numba.extending import overload

from .config import JIT, JIT_INNER, JIT_INNER_INLINE
from .intrinsics import estimated_quotient, flush_denormals, kernel_only, restore_fp_mode
from .static import absent, static_value

SGD, ADAM, RMSPROP, ADAGRAD = 0, 1, 2, 3
PLAIN, MOMENTUM, NESTEROV = 0, 1, 2  # SGD's forms (``UpdateChoice.momentum``)

# The step's scalars in the params dtype, rounded once from float64 (as torch does); ``flush``
# (bool): whether the update flushes denormals (see the module docstring); ``write_velocity``
# (bool): whether ``descend`` writes each velocity back (with weight decay, which changes it, and
# every ``VELOCITY_FLUSH_EVERY``-th update when denormals are flushed).
Coeffs = namedtuple("Coeffs", ["lr", "weight_decay", "eps", "momentum", "beta1", "one_minus_beta1", "beta2",
                               "one_minus_beta2", "inv_sqrt_bias2", "alpha", "one_minus_alpha", "decay", "flush",
                               "write_velocity"])
# The smallest normal float32: an eps below it keeps denormals (``Coeffs.flush``).
SMALLEST_NORMAL_FLOAT32 = float(np.finfo(np.float32).tiny)
# Without weight decay ``descend`` leaves the velocities as the gradient's product wrote them, except
# on every this many updates, when it writes them back with denormals flushed (see ``descend``).
VELOCITY_FLUSH_EVERY = 16


@njit(**JIT_INNER_INLINE)
def sgd_element(p, g, c):
    """SGD without momentum on one element: p <- decay p (decoupled weight decay), then p - lr (g + wd p)."""
    p = p * c.decay
    return p - c.lr * (g + c.weight_decay * p)


@njit(**JIT_INNER_INLINE)
def momentum_element(p, velocity, g, c):
    """SGD with momentum on one element: p <- decay p; velocity = momentum velocity + g + wd p;
    p - lr velocity. Returns (p, velocity)."""
    p = p * c.decay
    velocity = c.momentum * velocity + g + c.weight_decay * p
    return p - c.lr * velocity, velocity


@njit(**JIT_INNER_INLINE)
def nesterov_velocity(p, velocity, g, c):
    """Nesterov momentum's new velocity on one element: momentum velocity + g', with p <- decay p
    and g' = g + wd p."""
    return c.momentum * velocity + (g + c.weight_decay * (p * c.decay))


@njit(**JIT_INNER_INLINE)
def nesterov_param(p, velocity, g, c):
    """Nesterov momentum's new p on one element from its new velocity: p <- decay p;
    p - lr (g' + momentum velocity), g' = g + wd p."""
    p = p * c.decay
    return p - c.lr * ((g + c.weight_decay * p) + c.momentum * velocity)


@njit(**JIT_INNER_INLINE)
def nesterov_element(p, velocity, g, c):
    """Nesterov momentum on one element (``nesterov_velocity``, then ``nesterov_param``).
    Returns (p, velocity)."""
    velocity = nesterov_velocity(p, velocity, g, c)
    return nesterov_param(p, velocity, g, c), velocity


@njit(**JIT_INNER_INLINE)
def adam_element(p, m, v, g, c):
    """Adam on one element: p <- decay p; g' = g + wd p;  m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2;
    p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)  (c.lr carries 1 / (1 - b1^t)).
    Returns (p, m, v)."""
    p = p * c.decay
    gi = g + c.weight_decay * p
    m = c.beta1 * m + c.one_minus_beta1 * gi
    v = c.beta2 * v + c.one_minus_beta2 * gi * gi
    return p - estimated_quotient(c.lr * m, np.sqrt(v) * c.inv_sqrt_bias2 + c.eps), m, v


@njit(**JIT_INNER_INLINE)
def rmsprop_element(p, square_avg, g, c):
    """RMSprop on one element: p <- decay p; g' = g + wd p;  square_avg = alpha square_avg + (1 - alpha) g'^2;
    p - lr g' / (sqrt(square_avg) + eps). Returns (p, square_avg)."""
    p = p * c.decay
    gi = g + c.weight_decay * p
    square_avg = c.alpha * square_avg + c.one_minus_alpha * gi * gi
    return p - estimated_quotient(c.lr * gi, np.sqrt(square_avg) + c.eps), square_avg


@njit(**JIT_INNER_INLINE)
def adagrad_element(p, sum_sq, g, c):
    """Adagrad on one element: p <- decay p; g' = g + wd p;  sum_sq += g'^2;
    p - lr / (1 + (t - 1) lr_decay) g' / (sqrt(sum_sq) + eps)  (c.lr is already decayed).
    Returns (p, sum_sq)."""
    p = p * c.decay
    gi = g + c.weight_decay * p
    sum_sq = sum_sq + gi * gi
    return p - estimated_quotient(c.lr * gi, np.sqrt(sum_sq) + c.eps), sum_sq


@kernel_only
def spend(g, spent, i):
    """``g[i] = 0``: the gradient read for the last time, set back to 0 in the update's own loop while its line is in
    cache (``split._rows_step``: the next product adds into it, with beta 1), when ``spent`` is g; nothing when
    ``spent`` is None (the update called without it: nothing of this compiled). Written through g, the array the
    loop reads, not through ``spent``: a store through another array that may overlap g kept the loop from
    vectorising (fashion-b64 with Adam, cut: 137k -> 104k samples/s)."""


@overload(spend, jit_options=JIT_INNER, inline="always")
def _spend_impl(g, spent, i):
    if absent(spent):
        return lambda g, spent, i: None

    def impl(g, spent, i):
        g[i] = 0
    return impl


@njit(**JIT_INNER)
def _sgd(p, g, c, spent=None):
    """``sgd_element`` (no momentum) over the arrays; each g[i] then set to 0 when ``spent`` is g (``spend``), as
    in every loop below. Loops run over range(len): a loop over range(lo, hi) keeps numba's negative-index check
    and does not vectorise (7x slower measured)."""
    for i in range(p.shape[0]):
        p[i] = sgd_element(p[i], g[i], c)
        spend(g, spent, i)


@njit(**JIT_INNER)
def _momentum(p, velocity, g, c, spent=None):
    """``momentum_element`` over the arrays."""
    for i in range(p.shape[0]):
        p[i], velocity[i] = momentum_element(p[i], velocity[i], g[i], c)
        spend(g, spent, i)


@njit(**JIT_INNER)
def _nesterov(p, velocity, g, c, spent=None):
    """``nesterov_element`` over the arrays: the velocities in one loop, then p in another (as
    ``descend``: with two threads, stores to p wait for lines the other core reads; fashion net,
    batch 64, Intel Xeon model 167, alternated: 147.9-154.9k -> 154.1-157.8k samples/s)."""
    for i in range(p.shape[0]):
        velocity[i] = nesterov_velocity(p[i], velocity[i], g[i], c)
    for i in range(p.shape[0]):
        p[i] = nesterov_param(p[i], velocity[i], g[i], c)
        spend(g, spent, i)  # in the second loop: the first read g too


@njit(**JIT_INNER)
def _adam(p, m, v, g, c, spent=None):
    """``adam_element`` over the arrays."""
    for i in range(p.shape[0]):
        p[i], m[i], v[i] = adam_element(p[i], m[i], v[i], g[i], c)
        spend(g, spent, i)


@njit(**JIT_INNER)
def _rmsprop(p, square_avg, g, c, spent=None):
    """``rmsprop_element`` over the arrays."""
    for i in range(p.shape[0]):
        p[i], square_avg[i] = rmsprop_element(p[i], square_avg[i], g[i], c)
        spend(g, spent, i)


@njit(**JIT_INNER)
def _adagrad(p, sum_sq, g, c, spent=None):
    """``adagrad_element`` over the arrays."""
    for i in range(p.shape[0]):
        p[i], sum_sq[i] = adagrad_element(p[i], sum_sq[i], g[i], c)
        spend(g, spent, i)


def velocity_fused(choice):
    """Whether a static ``UpdateChoice`` lets W's gradient go straight into its velocity
    (``before_velocity_product``, the product with beta = momentum, then ``after_velocity_product``): SGD with
    momentum, plain or Nesterov, without penalty, clipping or decoupled decay. None (a runtime choice): False."""
    return (choice is not None and choice.kind == SGD and choice.momentum in (MOMENTUM, NESTEROV)
            and not choice.decay and not choice.penalties and not choice.clip_norm)


@njit(**JIT_INNER)
def descend(p, velocity, c):
    """SGD with momentum on a range whose velocity already holds momentum * velocity + g (the
    gradient's product wrote it there, beta = momentum: ``velocity_fused``): velocity += wd p,
    then p -= lr velocity. ``momentum_element``'s numbers, in the same order, without a gradient
    buffer: the gradient is never written, read back and added (measured on the 784x256 layer at
    batch 64 (Intel Xeon, AVX-512): its product and update 290-450 us a step, 260-420 fused).
    Denormals are read as 0 as in ``apply_update``. Without weight decay the velocity is final
    already, and it is written back (denormals flushed) only when ``c.write_velocity`` says: every
    ``VELOCITY_FLUSH_EVERY``-th update, so that a velocity decaying towards 0 spends at most that
    many products as a denormal, each of them slow on Intel CPUs. The other updates read the
    velocity and write only p: 1.5-1.6x faster on 32k-200k elements (Intel Xeon, AVX-512, one
    thread: 200,704 elements 52 -> 35 us).
    With the write-back, the velocity is written in one loop and p in the next, not both in one:
    with two threads the other core's forward product reads p's cache lines, so each store to p
    waits for its line, and a store to the velocity (a line this core holds) between two of them
    takes a place in the core's store buffer where another p store could have waited (likely; what
    was measured: fashion net, batch 64, two threads, weight decay 5e-4, Intel Xeon model 167,
    fresh processes alternated: 139-141k samples/s with one loop, 159-162k with two, as fast as
    without weight decay; one loop per 1024-element chunk 155-159k)."""
    mode = flush_denormals(c.flush)
    if c.write_velocity:
        _velocity_decay(velocity, p, c)
    for i in range(p.shape[0]):
        p[i] = p[i] - c.lr * velocity[i]
    restore_fp_mode(mode)


@njit(**JIT_INNER_INLINE)
def _velocity_decay(velocity, p, c):
    """velocity += wd p, written back (denormals flushed under the update's mode): the loop ``descend`` and
    ``nesterov_descend`` run before stepping p, when ``c.write_velocity``."""
    for i in range(p.shape[0]):
        velocity[i] = velocity[i] + c.weight_decay * p[i]


@njit(**JIT_INNER)
def nesterov_descend(p, velocity, previous, c):
    """SGD with Nesterov momentum on a range whose velocity already holds momentum * v + g (the gradient's
    product wrote it there, beta = momentum: ``velocity_fused``) and whose ``previous`` holds v, the velocity
    before the step (``keep_velocity`` copied it there before the product): velocity += wd p (with weight decay,
    as ``descend``), then p -= lr (g' + momentum velocity), the step's gradient g' = g + wd p recovered as
    velocity - momentum previous. ``nesterov_element``'s numbers but for the new velocity's rounding, which the
    recovered gradient carries (half a unit in the velocity's last place; the parameter moves by lr times that).
    Without it, Nesterov wrote its gradient into a buffer, then read it, the velocity and p twice (two loops:
    ``_nesterov``); here the product writes the velocity as momentum's does, and the update reads it, the
    previous one and p once. Denormals read as 0, and the velocity written back, as in ``descend``."""
    mode = flush_denormals(c.flush)
    if c.write_velocity:
        _velocity_decay(velocity, p, c)
    for i in range(p.shape[0]):
        v = velocity[i]
        p[i] = p[i] - c.lr * ((v - c.momentum * previous[i]) + c.momentum * v)
    restore_fp_mode(mode)


@njit(**JIT_INNER)
def keep_velocity(previous, velocity):
    """previous = velocity: Nesterov's velocity before the gradient's product overwrites it (``nesterov_descend``).
    Copied in each step, not kept from the last one: so the step needs nothing of the calls before it (a call
    that updated the layer by ``apply_update`` leaves ``previous`` as it was)."""
    for i in range(velocity.shape[0]):
        previous[i] = velocity[i]


def _nesterov_form(kind):
    """Whether a static ``UpdateChoice`` (the Numba type of ``kind``) is SGD with Nesterov momentum."""
    choice = static_value(kind)
    return choice is not None and choice.kind == SGD and choice.momentum == NESTEROV


@kernel_only
def before_velocity_product(first, second, kind):
    """What a range needs before the gradient's product into its velocity ``first`` (``velocity_fused``; ``kind``
    the static ``UpdateChoice``): with Nesterov momentum the velocity copied into ``second`` (``keep_velocity``);
    with plain momentum nothing (nothing compiled)."""


@overload(before_velocity_product, jit_options=JIT_INNER, inline="always")
def _before_velocity_product_impl(first, second, kind):
    if not _nesterov_form(kind):
        return lambda first, second, kind: None
    return lambda first, second, kind: keep_velocity(second, first)


@kernel_only
def after_velocity_product(p, first, second, c, kind):
    """A range's update once the gradient's product wrote its velocity ``first`` (``velocity_fused``):
    ``nesterov_descend`` (``second`` the velocity before) with Nesterov momentum, else ``descend``."""


@overload(after_velocity_product, jit_options=JIT_INNER, inline="always")
def _after_velocity_product_impl(p, first, second, c, kind):
    if not _nesterov_form(kind):
        return lambda p, first, second, c, kind: descend(p, first, c)
    return lambda p, first, second, c, kind: nesterov_descend(p, first, second, c)


@kernel_only
def optimizer_id(kind):
    """The optimizer id of ``hyper.kind``: the id itself, or a static ``UpdateChoice``'s (a constant)."""


@overload(optimizer_id, jit_options=JIT_INNER)
def _optimizer_id_impl(kind):
    c = static_value(kind)
    if c is None:
        return lambda kind: kind
    k = c.kind
    return lambda kind: k


@kernel_only
def apply_update(p, first, second, g, kind, c, nesterov, spent=None):
    """One optimizer's update on a range of elements (``first``/``second`` its state slots),
    the decoupled weight decay included; compiled for every optimizer (``kind`` an id, chosen per
    call) or for one (a static ``UpdateChoice``). ``spent``: None, or g itself, each of whose values is then
    set to 0 once read for the last time (``spend``)."""


@overload(apply_update, jit_options=JIT_INNER)
def _apply_update_impl(p, first, second, g, kind, c, nesterov, spent=None):
    choice = static_value(kind)
    # constants (or None: chosen per call): the other updates are pruned before typing
    only, form = (None, None) if choice is None else (choice.kind, choice.momentum)

    def impl(p, first, second, g, kind, c, nesterov, spent=None):
        k = kind if only is None else only
        mode = flush_denormals(c.flush)
        if k == ADAM:
            _adam(p, first, second, g, c, spent)
        elif k == RMSPROP:
            _rmsprop(p, first, g, c, spent)
        elif k == ADAGRAD:
            _adagrad(p, first, g, c, spent)
        else:
            f = (PLAIN if c.momentum == 0 else NESTEROV if nesterov else MOMENTUM) if form is None else form
            if f == PLAIN:  # one branch-free loop that vectorises
                _sgd(p, g, c, spent)
            elif f == MOMENTUM:
                _momentum(p, first, g, c, spent)
            else:
                _nesterov(p, first, g, c, spent)
        restore_fp_mode(mode)
    return impl


@njit(**JIT_INNER_INLINE)
def flushes(hyper):
    """Whether training by ``hyper`` flushes denormals (see the module docstring): unless its
    ``eps`` is positive and below the smallest normal float32."""
    return not 0.0 < hyper.eps < SMALLEST_NORMAL_FLOAT32


@njit(**JIT_INNER_INLINE)
def step_coeffs(hyper, step, params):
    """The ``Coeffs`` of update number ``step`` (1-based) by ``hyper``, in the dtype of ``params``."""
    lr, inv_sqrt_bias2 = hyper.lr, 0.0
    kind = optimizer_id(hyper.kind)
    if kind == ADAM:  # float powers: the C library's pow, as Python's float ** int in the reference (an
        t = float(step)  # int power compiles Numba's repeated squaring on first use: 0.1 s of a cold start)
        lr = lr / (1.0 - hyper.beta1 ** t)
        inv_sqrt_bias2 = 1.0 / np.sqrt(1.0 - hyper.beta2 ** t)
    elif kind == ADAGRAD:
        lr = lr / (1.0 + (step - 1) * hyper.lr_decay)
    T = params.dtype.type
    flush = flushes(hyper)
    wd = T(hyper.weight_decay)
    return Coeffs(T(lr), wd, T(hyper.eps), T(hyper.momentum), T(hyper.beta1),
                  T(1.0 - hyper.beta1), T(hyper.beta2), T(1.0 - hyper.beta2), T(inv_sqrt_bias2), T(hyper.alpha),
                  T(1.0 - hyper.alpha), T(1.0 - hyper.lr * hyper.decoupled_weight_decay), flush,
                  wd != 0 or (flush and step % VELOCITY_FLUSH_EVERY == 0))


@njit(**JIT)
def optimizer_step(params, slots, grads, hyper, step):
    """One update of params (P,) and its state slots (2, S >= P) from grads (P,), by ``hyper``."""
    update_range(params, slots[0], slots[1], grads, hyper, step)


@njit(**JIT_INNER_INLINE)
def update_range(params, first, second, grads, hyper, step):
    """The update of one contiguous range of the parameters (a layer's W and b, or all of
    them): params, its two state slots ``first``/``second`` and grads, each (n,) or longer."""
    c = step_coeffs(hyper, step, params)
    apply_update(params, first, second, grads, hyper.kind, c, hyper.nesterov != 0)
