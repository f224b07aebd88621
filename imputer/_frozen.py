"""Value semantics of the frozen results: read-only fields, equality, hash (private).

A frozen dataclass only stops an attribute from being re-bound; the pandas objects it
holds could still be changed in place (``res.mean.iloc[0] = 99``, ``res.completed["x"]
= 1``, ``res.mean.index.name = "z"``). This module makes results real values:

* :class:`ReadOnlyField`, a dataclass field descriptor: the value is stored once (by
  the dataclass ``__init__``), itself as a :func:`view` (so the caller's later edits of
  the objects passed in don't reach it), and every read returns :func:`view` of it, a
  new object over the same data. Whatever a caller does to what a read returned, the result keeps
  its value: under pandas' Copy-on-Write (always on from pandas 3, opt-in in 2.x) a
  shallow copy copies its data before its first write; without it the read is a deep
  copy. Axes are fresh objects too (``Index.name`` is settable in place).
* :func:`same_value`: equality of two field values (labelled pandas objects with their
  labels, axis names and dtypes; arrays by shape and elements; NaN equal to NaN, as
  ``DataFrame.equals`` does), used by the results' ``__eq__``.

The results' ``__hash__`` hashes a few scalars that equality implies (iteration counts,
sizes), so it is cheap, never raises and agrees with ``==``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from imputer._util import readonly_mapping

__all__ = ["ReadOnlyField", "ValueResult", "copy_on_write", "same_fields", "same_value", "view"]


def copy_on_write() -> bool:
    """Whether pandas copies shared data before writing to it (pandas >= 3, or the 2.x option)."""
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    try:
        return pd.get_option("mode.copy_on_write") is True
    except (KeyError, pd.errors.OptionError):  # pragma: no cover - pandas < 2.0 is not supported
        return False


def view(value: Any) -> Any:
    """What a read of a result's field returns: ``value``, safe to change for the caller.

    Parameters
    ----------
    value : Series, DataFrame, Mapping or any other value

    Returns
    -------
    Series or DataFrame
        A new object with the same labels and data: shallow under Copy-on-Write, deep
        otherwise; its axes are new ``Index`` objects.
    Mapping
        A read-only mapping (``MappingProxyType``) of the views of the values.
    other
        ``value`` itself (numbers, strings, tuples and non-writeable arrays are immutable).
    """
    if isinstance(value, (pd.Series, pd.DataFrame)):
        out = value.copy(deep=not copy_on_write())
        out.index = value.index.copy()
        if isinstance(value, pd.DataFrame):
            out.columns = value.columns.copy()
        return out
    if isinstance(value, Mapping):
        return readonly_mapping({k: view(v) for k, v in value.items()})
    return value


class ReadOnlyField:
    """Dataclass field descriptor: set once by ``__init__``, stored and read as :func:`view` of the value.

    Declared as a field's default (``mean: pd.Series = ReadOnlyField()``); the field
    still has no default (the class-level read raises ``AttributeError``, which tells
    :mod:`dataclasses` so). A second assignment raises ``FrozenInstanceError``; pickling
    and ``copy`` work on the stored value through the instance ``__dict__``. A mapping is
    stored as a ``dict`` (a ``MappingProxyType`` cannot be pickled) and read as a
    read-only mapping of views.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            raise AttributeError(self._name)  # no default value for the dataclass field
        return view(obj.__dict__[self._name])

    def __set__(self, obj: Any, value: Any) -> None:
        if self._name in obj.__dict__:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {self._name!r}")
        value = view(value)  # the result's own objects: the caller's later edits don't reach it
        if isinstance(value, Mapping):  # stored as a dict (picklable, unlike MappingProxyType)
            value = dict(value)
        obj.__dict__[self._name] = value


def _same_axes(a: pd.Series | pd.DataFrame, b: pd.Series | pd.DataFrame) -> bool:
    axes = zip(a.axes, b.axes)
    return all(x.equals(y) and list(x.names) == list(y.names) for x, y in axes)


def same_value(a: Any, b: Any) -> bool:
    """Whether two field values are equal as values (never raises).

    Parameters
    ----------
    a, b : Series, DataFrame, ndarray, Mapping, tuple, list, float or any value

    Returns
    -------
    bool
        Labelled pandas objects: same type, ``equals`` (elements and dtypes, NaN equal
        to NaN), equal axes with equal names, equal Series names. Arrays: same shape
        and elements (NaN equal to NaN). Mappings: the same keys in the same order and
        equal values. Tuples and lists: element by element. Floats: ``==`` or both NaN.
        Anything else: ``==``.
    """
    if isinstance(a, (pd.Series, pd.DataFrame)) or isinstance(b, (pd.Series, pd.DataFrame)):
        if type(a) is not type(b) or not _same_axes(a, b):
            return False
        if isinstance(a, pd.Series) and not same_value(a.name, b.name):
            return False
        return bool(a.equals(b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        try:
            return bool(np.array_equal(a, b, equal_nan=True))
        except TypeError:  # equal_nan needs a numeric dtype
            return bool(np.array_equal(a, b))
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return (
            isinstance(a, Mapping)
            and isinstance(b, Mapping)
            and list(a) == list(b)
            and all(same_value(a[k], b[k]) for k in a)
        )
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)):
        return bool(a == b) or (math.isnan(a) and math.isnan(b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def same_fields(a: Any, b: Any) -> bool:
    """Whether two dataclass instances of the same type agree on every compared field.

    Fields declared with ``compare=False`` are skipped; the stored values are compared
    (not views of them) with :func:`same_value`.
    """
    return all(
        same_value(a.__dict__[f.name], b.__dict__[f.name]) for f in dataclasses.fields(a) if f.compare
    )


class ValueResult:
    """Equality and hash of a frozen result dataclass (declared with ``eq=False``).

    Two results are equal when they are of the same class and agree on every compared
    field (:func:`same_fields`); the hash is that of the class name and
    :meth:`_hash_key`, a few cheap scalars that equal results share.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self._hash_key()))

    def _hash_key(self) -> tuple[Any, ...]:
        raise NotImplementedError
