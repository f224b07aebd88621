"""The fitting options of both engines, declared once: kind, bounds or choices, default, help.

Each option is an :class:`Option` record; each engine's options form an
:class:`OptionTable`:

* :data:`MVN_OPTIONS` -- :func:`imputer.impute`, :class:`imputer.EMImputer`, the
  ``imputer impute`` command and the ``POST /v1/impute`` options;
* :data:`MI_OPTIONS` -- :func:`imputer.multiple_impute` (its EM options are
  :data:`MVN_OPTIONS`' entries, shared);
* :data:`MIXED_OPTIONS` -- :func:`imputer.fit_mixed`, :func:`imputer.fit_mixed_frame` and
  the ``POST /v1/mixed`` options.

The table is the one source of the defaults (function signatures, ``EMImputer``'s
constructor, argparse, pydantic ``Field`` defaults), of the bounds (the checker below
and the pydantic ``gt``/``ge`` constraints) and of the help text (``--help``, the OpenAPI
descriptions and the numpydoc ``Parameters`` entries, which start with it);
``tests/imputer/test_options.py`` fails if any of those places drifts from the table.

Checking (scikit-learn's ``_parameter_constraints`` idea): :meth:`OptionTable.check`
validates values against their options and returns them coerced (``float``, ``int``,
``bool``, ``str``; a choice matched case-insensitively where that is unambiguous, so
``method="reml"`` is ``"REML"``) or raises :class:`~imputer.errors.ImputerTypeError` (wrong type) or
:class:`~imputer.errors.ImputerValueError` (out of range, unknown choice) naming the
option. The messages come from the option's kind and bounds in one of two wordings,
kept because callers match them: ``"symbolic"`` (``tol must be a finite number > 0``)
for the multivariate-normal engine and ``"plain"`` (``tol must be a positive finite
number``) for the mixed-model engine. Options of kind ``"labels"`` and ``"values"``
depend on the data and are checked by the engine (``columns`` by
:func:`imputer.mvn._validate.prepare`, ``init`` by :func:`imputer.fit_mixed`); the table
holds their default and help.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from imputer.errors import ImputerTypeError, ImputerValueError

__all__ = ["DISPERSE_OPTIONS", "MIXED_OPTIONS", "MI_OPTIONS", "MVN_OPTIONS", "Option", "OptionTable"]

Kind = Literal["real", "integer", "boolean", "choice", "labels", "values"]
Wording = Literal["symbolic", "plain"]

#: kinds checked by :meth:`Option.check` (the others depend on the data)
CHECKED_KINDS = frozenset({"real", "integer", "boolean", "choice"})


def _is_bool(value: Any) -> bool:
    """True for ``bool`` and NumPy's ``bool_`` (NumPy is not imported for the check: a value
    cannot be a NumPy boolean unless NumPy was imported already)."""
    if isinstance(value, bool):
        return True
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.bool_)


def _magnitude(value: numbers.Real) -> str:
    """``value``'s order of magnitude, ``"about -1e+400"`` (exact for a Rational of any size;
    empty where it cannot be had)."""
    try:
        if isinstance(value, numbers.Rational):
            exponent = math.log10(abs(value.numerator)) - math.log10(value.denominator)
        else:
            exponent = math.log10(abs(value))
    except (ArithmeticError, TypeError, ValueError):
        return ""
    return f"about {'-' if value < 0 else ''}1e{math.floor(exponent):+d}"


def _show(value: Any) -> str:
    """``repr(value)`` for a message; its order of magnitude where Python refuses the repr
    (an int of more than 4,300 digits, ``sys.get_int_max_str_digits``)."""
    try:
        return repr(value)
    except ValueError:
        name = type(value).__name__
        what = f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"
        magnitude = _magnitude(value) if isinstance(value, numbers.Real) else ""
        return f"{what} of {magnitude}" if magnitude else what


def _too_large(value: numbers.Real) -> str:
    """``value`` (too large for a float) described by its order of magnitude, not its digits
    (a huge int's repr is as long as the number, and past 4,300 digits Python refuses it)."""
    magnitude = _magnitude(value)
    return f"a value too large for a float ({magnitude})" if magnitude else "a value too large for a float"


@dataclass(frozen=True)
class Option:
    """One option: what it accepts, its default and its help text.

    Attributes
    ----------
    name : str
        Keyword-argument name (``max_iter``; the command line spells it ``--max-iter``).
    kind : {"real", "integer", "boolean", "choice", "labels", "values"}
        ``real``: a finite real number (not a bool); ``integer``: an integral number (not
        a bool); ``boolean``: True or False; ``choice``: one of ``choices``; ``labels``
        (a list of column names) and ``values`` (anything else) are checked by the engine.
    default : object
        Value used when the option is not given.
    help : str
        One plain-text description (no markup), shown by ``--help``, in the OpenAPI
        document and first in the docstrings' ``Parameters`` entry.
    low : float, optional
        Lower bound of a ``real`` or ``integer`` option.
    low_open : bool, default False
        The bound is exclusive (``value > low``) rather than inclusive (``value >= low``).
    choices : tuple of str
        Allowed values of a ``choice`` option.
    wording : {"symbolic", "plain"}
        Wording of the error messages (see the module docstring). ``"plain"`` words the
        bounds ``> 0`` (real) and ``>= 1`` (integer) as "positive".
    """

    name: str
    kind: Kind
    default: Any
    help: str
    low: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    wording: Wording = "symbolic"

    def __post_init__(self) -> None:
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"option {self.name}: default {self.default!r} is not a choice")
        if self.wording == "plain" and self.kind in ("real", "integer"):
            plain = (0.0, True) if self.kind == "real" else (1.0, False)
            if (self.low, self.low_open) != plain:
                raise ValueError(f"option {self.name}: plain wording needs the bound > 0 (real) or >= 1 (integer)")
        if self.kind in CHECKED_KINDS and self.default is not None:
            self.check(self.default)  # a default must pass its own check

    @property
    def checked(self) -> bool:
        """Whether :meth:`check` validates this option (kinds real, integer, boolean, choice)."""
        return self.kind in CHECKED_KINDS

    @property
    def bound(self) -> str:
        """The lower bound as text, ``"> 0"`` or ``">= 1"`` (empty when unbounded)."""
        if self.low is None:
            return ""
        low = int(self.low) if self.kind == "integer" else self.low
        return f"{'>' if self.low_open else '>='} {low:g}"

    def check(self, value: Any) -> Any:
        """Validate ``value``; return it as ``float``, ``int``, ``bool`` or ``str`` by kind.

        Raises
        ------
        ImputerTypeError
            Wrong type (a bool where a number is expected, a string, ...).
        ImputerValueError
            Out of range (not finite, below the bound) or not one of the choices.
        """
        if self.kind == "real":
            return self._check_real(value)
        if self.kind == "integer":
            return self._check_integer(value)
        if self.kind == "boolean":
            if not _is_bool(value):
                raise ImputerTypeError(f"{self.name} must be True or False, got {value!r}")
            return bool(value)
        if self.kind == "choice":
            if isinstance(value, str) and value not in self.choices:
                # case-insensitive where unambiguous: method="reml" is "REML"
                folded = [c for c in self.choices if c.casefold() == value.casefold()]
                if len(folded) == 1:
                    return folded[0]
            if not isinstance(value, str) or value not in self.choices:
                raise ImputerValueError(f"{self.name} must be one of {list(self.choices)!r}, got {value!r}")
            return value
        raise TypeError(f"option {self.name} of kind {self.kind!r} is checked by its engine")

    def _in_range(self, x: float) -> bool:
        if self.low is None:
            return True
        return x > self.low if self.low_open else x >= self.low

    def _check_real(self, value: Any) -> float:
        if _is_bool(value) or not isinstance(value, numbers.Real):
            if self.wording == "plain":
                raise ImputerTypeError(f"{self.name} must be a positive number, got {value!r}")
            raise ImputerTypeError(f"{self.name} must be a real number, got {type(value).__name__} {value!r}")
        try:
            x, overflow = float(value), False
        except OverflowError:  # an int (or Fraction) beyond float's range: not finite as a float
            x, overflow = math.nan, True
        if not (math.isfinite(x) and self._in_range(x)):
            shown = _too_large(value) if overflow else _show(value)
            if self.wording == "plain":
                raise ImputerValueError(f"{self.name} must be a positive finite number, got {shown}")
            bound = f" {self.bound}" if self.bound else ""
            raise ImputerValueError(f"{self.name} must be a finite number{bound}, got {shown}")
        return x

    def _check_integer(self, value: Any) -> int:
        if _is_bool(value) or not isinstance(value, numbers.Integral):
            if self.wording == "plain":
                raise ImputerTypeError(f"{self.name} must be a positive integer, got {value!r}")
            raise ImputerTypeError(f"{self.name} must be an integer, got {type(value).__name__} {value!r}")
        if not self._in_range(int(value)):
            if self.wording == "plain":
                raise ImputerValueError(f"{self.name} must be a positive integer, got {_show(value)}")
            raise ImputerValueError(f"{self.name} must be {self.bound}, got {_show(value)}")
        return int(value)


