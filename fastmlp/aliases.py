"""Who can write into a model's parameters: the arrays over its buffer that it has handed out, tracked.

Inference on AMX tiles predicts from a packed copy of the weights (``kernels.inference.refresh_tiles``), and users
may write into ``model.params``, ``model.W`` and ``model.b`` between two calls (the API says so): a call must see
every such write. Comparing the weights with the copy they were packed from is exact, but it reads both at every call
(on the Xeon model 207 with AMX, the fashion net's 256-row calls with the other core busy: 443k rows/s with the pass,
512k without). A call may skip it when no one could have written into the buffer since the pass before.

The model never hands its buffer out itself, only arrays over a ``memoryview`` of it (:meth:`ParamsAliases.array`).
NumPy keeps a view's base alive: every array made from one handed out (a slice, a reshape, ``W[l]``, ``np.asarray``
of it, a memoryview of it) keeps it and its memoryview alive, and the memoryviews alive are watched (weak references).
So when none is alive, no array outside the model can write into the buffer, and when none was handed out since the
last pass either (:meth:`ParamsAliases.quiet`), none has. The model's own writers (``set_params``, ``set_layer``,
a fit, ``load``) write through such arrays as well.

What it does not see: writes into the buffer itself (``model._params``), through what is made of the ``.base`` of an
array handed out (NumPy makes a memoryview of the buffer from it, not of the one watched), and through raw addresses
(``ctypes``) kept after their array died. A held array (``W = model.W`` in a notebook) costs
only the pass: the calls compare again while it lives.
"""
import weakref

import numpy as np


class ParamsAliases:
    """The arrays handed out over one buffer (a model's flat parameters): how many, and whether any is alive."""

    __slots__ = ("_buffer", "_current", "_alive", "_handed")

    def __init__(self, buffer):
        self._buffer = buffer
        self._current = None  # a weak reference to the array last handed out
        self._alive = {}  # id -> weak reference to a memoryview under arrays handed out, while it lives
        self._handed = 0  # memoryviews made so far

    def array(self):
        """The buffer as a writable array over a memoryview of it: the same array while it lives (``model.params is
        model.params``), a new one (counted) after."""
        current = self._current() if self._current is not None else None
        if current is not None:
            return current
        current = np.frombuffer(memoryview(self._buffer), self._buffer.dtype)  # its base: a memoryview of its own
        alive = self._alive  # (keyed by the reference's id: a writable memoryview has no hash)
        watch = weakref.ref(current.base, lambda gone: alive.pop(id(gone), None))
        alive[id(watch)] = watch  # watched before it is counted (``quiet``), and before it is handed out
        self._handed += 1
        self._current = weakref.ref(current)
        return current

    def quiet(self):
        """None while an array handed out lives, else how many were handed out: two calls that get the same number
        had no writer between them. (The count is read first: one handed out meanwhile is alive when the set is
        read, or counted.)"""
        handed = self._handed
        return None if self._alive else handed
