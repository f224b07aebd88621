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

Rows: when ``y`` is a pandas object (Series, one-column DataFrame), a labelled ``X`` or
``Z`` (DataFrame or Series) is paired with it by label, so its index must equal ``y``'s
(whatever the index types: a default RangeIndex on both is fine); positional pairing is
only for a plain array on one side (``.to_numpy()`` asks for it on purpose). ``K`` is
over levels, not rows: a labelled ``K`` is matched to a labelled ``Z``'s columns.

Identifiability (:func:`check_informative`): a term whose observed-row design lies in
the column span of the observed-row ``X`` is refused (see :func:`check_informative`).

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
import scipy.linalg
import scipy.sparse as sp

from imputer._threads import single_blas_thread
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mixed._zeta import as_float, check_rows, coerce_Z, finite_or_raise, is_matrix_list, multi_Z
from imputer.options import MIXED_OPTIONS

__all__ = [
    "Component",
    "Problem",
    "build_problem",
    "check_informative",
    "check_labels",
    "check_method",
    "confounded_error",
    "check_options",
    "factor_kernel",
    "variance_labels",
    "METHODS",
]

#: The estimation methods (the choices of :data:`~imputer.options.MIXED_OPTIONS` ``method``).
METHODS = MIXED_OPTIONS["method"].choices
_SYM_RTOL = 1e-8
_PSD_RTOL = 1e-8
#: A term's observed-row design counts as lying in the column span of the observed-row
#: ``X`` when its part orthogonal to ``X`` is below this, relative (:func:`_in_span_of_X`).
_SPAN_RTOL = 1e-10
#: Random combinations of each effect's columns that :func:`_in_span_of_X` projects.
_SPAN_PROBES = 2
#: Columns of ``[X, probes]`` up to which its QR runs on one BLAS thread (a tall, thin QR
#: of 100,000 x 8: 6-10 ms on one thread, 70-90 ms on two busy cores).
_SPAN_ONE_THREAD = 64


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


def _coerce_X(
    X: Any, n: int, index: pd.Index | None, observed: np.ndarray, *, labelled: bool | None = None
) -> tuple[np.ndarray, list[str]]:
    """``X`` as a float (n, p) array and its column labels.

    ``index``: y's row labels; ``labelled``: whether y is a pandas object, whose rows a
    labelled X must then match (:func:`~imputer.mixed._zeta.check_rows`; False or an
    ``index`` of None: paired by position). None keeps the multi-trait caller's older
    rule, which cannot tell an array's stand-in RangeIndex from a Series' own: labelled
    unless ``index`` is a RangeIndex.
    """
    if labelled is None:
        labelled = not isinstance(index, pd.RangeIndex)
    if not labelled:
        index = None
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
        check_rows(X.index, index, "X", "X's index does not match y's index")
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
    comps = [_coerce_component(k, v, n, index) for k, v in items]
    check_labels(comps, names, "ZETA: components", "rename one of them")
    return comps


def variance_labels(c: Component) -> list[str]:
    """Term ``c``'s labels in ``var_comp``: its name for a scalar term or its intercept,
    ``"name.effect"`` for its other effects (the rule :mod:`imputer.mixed._output` writes)."""
    if c.effects is None:
        return [c.name]
    return [c.name if e == "(Intercept)" else f"{c.name}.{e}" for e in c.effects]


