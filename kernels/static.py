"""Compile-time choices: a Python value carried by a Numba type, so a kernel compiles one branch.

A kernel that branches on a runtime id (the loss, the optimizer) types, lowers and optimises
every branch, although one training uses one. ``Static(value)`` passes ``value`` in the
argument's *type* (``StaticType(value)``, holding no data at run time): each value is its own
specialisation of the kernel, compiled and cached only when used, and an ``overload`` that
reads :func:`static_value` at typing time returns the one implementation that value needs;
the others are never compiled. The value must be hashable, picklable (it is part of the
cache key) and have a stable ``repr`` (it names the type): ints, bools, namedtuples of them.
"""
from numba import types
from numba.extending import NativeValue, models, register_model, typeof_impl, unbox


class Static:
    """``value`` known when a kernel is compiled (see the module docstring)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Static({self.value!r})"


class StaticType(types.Dummy):
    """The Numba type of ``Static(value)``: one type per value."""

    def __init__(self, value):
        self.value = value
        super().__init__(f"Static({value!r})")


register_model(StaticType)(models.OpaqueModel)


@typeof_impl.register(Static)
def _typeof_static(val, c):
    return StaticType(val.value)


@unbox(StaticType)
def _unbox_static(typ, obj, c):
    return NativeValue(c.context.get_dummy_value())


def static_value(ty):
    """The value a ``StaticType`` carries, or None for any other type (a runtime value)."""
    return ty.value if isinstance(ty, StaticType) else None


def absent(ty):
    """Whether an argument's type says None (None itself, or Numba's type of None or of an omitted argument):
    what an overload compiles nothing for."""
    return ty is None or isinstance(ty, (types.NoneType, types.Omitted))


def field_type(tuple_type, name):
    """The Numba type of a named tuple type's field ``name``."""
    return tuple_type.types[tuple_type.fields.index(name)]


def static_field(tuple_type, name):
    """The value a named tuple's field ``name`` carries as a ``StaticType``, or None (a runtime value)."""
    return static_value(field_type(tuple_type, name))
