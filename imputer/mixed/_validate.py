"""Validation and coercion of the inputs of :func:`imputer.fit_mixed`.

Turns ``y``, ``X`` and ``ZETA`` (arrays, scipy.sparse matrices or pandas objects)
into one clean :class:`Problem`: float arrays, CSR incidence matrices, labels for
every fixed effect, component and level, and a factor ``K_i = L_i L_i'`` of each
relationship matrix. Every failure raises :class:`~imputer.errors.ImputerValueError`
or :class:`~imputer.errors.ImputerTypeError` naming the argument at fault.

Relationship matrices are factored by their eigendecomposition
``K = Q diag(w) Q'``: eigenvalues ``w_j <= q * eps * max(w)`` (``eps`` the float64
machine epsilon) are treated as exact zeros and dropped, so ``L = Q_+ diag(sqrt(w_+))``
has ``rank(K)`` columns. A singular or near-singular ``K`` therefore needs no jitter:
the random effect lives exactly on the range of ``K``. ``K`` is *not* positive
semi-definite when ``min(w) < -1e-8 * max(|w|)``; smaller negative eigenvalues are
rounding noise and are dropped with the zeros.

The fitting options (``method``, ``tol``, ``max_iter``, ``accelerate``) are checked
against :data:`imputer.options.MIXED_OPTIONS` by :func:`check_method` and
:func:`check_options`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mixed._zeta import as_float, coerce_Z, finite_or_raise, is_matrix_list, multi_Z
from imputer.options import MIXED_OPTIONS

__all__ = [
    "Component",
    "Problem",
    "build_problem",
    "check_informative",
    "check_method",
    "check_options",
    "factor_kernel",
    "METHODS",
]

#: The estimation methods (the choices of :data:`~imputer.options.MIXED_OPTIONS` ``method``).
METHODS = MIXED_OPTIONS["method"].choices
_SYM_RTOL = 1e-8
_PSD_RTOL = 1e-8


@dataclass(frozen=True)
class Component:
    """One random term ``Z u`` with ``u ~ N(0, K (x) G)`` (``G = s2`` for a scalar term).

    ``Z`` is CSR, shape (n, q d), its columns in level-major order (column ``l d + a`` is
    effect ``a`` of level ``l``); ``eig`` is ``None`` when ``K`` (q x q, over levels) is the
    identity, else the eigendecomposition ``(w, Q)`` of ``K`` (ascending, negligible
    eigenvalues set to 0); ``levels`` labels the q levels. ``effects`` names the ``d``
    effects of a term with a covariance matrix (bar notation ``(x | g)``, or a ZETA entry
    with several ``Z``); None for a classic scalar term (``d = 1``). ``structure`` is
    ``"us"`` (unstructured ``G``) or ``"diag"`` (independent effects, lme4's ``||``).
    """

    name: str
    Z: sp.csr_matrix
    eig: tuple[np.ndarray, np.ndarray] | None
    levels: pd.Index
    effects: tuple[str, ...] | None = None
    structure: str = "us"

    @property
    def d(self) -> int:
        """Effects per level."""
        return 1 if self.effects is None else len(self.effects)

    @property
    def q(self) -> int:
        """Number of levels."""
        return int(self.Z.shape[1]) // self.d

    @functools.cached_property
    def L(self) -> np.ndarray | None:
        """Factor ``L``, shape (q, rank(K)), with ``K = L L'``; None for the identity."""
        if self.eig is None:
            return None
        w, Q = self.eig
        keep = w > 0
        return Q[:, keep] * np.sqrt(w[keep])

    @functools.cached_property
    def L_full(self) -> np.ndarray | None:
        """``L (x) I_d``, shape (q d, rank(K) d), the factor in ``Z``'s column order; None for the identity."""
        L = self.L
        if L is None or self.d == 1:
            return L
        return np.kron(L, np.eye(self.d))

    @property
    def r(self) -> int:
        """Number of levels in the factored form: ``rank(K)``."""
        return self.q if self.eig is None else int(np.count_nonzero(self.eig[0] > 0))


@dataclass(frozen=True)
class Problem:
    """Clean inputs: ``y`` (n,) with NaN for missing, ``X`` (n, p), the components (and, from a
    table, the dropped rows and the coding of the fixed factors)."""

    y: np.ndarray
    X: np.ndarray
    x_names: list[str]
    components: list[Component]
    index: pd.Index
    observed: np.ndarray
    #: row labels dropped for missing covariates or grouping factors (``na_action="drop"``)
    dropped: tuple = ()
    #: each fixed-effect factor -> its coding (``"treatment"`` or ``"poly"``)
    contrasts: Mapping[str, str] = field(default_factory=dict)

    @property
    def n_obs(self) -> int:
        return int(self.observed.sum())


def check_method(method: Any) -> str:
    """Validate ``method`` (``"REML"`` or ``"ML"``); raise :class:`ImputerValueError` otherwise."""
    return MIXED_OPTIONS["method"].check(method)


def check_options(tol: Any, max_iter: Any, accelerate: Any) -> tuple[float, int]:
    """Validate ``tol``, ``max_iter`` and ``accelerate``; return ``(float(tol), int(max_iter))``.

    Raises
    ------
    ImputerTypeError, ImputerValueError
        The first invalid option, named in the message.
    """
    o = MIXED_OPTIONS.check(tol=tol, max_iter=max_iter, accelerate=accelerate)
    return o["tol"], o["max_iter"]


def _coerce_y(y: Any) -> tuple[np.ndarray, pd.Index]:
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ImputerValueError(f"y must be one column, got a DataFrame with {y.shape[1]}")
        y = y.iloc[:, 0]
    if isinstance(y, pd.Series):
        index = y.index
        arr = as_float(y.to_numpy(dtype=float, na_value=np.nan), "y")
    else:
        arr = as_float(y, "y")
        index = pd.RangeIndex(arr.shape[0] if arr.ndim else 0)
    if arr.ndim != 1:
        arr = arr.squeeze() if arr.ndim == 2 and 1 in arr.shape else arr
        if arr.ndim != 1:
            raise ImputerValueError(f"y must be 1-D, got shape {np.shape(y)}")
    if np.any(np.isinf(arr)):
        raise ImputerValueError("y contains infinite values (use NaN for missing)")
    return arr.copy(), index


def _coerce_X(X: Any, n: int, index: pd.Index, observed: np.ndarray) -> tuple[np.ndarray, list[str]]:
    if X is None:
        return np.ones((n, 1)), ["(Intercept)"]
    if sp.issparse(X):
        X = X.toarray()
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        if len(set(names)) != len(names):
            raise ImputerValueError(f"X column names are not unique: {names}")
        bad = [str(c) for c in X.columns if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
        if bad:
            raise ImputerTypeError(f"X column(s) {bad} are not numeric")
        if not isinstance(index, pd.RangeIndex) and len(X) == n and not X.index.equals(index):
            raise ImputerValueError("X's index does not match y's index")
        arr = X.to_numpy(dtype=float, na_value=np.nan)
    else:
        arr = as_float(X, "X")
        if arr.ndim == 1:
            arr = arr[:, None]
        names = [f"x{j + 1}" for j in range(arr.shape[1])] if arr.ndim == 2 else []
    if arr.ndim != 2:
        raise ImputerValueError(f"X must be 2-D (n, p), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ImputerValueError(f"X has {arr.shape[0]} rows but y has {n}")
    if arr.shape[1] == 0:
        raise ImputerValueError("X has no columns: give at least one fixed effect (e.g. an intercept)")
    if np.any(np.isnan(arr)):
        cols = [names[j] for j in np.flatnonzero(np.isnan(arr).any(axis=0))]
        raise ImputerValueError(f"X contains NaN in column(s) {cols}")
    finite_or_raise(arr, "X")
    _check_rank(arr[observed], names)
    return arr.copy(), names


def _check_rank(Xo: np.ndarray, names: list[str]) -> None:
    from scipy.linalg import qr

    p = Xo.shape[1]
    if Xo.shape[0] == 0:
        return
    scale = np.sqrt((Xo**2).sum(axis=0))
    zero = [names[j] for j in np.flatnonzero(scale == 0)]
    if zero:
        raise ImputerValueError(
            f"X is rank-deficient: column(s) {zero} are zero on the rows with observed y"
        )
    _, R, piv = qr(Xo / scale, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > max(Xo.shape) * np.finfo(float).eps * 10 * diag[0]))
    if rank < p:
        # the columns taking part in a linear dependency: support of the null space
        _, _, vt = np.linalg.svd(Xo / scale, full_matrices=True)
        null = vt[rank:]
        involved = [names[j] for j in range(p) if np.max(np.abs(null[:, j])) > 1e-8]
        raise ImputerValueError(
            f"X is rank-deficient (rank {rank} < {p} columns on the rows with observed y): "
            f"column(s) {involved} are linearly dependent"
        )


def factor_kernel(K: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Validate a relationship matrix and eigendecompose it (None for the identity).

    Parameters
    ----------
    K : ndarray, shape (q, q)
    name : str
        Component name for messages.

    Returns
    -------
    (w, Q) or None
        Eigenvalues (q,) ascending, with the negligible ones set to exactly 0, and
        eigenvectors (q, q); None when ``K`` is exactly the identity.
    """
    q = K.shape[0]
    scale = float(np.max(np.abs(K))) if K.size else 0.0
    if scale == 0.0:
        raise ImputerValueError(f"K of random effect '{name}' is all zero")
    if np.max(np.abs(K - K.T)) > _SYM_RTOL * scale:
        raise ImputerValueError(f"K of random effect '{name}' is not symmetric")
    if np.all(np.diagonal(K) == 1.0) and np.count_nonzero(K) == q:
        return None  # exactly the identity
    try:
        w, Q = np.linalg.eigh(K)  # reads the lower triangle; K is symmetric to 1e-8
    except np.linalg.LinAlgError as exc:  # pragma: no cover - eigh on a finite symmetric matrix
        raise ImputerValueError(f"K of random effect '{name}': eigendecomposition failed ({exc})") from None
    wmax = float(np.max(np.abs(w)))
    if w[0] < -_PSD_RTOL * wmax:
        raise ImputerValueError(
            f"K of random effect '{name}' is not positive semi-definite "
            f"(smallest eigenvalue {w[0]:.3g}, largest {w[-1]:.3g})"
        )
    w = np.where(w > q * np.finfo(float).eps * wmax, w, 0.0)
    return w, Q


def _coerce_component(name: str, spec: Any, n: int, index: pd.Index | None) -> Component:
    if not isinstance(spec, Mapping):
        raise ImputerTypeError(
            f"random effect '{name}' must be a dict with keys 'Z' and optional 'K', got {type(spec).__name__}"
        )
    unknown = sorted(set(spec) - {"Z", "K", "effects", "structure"})
    if unknown:
        raise ImputerValueError(
            f"random effect '{name}' has unknown key(s) {unknown}; expected 'Z', 'K', 'effects', 'structure'"
        )
    if "Z" not in spec or spec["Z"] is None:
        raise ImputerValueError(f"random effect '{name}' has no 'Z'")
    effects: tuple[str, ...] | None = None
    structure = "us"
    if is_matrix_list(spec["Z"]):
        Zs, levels, effects, structure = multi_Z(name, spec, n, index)
        q = Zs.shape[1] // len(effects)
        z_labelled = levels is not None
    else:
        if "effects" in spec or "structure" in spec:
            raise ImputerValueError(
                f"random effect '{name}': 'effects' and 'structure' need Z as a list of matrices, one per effect"
            )
        Zs, levels = coerce_Z(spec["Z"], name, n, index)
        q = Zs.shape[1]
        z_labelled = levels is not None
    if levels is None:
        levels = pd.RangeIndex(q)
    K = spec.get("K")
    eig = None
    if K is not None:
        if isinstance(K, pd.DataFrame):
            if z_labelled:
                if not (K.index.equals(K.columns) and set(K.index) == set(levels) and len(K) == q):
                    raise ImputerValueError(
                        f"K of random effect '{name}' must be indexed (rows and columns) by Z's column labels"
                    )
                K = K.loc[levels, levels]
            K = K.to_numpy(dtype=float, na_value=np.nan)
        elif sp.issparse(K):
            K = K.toarray()
        Kd = as_float(K, f"K of random effect '{name}'")
        if Kd.ndim != 2 or Kd.shape[0] != Kd.shape[1]:
            raise ImputerValueError(f"K of random effect '{name}' must be square, got shape {Kd.shape}")
        if Kd.shape[0] != q:
            raise ImputerValueError(
                f"K of random effect '{name}' is {Kd.shape[0]} x {Kd.shape[1]} but Z has {q} columns"
            )
        finite_or_raise(Kd, f"K of random effect '{name}'")
        eig = factor_kernel(Kd, name)
    Zs.sum_duplicates()
    Zs.eliminate_zeros()
    return Component(name=name, Z=Zs, eig=eig, levels=levels, effects=effects, structure=structure)


def _components(ZETA: Any, n: int, index: pd.Index | None) -> list[Component]:
    if ZETA is None:
        return []
    if isinstance(ZETA, Mapping):
        if set(ZETA) <= {"Z", "K"} and "Z" in ZETA:
            raise ImputerTypeError("ZETA must be a list or dict of random effects, e.g. [{'Z': Z, 'K': K}]")
        items = [(str(k), v) for k, v in ZETA.items()]
    elif isinstance(ZETA, Sequence) and not isinstance(ZETA, (str, bytes)):
        items = [(f"u{i + 1}", v) for i, v in enumerate(ZETA)]
    else:
        raise ImputerTypeError(f"ZETA must be a list or dict of random effects, got {type(ZETA).__name__}")
    names = [k for k, _ in items]
    if "residual" in names:
        raise ImputerValueError("ZETA: 'residual' is reserved for the residual variance")
    if len(set(names)) != len(names):
        raise ImputerValueError(f"ZETA: component names are not unique: {names}")
    return [_coerce_component(k, v, n, index) for k, v in items]


def build_problem(y: Any, X: Any, ZETA: Any, method: str) -> Problem:
    """Validate ``fit_mixed``'s arguments into a :class:`Problem`.

    Parameters
    ----------
    y : array-like or Series, shape (n,)
    X : array-like, DataFrame or None, shape (n, p)
    ZETA : list or dict of ``{"Z": (n, q_i), "K": (q_i, q_i)}``, or None
    method : str

    Returns
    -------
    Problem
    """
    check_method(method)
    yv, index = _coerce_y(y)
    n = yv.shape[0]
    observed = ~np.isnan(yv)
    n_obs = int(observed.sum())
    if n_obs == 0:
        raise ImputerValueError("y: all values are missing")
    Xv, names = _coerce_X(X, n, index, observed)
    if n_obs <= Xv.shape[1]:
        raise ImputerValueError(
            f"y: only {n_obs} observed values for {Xv.shape[1]} fixed effects: "
            "need more observed y than fixed effects"
        )
    comps = _components(ZETA, n, None if isinstance(index, pd.RangeIndex) else index)
    check_informative(comps, observed)
    return Problem(y=yv, X=Xv, x_names=names, components=comps, index=index, observed=observed)


def check_informative(comps: list[Component], observed: np.ndarray) -> None:
    """Every random effect's variance must be identifiable from the observed ``y``.

    A ``Z`` that is zero on all observed rows leaves the likelihood constant in that
    variance component. With ``K = I`` and every observed row in a level of its own
    (``Z_o Z_o' = c I``), ``V = (c s2_u + s2_e) I`` depends on the two variances only
    through their sum, so they cannot be told apart (lme4 refuses such a model too).
    A term with several effects per level and ``K = I`` needs more observed ``y`` than
    random effects (``q d``), lme4's rule; each of its effects must be non-zero somewhere.
    """
    n_obs = int(np.sum(observed))
    for c in comps:
        Zo = c.Z[observed].tocsr()
        Zo.eliminate_zeros()
        if Zo.nnz == 0:
            raise ImputerValueError(
                f"random effect '{c.name}': Z is zero on every row with observed y, "
                "so its variance cannot be estimated"
            )
        if c.d > 1:
            present = np.zeros(c.d, dtype=bool)
            present[np.unique(Zo.indices % c.d)] = True
            if not present.all():
                missing = [c.effects[a] for a in np.flatnonzero(~present)]
                raise ImputerValueError(
                    f"random effect '{c.name}': effect(s) {missing} are zero on every row with observed y, "
                    "so their variances cannot be estimated"
                )
            if c.eig is None and n_obs <= c.q * c.d:
                raise ImputerValueError(
                    f"random effect '{c.name}': {n_obs} observed y for {c.q} levels x {c.d} effects = "
                    f"{c.q * c.d} random effects; the covariance cannot be told apart from the residual "
                    "variance (need more observations than random effects)"
                )
            continue
        if c.eig is None and _proportional_to_identity(Zo):
            raise ImputerValueError(
                f"random effect '{c.name}': every observed y is in a level of its own "
                "(Z Z' is proportional to the identity) and K is the identity, so its variance "
                "cannot be told apart from the residual variance; drop the effect or give its K"
            )


def _proportional_to_identity(Zo: sp.csr_matrix) -> bool:
    """Whether ``Zo Zo' = c I``: one equal-magnitude entry per row, no column shared."""
    row_counts = np.diff(Zo.indptr)
    if not np.all(row_counts == 1):
        return False
    if np.unique(Zo.indices).size != Zo.shape[0]:
        return False
    magnitude = np.abs(Zo.data)
    return bool(np.all(magnitude == magnitude[0]))