def check_labels(comps: list[Component], terms: list[str], what: str, remedy: str) -> None:
    """No two terms may share a ``var_comp`` label (:func:`variance_labels`).

    ``terms`` are the terms as the user gave them (one per component), named in the
    message after ``what`` (e.g. ``"random: terms"``); ``remedy`` ends it.
    """
    owner: dict[str, tuple[str, Component]] = {}
    for term, c in zip(terms, comps):
        for label in variance_labels(c):
            if label in owner:
                other, oc = owner[label]
                raise ImputerValueError(
                    f"{what} {other!r} and {term!r} would both be labelled {label!r} in var_comp "
                    f"(named {oc.name!r} and {c.name!r}; a term's effect e other than the intercept "
                    f"is labelled 'name.e'); {remedy}"
                )
            owner[label] = (term, c)


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
    labels = index if isinstance(y, (pd.Series, pd.DataFrame)) else None  # None: pair by position
    n = yv.shape[0]
    observed = ~np.isnan(yv)
    n_obs = int(observed.sum())
    if n_obs == 0:
        raise ImputerValueError("y: all values are missing")
    Xv, names = _coerce_X(X, n, index, observed, labelled=labels is not None)
    if n_obs <= Xv.shape[1]:
        raise ImputerValueError(
            f"y: only {n_obs} observed values for {Xv.shape[1]} fixed effects: "
            "need more observed y than fixed effects"
        )
    comps = _components(ZETA, n, labels)
    check_informative(comps, observed, Xv)
    return Problem(y=yv, X=Xv, x_names=names, components=comps, index=index, observed=observed)


