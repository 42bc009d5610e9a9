"""Every dataset by name, with inputs scaled for a network: the one loader the
command line, the demo and the benchmarks share.

Synthetic problems come as generated (among them the lab reports' own sets,
'rdfia_circles' and DLVU's 'synth', see :mod:`.labs`); digits' pixels (0..16)
are divided by 16; MNIST and Fashion-MNIST pixels (uint8) by 255 (:func:`scale_uint8`).
"""

from __future__ import annotations

import inspect

from ..checks import check_choice
from .base import Dataset
from .digits import digits
from .labs import rdfia_circles, synth
from .mnist import fashion_mnist, mnist
from .preprocessing import scale_uint8
from .synthetic import blobs, circles, moons, spirals, xor

__all__ = ["DATASET_NAMES", "SYNTHETIC", "load_dataset"]

_GENERATORS = {"circles": circles, "moons": moons, "spirals": spirals, "xor": xor, "blobs": blobs,
               "rdfia_circles": rdfia_circles, "synth": synth}
#: The synthetic 2-D problems (any ``n_samples``, generated from ``seed``).
SYNTHETIC = tuple(_GENERATORS)
#: Every name :func:`load_dataset` takes ('fashion_mnist' is read as 'fashion-mnist').
DATASET_NAMES = SYNTHETIC + ("digits", "mnist", "fashion-mnist")


def load_dataset(name, n_samples=None, seed=0, test_size=None, noise=None) -> Dataset:
    """The dataset ``name`` with inputs ready for training.

    Parameters
    ----------
    name : str
        One of :data:`DATASET_NAMES`.
    n_samples : int, optional
        Points of a synthetic dataset (its default when None: 400, or
        70000 for 'synth'); only for the synthetic ones.
    seed : int >= 0, numpy Generator or None, default 0
        Draws synthetic points and the digits split; MNIST files have a fixed split.
    test_size : float in [0, 1), optional
        Held-out share for synthetic data and digits (the loader's default
        when None: 0.2, 0.5 for 'rdfia_circles', 1/7 for 'synth', 0.25 for
        digits); MNIST files come with their own test split.
    noise : float >= 0, optional
        Jitter of a synthetic dataset (its generator's default when None); only for
        the synthetic ones.

    Returns
    -------
    Dataset
        Float inputs (float32), int64 labels; ``class_names`` where known.

    Raises
    ------
    FileNotFoundError
        For MNIST or Fashion-MNIST files that are not found (the message says how to get them).
    ImportError
        For digits without scikit-learn.
    """
    if isinstance(name, str) and name == "fashion_mnist":
        name = "fashion-mnist"
    check_choice(name, "dataset", DATASET_NAMES)
    split = {} if test_size is None else {"test_size": test_size}
    if name in SYNTHETIC:
        options = {k: v for k, v in (("n_samples", n_samples), ("noise", noise)) if v is not None}
        if "noise" in options and "noise" not in inspect.signature(_GENERATORS[name]).parameters:
            raise ValueError(f"noise does not apply to {name!r}: it has no noise setting")
        return _GENERATORS[name](seed=seed, **options, **split)
    for key, value, why in (("n_samples", n_samples, "has a fixed size"), ("noise", noise, "is not generated")):
        if value is not None:
            raise ValueError(f"{key} applies to the synthetic datasets {list(SYNTHETIC)} only; {name!r} {why}")
    if name == "digits":
        d = digits(seed=seed, **split)
        return Dataset(d.X_train / 16.0, d.y_train, d.X_test / 16.0, d.y_test, d.name, d.n_classes, d.class_names)
    if test_size is not None:
        raise ValueError(f"test_size does not apply to {name!r}: its files hold a fixed test split")
    d = mnist() if name == "mnist" else fashion_mnist()
    return Dataset(scale_uint8(d.X_train), d.y_train, scale_uint8(d.X_test), d.y_test, d.name, d.n_classes,
                   d.class_names)
