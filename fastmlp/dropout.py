"""Dropout in training: the rates per hidden layer and the key of a fit's masks.

A model's ``dropout`` (``MLP(dropout=...)``, checked by ``checks.check_dropout``) is one
rate per hidden layer. A fit turns it into a :class:`Dropout`: the rates and a 64-bit key
drawn from the fit's seed. Each backend hashes the key with the update step, the layer,
the row in the batch and the unit into whether that unit is kept (the formula and its
three variants: ``fastmlp.kernels.dropout``), so the three backends drop the same units.
"""
from dataclasses import dataclass

import numpy as np

from .kernels.dropout import MASK_BITS

_KEY_TAG = 0x64726F70  # 'drop': the key's stream apart from the shuffling's (same seed)


@dataclass(frozen=True)
class Dropout:
    """The dropout of one training: ``rates`` (one per hidden layer, in [0, 1)) and the masks'
    ``key`` (an int in [0, 2**64)).

    Unit j of hidden layer l, row r of the batch of update ``step`` (1-based, counted as
    the optimizer counts its steps) is kept when the top 53 bits of its hash reach
    ``cut(l)``, then multiplied by ``scale(l)`` = 1 / (1 - p).
    """
    rates: tuple
    key: int

    @classmethod
    def from_seed(cls, rates, seed):
        """The dropout of a fit with ``seed`` (an int >= 0, a Generator, or None: drawn); None
        when every rate is 0. An int seed gives the same key in every run."""
        if not any(rates):
            return None
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(2**63))
        elif seed is None:
            seed = int(np.random.SeedSequence().entropy)
        words = np.random.SeedSequence([seed, _KEY_TAG]).generate_state(2, np.uint32)
        return cls(tuple(rates), int(words[0]) << 32 | int(words[1]))

    def cut(self, l):
        """The threshold of hidden layer l's 53-bit hashes: round(p * 2**53) (0 keeps every unit)."""
        return round(self.rates[l] * 2**MASK_BITS)

    def active(self, l):
        """Whether hidden layer l drops any unit (its cut is above 0)."""
        return self.cut(l) > 0

    def scale(self, l):
        """What a kept unit of hidden layer l is multiplied by: 1 / (1 - p)."""
        return 1.0 / (1.0 - self.rates[l])