def check_informative(comps: list[Component], observed: np.ndarray, X: np.ndarray | None = None) -> None:
    """Every random effect's variance must be identifiable from the observed ``y``.

    A ``Z`` that is zero on all observed rows leaves the likelihood constant in that
    variance component. With ``K = I`` and every observed row in a level of its own
    (``Z_o Z_o' = c I``), ``V = (c s2_u + s2_e) I`` depends on the two variances only
    through their sum, so they cannot be told apart (lme4 refuses such a model too).
    A term with several effects per level and ``K = I`` needs more observed ``y`` than
    random effects (``q d``), lme4's rule; each of its effects must be non-zero somewhere.

    With ``X`` (n, p) (full column rank on the observed rows) given: an effect whose
    observed-row design ``Z_a L`` (``K = L L'``) lies in the column span of the observed-row
    ``X`` -- a single-level grouping factor, one level with observed ``y``, a grouping factor
    that is also a fixed factor -- is confounded with the fixed effects: ``Z u`` is
    absorbed by ``X b``, the REML likelihood does not depend on its variance and EM would
    return its start as a converged estimate. See :func:`_in_span_of_X`.
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
    if X is not None and comps:
        _check_not_confounded(comps, observed, X)


def _in_span_of_X(comps: list[Component], observed: np.ndarray, X: np.ndarray) -> list[list[int]]:
    """Per term, the effects whose observed-row design ``Z_a L`` lies in the span of the observed-row ``X``.

    Exact projection of every column would cost ``O(n p q)`` time and ``O(n q)`` memory
    (thousands of marker columns, or ``Z = I`` with a kernel, make that huge), so each
    effect is probed by ``_SPAN_PROBES`` seeded random combinations ``V = Z_a L G``
    (``G`` standard normal): if ``Z_a L`` lies in span(X) so does every ``V``; if not, a
    random combination lies in it with probability zero. One Householder QR of
    ``[X, V_1, V_2, ...]``, every column scaled to unit norm (``O(n (p + m)^2)``, ``m`` the
    probes of all effects, on one BLAS thread when thin), gives ``||(I - P_X) V||`` as the
    norm of ``V``'s columns of ``R`` below row ``p``; ``Z_a L`` counts as in span(X) when
    that is at most ``_SPAN_RTOL = 1e-10`` of ``||V||`` (rounding leaves ~1e-15 for an
    exact span, a genuinely separate term far more). Forming ``V`` costs
    ``O(nnz(Z) m + q^2 m)`` (``q^2`` with a kernel). 100,000 rows and two crossed
    factors: about 5 ms.
    """
    rows = slice(None) if observed.all() else observed
    Xo = X[rows]
    n, p = Xo.shape
    blocks = [(i, a) for i, c in enumerate(comps) for a in range(c.d)]
    k = _SPAN_PROBES
    A = np.empty((n, p + k * len(blocks)), order="F")  # LAPACK's layout: no copy in qr
    A[:, :p] = Xo
    rng = np.random.default_rng(20240611)
    col = p
    for c in comps:
        Zo = c.Z[rows]
        zmax = float(np.max(np.abs(Zo.data))) if Zo.nnz else 1.0
        for a in range(c.d):
            G = rng.standard_normal((c.q, k)) / zmax  # Z's entries may reach 1e308
            if c.eig is not None:
                w, Q = c.eig
                G = Q @ (np.sqrt(w)[:, None] * G)
            A[:, col : col + k] = (Zo[:, a :: c.d] if c.d > 1 else Zo) @ G
            col += k
    _unit_columns(A)  # neither the span nor the ratios change; the squares cannot overflow
    # mode "raw": the economic R without forming Q (mode "r" returns all n rows of R)
    with single_blas_thread(A.shape[1] <= _SPAN_ONE_THREAD):
        R = scipy.linalg.qr(A, mode="raw", overwrite_a=True, check_finite=False)[1]
    out: list[list[int]] = [[] for _ in comps]
    for b, (i, a) in enumerate(blocks):
        cols = slice(p + b * k, p + (b + 1) * k)
        # Q is orthogonal: ||V|| is the norm of its columns of R, ||(I - P_X) V|| of their rows below p
        if np.linalg.norm(R[p:, cols]) <= _SPAN_RTOL * np.linalg.norm(R[:, cols]):
            out[i].append(a)
    return out


def _unit_columns(A: np.ndarray) -> None:
    """Scale each column of ``A`` in place to unit norm (zero columns stay zero), without overflow."""
    big = np.max(np.abs(A), axis=0) if A.shape[0] else np.zeros(A.shape[1])
    big[~(big > 0) | ~np.isfinite(big)] = 1.0
    A /= big
    norm = np.sqrt(np.einsum("ij,ij->j", A, A))
    norm[norm == 0] = 1.0
    A /= norm


def _check_not_confounded(comps: list[Component], observed: np.ndarray, X: np.ndarray) -> None:
    """Raise for the first term with an effect in the span of ``X`` (:func:`_in_span_of_X`), saying why."""
    for c, effects in zip(comps, _in_span_of_X(comps, observed, X)):
        if not effects:
            continue
        Zo = c.Z[observed].tocsr()
        Zo.eliminate_zeros()
        raise confounded_error(c, effects, np.unique(Zo.indices // c.d))


def confounded_error(c: Component, effects: list[int], used: np.ndarray) -> ImputerValueError:
    """The error for term ``c`` whose ``effects`` lie in the span of ``X``; ``used``: the
    levels (positions) with observed ``y``. Shared with the Dask path (:mod:`imputer.dask.mixed`)."""
    level = c.levels[used[:1]].tolist()[0] if used.size else None  # a Python scalar: 1, not np.int64(1)
    if c.eig is None and used.size == 1 and c.q == 1:
        why = f"it has a single level ({level!r})"
        fix = ("a random effect needs two or more levels (lme4: grouping factors must have > 1 sampled level); "
               "drop the term")
    elif c.eig is None and used.size == 1:
        why = f"only its level {level!r} has observed y"
        fix = "a random effect needs observed y in two or more of its levels; drop the term"
    else:
        why = "it is confounded with the fixed effects"
        why += " (e.g. its grouping factor is also a fixed effect)" if c.eig is None else ""
        fix = "drop the term or the fixed effects it duplicates"
    what = f"random effect '{c.name}'"
    if c.d > 1:
        what += f", effect(s) {[c.effects[a] for a in effects]},"
    design = "Z" if c.eig is None else "Z (times K's factor)"
    return ImputerValueError(
        f"{what} cannot be estimated: {why}, so its {design} on the rows with observed y lies in the "
        f"column span of the fixed effects X, which absorb it (the REML likelihood does not depend on "
        f"its variance); {fix}"
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
