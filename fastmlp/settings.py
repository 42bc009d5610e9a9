"""Every training setting by name, and where it goes: ``MLP(...)``, ``Trainer(...)``,
``Trainer.fit(...)`` or the data.

A sweep's grid and the command line's ``--set key=value`` name settings flat
(``{'hidden': (16,), 'lr': 0.1, 'dropout': 0.2, 'n_samples': 400}``); :func:`split_settings`
sorts them into the four groups. The model, trainer and fit names are read from the
signatures of ``MLP``, ``Trainer`` and ``Trainer.fit`` (and the optimizers'
hyperparameters) when asked, so an option added to any of them is a setting at once.
"""
import inspect

from .checks import check_hidden_sizes, check_int, check_positive_int

from .model import MLP
from .optimizers import DEFAULTS as OPTIMIZER_DEFAULTS
from .trainer import Trainer

#: Settings of the data: points and noise of a generated (synthetic) set, its held-out share
#: and the seed it is drawn with; ``n_train`` is a random subset of the training rows of that
#: size (any data), drawn with the run's ``seed``.
DATA_KEYS = ("n_samples", "noise", "test_size", "data_seed", "n_train")
#: Settings that describe the hidden layers: sizes, or a width repeated depth times.
SHAPE_KEYS = ("hidden", "width", "depth")
# Arguments that are not settings: the data, the model itself, what a run passes on its own.
_NOT_SETTINGS = {"self", "layers", "model", "X", "y", "validation_data", "callbacks", "verbose"}


def _named(function):
    """The named parameters of ``function`` (no ``*args``/``**kwargs``), minus non-settings."""
    return [name for name, p in inspect.signature(function).parameters.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name not in _NOT_SETTINGS]


def model_keys():
    """Arguments of ``MLP`` (``seed`` included: it seeds the weights and the shuffling)."""
    return tuple(_named(MLP))


def trainer_keys():
    """Arguments of ``Trainer`` (optimizer, lr, schedule, ...) and every optimizer's hyperparameters."""
    hyper = [h for values in OPTIMIZER_DEFAULTS.values() for h in values]
    return tuple(dict.fromkeys(_named(Trainer) + hyper))


def fit_keys():
    """Arguments of ``Trainer.fit`` (epochs, batch_size, shuffle, drop_last, ...)."""
    return tuple(k for k in _named(Trainer.fit) if k != "seed")


def known_keys():
    """Every setting name, sorted."""
    return sorted(set(model_keys()) | set(trainer_keys()) | set(fit_keys()) | set(DATA_KEYS) | set(SHAPE_KEYS))


def check_keys(settings, what="setting"):
    """Raise ValueError naming the unknown keys of ``settings`` and the known ones."""
    unknown = sorted(set(settings) - set(known_keys()))
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise ValueError(f"unknown {what}{'s' if len(unknown) > 1 else ''} {names}; the known ones are "
                         f"{', '.join(known_keys())}")


def split_settings(settings):
    """``(model_kw, trainer_kw, fit_kw, data_kw)`` of flat ``settings`` (unknown keys refused).

    ``seed`` goes to the model and to the fit; the shape keys (hidden, width, depth) are
    left out (the caller builds the layer list).
    """
    check_keys(settings)
    model, trainer, fit = model_keys(), trainer_keys(), fit_keys()
    model_kw = {k: v for k, v in settings.items() if k in model}
    trainer_kw = {k: v for k, v in settings.items() if k in trainer and k not in model}
    fit_kw = {k: v for k, v in settings.items() if k in fit and k not in model and k not in trainer}
    if "seed" in settings:
        fit_kw["seed"] = settings["seed"]
    data_kw = {k: v for k, v in settings.items() if k in DATA_KEYS}
    return model_kw, trainer_kw, fit_kw, data_kw


def hidden_sizes(settings):
    """The hidden-layer sizes of flat ``settings``: ``hidden`` (a tuple of sizes or '64,32'),
    or ``width`` repeated ``depth`` times (defaults 32 and 1)."""
    if "width" in settings or "depth" in settings:
        width = check_positive_int(settings.get("width", 32), "width")
        return (width,) * check_int(settings.get("depth", 1), "depth", low=0)
    return check_hidden_sizes(settings["hidden"], "hidden")