class OptionTable(Mapping[str, Option]):
    """The options of one engine, by name, in declaration order (read only).

    Parameters
    ----------
    owner : str
        The public function the options belong to (for messages and docs).
    options : iterable of Option
    """

    def __init__(self, owner: str, options: Iterable[Option]) -> None:
        self.owner = owner
        self._options = {o.name: o for o in options}

    def __getitem__(self, name: str) -> Option:
        return self._options[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def __repr__(self) -> str:
        return f"OptionTable({self.owner!r}, {list(self._options)})"

    def defaults(self) -> dict[str, Any]:
        """Default value of every option, by name."""
        return {name: o.default for name, o in self._options.items()}

    def check(self, **values: Any) -> dict[str, Any]:
        """Validate the given options in the table's order; return them coerced.

        Parameters
        ----------
        **values
            Option values by name (a subset of the table's checked options).

        Returns
        -------
        dict
            The same names, values coerced by :meth:`Option.check`.

        Raises
        ------
        ImputerTypeError, ImputerValueError
            The first invalid option in the table's order, named in the message.
        """
        unknown = [k for k in values if k not in self._options]
        if unknown:
            raise TypeError(f"{self.owner}: no option(s) {unknown}")
        return {name: o.check(values[name]) for name, o in self._options.items() if name in values}


_ACCELERATE_HELP = (
    "SQUAREM acceleration of EM, and Newton steps on EM's fixed point where EM is slow (scalar "
    "components), with a safeguard that never lets the objective decrease; off runs plain EM."
)
_MVN_ACCELERATE_HELP = (
    "Acceleration of EM (Anderson for the normal model, SQUAREM for the t) with a safeguard "
    "that never lets the objective decrease; off runs plain EM."
)

#: Options of :func:`imputer.impute` and :class:`imputer.EMImputer` (multivariate normal).
MVN_OPTIONS = OptionTable(
    "impute",
    [
        Option(
            "columns",
            "labels",
            None,
            "Columns to model (numeric, in this order); default: every numeric column. "
            "Other columns are carried through unchanged.",
        ),
        Option(
            "tol",
            "real",
            1e-7,
            "Convergence tolerance, in standard-deviation units: EM stops when one EM step "
            "changes no mean or covariance entry by more than tol, times (1 - the EM rate "
            "estimated along the way) for the accelerated normal model, so that its estimate "
            "is within about tol of the maximiser.",
            low=0.0,
            low_open=True,
        ),
        Option(
            "max_iter",
            "integer",
            1000,
            "Iteration limit (accelerated: accepted iterates of one or two EM steps for the "
            "normal model, SQUAREM cycles of up to three for the t); stopping there without "
            "meeting tol is a warning and converged=false.",
            low=1,
        ),
        Option(
            "ridge",
            "real",
            0.0,
            "Strength lambda >= 0 of an inverse-Wishart prior on the covariance worth lambda "
            "pseudo-rows with the observed variances and no correlation, which EM then "
            "maximises the log-posterior under; 0 is maximum likelihood, > 0 gives a "
            "positive-definite estimate for wide (p >= n) or collinear data.",
            low=0.0,
        ),
        Option(
            "prior",
            "choice",
            "ridge",
            "Convention of the ridge prior: ridge (imputer's: the covariance is (A + lambda I) / "
            "(n + lambda) on the standardised scale) or amelia (Amelia's empri: (A + lambda I) / "
            "(n + lambda + p + 2) on Amelia's scale, whose unit is the sample standard deviation), "
            "for the same estimates as Amelia with empri = ridge.",
            choices=("ridge", "amelia"),
        ),
        Option("accelerate", "boolean", True, _MVN_ACCELERATE_HELP),
    ],
)

#: Options of :func:`imputer.multiple_impute`. ``seed``, ``burn_in`` and ``thin`` accept None
#: (seed: fresh entropy; burn_in/thin: chosen from the EM rate of convergence), so they
#: are checked by :func:`imputer.mi.api.multiple_impute`; ``burn_in`` and ``thin`` through
#: their entries here when not None.
MI_OPTIONS = OptionTable(
    "multiple_impute",
    [
        Option("m", "integer", 20, "Number of imputations (completed tables).", low=1),
        Option(
            "method",
            "choice",
            "posterior",
            "posterior: data augmentation, draws from the posterior of the mean and covariance "
            "(norm2); bootstrap: EM on a bootstrap resample of the rows for each imputation (Amelia).",
            choices=("posterior", "bootstrap"),
        ),
        MVN_OPTIONS["columns"],
        MVN_OPTIONS["ridge"],
        Option(
            "seed",
            "values",
            None,
            "Seed of the random draws (an integer, or a numpy Generator); the same seed gives "
            "the same imputations. Default: fresh entropy, recorded on the result.",
        ),
        MVN_OPTIONS["tol"],
        MVN_OPTIONS["max_iter"],
        Option(
            "burn_in",
            "integer",
            None,
            "posterior: data-augmentation iterations discarded before the first imputation; "
            "default: chosen from the EM rate of convergence.",
            low=0,
        ),
        Option(
            "thin",
            "integer",
            None,
            "posterior: iterations between successive imputations; default: chosen from the EM "
            "rate of convergence.",
            low=1,
        ),
    ],
)

#: Options of :func:`imputer.disperse` (EM from overdispersed starts); the EM options are
#: :data:`MVN_OPTIONS`' entries, shared.
DISPERSE_OPTIONS = OptionTable(
    "disperse",
    [
        Option(
            "starts",
            "integer",
            5,
            "Number of EM runs: the first from the engine's own starting values, the others from "
            "overdispersed ones (see around).",
            low=2,
        ),
        Option(
            "around",
            "choice",
            "start",
            "Where the overdispersed starts are drawn: start, around the engine's own starting values "
            "(the runs take other paths, and find other maxima where there are any); estimate, around "
            "the first run's estimate (Amelia's disperse: shows a saddle point, rarely a distant maximum).",
            choices=("start", "estimate"),
        ),
        MVN_OPTIONS["columns"],
        MVN_OPTIONS["ridge"],
        MVN_OPTIONS["prior"],
        Option(
            "seed",
            "values",
            None,
            "Seed of the overdispersed starting values (a non-negative integer); the same seed "
            "gives the same starts. Default: fresh entropy, recorded on the result.",
        ),
        Option(
            "atol",
            "real",
            1e-4,
            "Two runs ended at the same point when their estimates differ by at most atol in "
            "standard-deviation units (every mean and covariance entry); keep it well above tol.",
            low=0.0,
            low_open=True,
        ),
        MVN_OPTIONS["tol"],
        MVN_OPTIONS["max_iter"],
        MVN_OPTIONS["accelerate"],
    ],
)

#: Options of :func:`imputer.fit_mixed` and :func:`imputer.fit_mixed_frame`.
#: ``tol``: where EM is slow (Pastes: rate ~0.9) the distance to the optimum is ~10x the
#: last step, so 1e-10 leaves the estimate within ~1e-9 relative of the exact REML solution.
MIXED_OPTIONS = OptionTable(
    "fit_mixed",
    [
        Option(
            "method",
            "choice",
            "REML",
            "REML (restricted maximum likelihood) or ML (full maximum likelihood).",
            choices=("REML", "ML"),
        ),
        Option(
            "tol",
            "real",
            1e-10,
            "Convergence tolerance: the fit stops when no variance component is estimated to be "
            "more than tol, relative to its value, from the optimum: one EM step's change; where "
            "EM is slow and Newton steps are taken (scalar components), that change divided by "
            "one minus EM's rate, or the last Newton step's.",
            low=0.0,
            low_open=True,
            wording="plain",
        ),
        Option(
            "max_iter",
            "integer",
            10_000,
            "Iteration limit (outer EM iterations); stopping there without meeting tol is a "
            "warning and converged=false.",
            low=1,
            wording="plain",
        ),
        Option(
            "init",
            "values",
            None,
            "Starting variances of the components and of 'residual' (all > 0); default: the "
            "residual variance of the OLS fit, shared equally.",
        ),
        Option("accelerate", "boolean", True, _ACCELERATE_HELP, wording="plain"),
    ],
)
