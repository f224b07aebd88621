"""Exceptions and warnings raised by imputer.

Every exception the library raises on purpose derives from :class:`ImputerError`,
so ``except imputer.ImputerError`` catches all of them. The concrete classes also
derive from the matching built-in (:class:`ValueError`, :class:`TypeError`, or
:class:`AttributeError` for :class:`NotFittedError`), so code written against the
built-ins keeps working.

Messages name the column, parameter or field at fault.
"""

from __future__ import annotations

__all__ = [
    "ImputerError",
    "ImputerValueError",
    "ImputerTypeError",
    "NotFittedError",
    "MixedColumnError",
    "MissingDependencyError",
    "ImputerWarning",
    "ConvergenceWarning",
]


class ImputerError(Exception):
    """Root of every exception raised by imputer."""


class ImputerValueError(ImputerError, ValueError):
    """An argument has the right type but an invalid value (bad data, option out of range)."""


class ImputerTypeError(ImputerError, TypeError):
    """An argument has the wrong type (e.g. a non-numeric column where numbers are required)."""


class NotFittedError(ImputerError, AttributeError):
    """An estimator was used before ``fit`` was called."""


class ImputerWarning(UserWarning):
    """Root of every warning issued by imputer."""


class ConvergenceWarning(ImputerWarning):
    """An iterative fit stopped before meeting its convergence criterion.

    The result is still returned, with ``converged=False``.
    """


class MixedColumnError(ImputerValueError):
    """A column of numbers in a text table (CSV) holds cells that are not numbers.

    Read as text, it would drop out of the model without a word; the message names the
    column, the first offending values with their lines, and the fixes (``na_values``,
    ``columns``, ``passthrough``). The command line exits with status 2 on it.
    """


class MissingDependencyError(ImputerError, ImportError):
    """An optional dependency a function needs is not installed.

    The message names the package and the extra that installs it, for example
    ``pip install "imputer[plot]"`` for the figures of :mod:`imputer.plot`.
    """
