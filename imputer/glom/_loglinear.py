r"""Log-linear cell probabilities (private): main effects plus all pairwise associations, fitted by IPF.

Model (Schafer 1997, ch. 8 and 9.3; Bishop, Fienberg & Holland 1975). With ``J``
categorical columns the cell probabilities are

.. math::

    \log \pi_c = \lambda_0 + \sum_j \lambda_j(c_j) + \sum_{j<k} \lambda_{jk}(c_j, c_k),

every association of three or more columns set to zero (with ``J <= 2`` this is the
saturated multinomial). The sufficient statistics are the two-way margins of the cell
counts (the one-way margin with ``J = 1``), and given counts ``N_c`` the maximum
likelihood estimate is the ``pi`` in the model whose margins equal ``N``'s margins
divided by ``n``. Iterative proportional fitting (IPF; Deming & Stephan 1940) reaches it
from any ``pi`` in the model by scaling the table to each margin in turn,

.. math::

    \pi_c \leftarrow \pi_c\, \frac{\hat m_{jk}(c_j, c_k)}{m_{jk}(\pi)(c_j, c_k)} ,

each scaling a conditional maximisation of the complete-data log-likelihood over the
``(j, k)`` terms given the others, and multiplying by a function of ``(c_j, c_k)`` keeps
``pi`` in the model. In EM with missing cells the E-step gives expected counts ``N_c``,
and IPF cycles from the current ``pi`` to their margins form the M-step: an ECM
algorithm (Meng & Rubin 1993), which never decreases the observed-data log-likelihood
and has EM's fixed points. A margin that is zero makes its cells' probability zero
(the estimate on the boundary, as for the saturated multinomial).

Posterior draws (data augmentation, :func:`bayes_ipf`): Bayesian IPF (Gelman, Carlin,
Stern & Rubin 1995; Schafer 1997, ch. 8.4.3) under the constrained Dirichlet prior with
every hyperparameter ``alpha_c = 1/2`` (the saturated model's Jeffreys prior). From the
current ``pi`` in the model and complete-data counts ``N_c``, one cycle over the margins
draws, for each margin ``S``, new margin probabilities ``g_S ~ Dirichlet(a_S)`` with
``a_S(s) = sum_{c in s} (N_c + alpha_c - 1) + 1 = N_S(s) + 1 - K_S/2`` (``K_S`` cells per
margin cell) and scales the table to them, ``pi_c <- pi_c g_S(c_S) / m_S(pi)(c_S)``. Each
scaling keeps ``pi`` in the model and draws the ``S`` terms from their conditional
posterior given the others, so the cycle is a Gibbs step whose stationary distribution is
the posterior under the pairwise model (with one or two categorical columns: exactly
``Dirichlet(N_c + 1/2)``, the saturated model's draw). A shape ``a_S(s) <= 0`` (a margin
cell with fewer than ``K_S/2 - 1`` rows) makes that posterior improper.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["IPF_CYCLES", "IPF_TOL", "MARGIN_PRIOR", "bayes_ipf", "ipf", "margin_shapes", "margins_of", "n_free"]

#: At most this many IPF cycles per M-step (one already makes ECM monotone).
IPF_CYCLES = 50
#: IPF stops when no fitted margin differs from its target by more than this (probability units).
IPF_TOL = 1e-13
#: The constrained Dirichlet's hyperparameter of every cell in :func:`bayes_ipf` (Jeffreys).
MARGIN_PRIOR = 0.5


def margins_of(n_columns: int) -> tuple[tuple[int, ...], ...]:
    """The margins of the pairwise model: every pair of columns (the one column when ``J = 1``)."""
    if n_columns == 1:
        return ((0,),)
    return tuple(itertools.combinations(range(n_columns), 2))


def n_free(shape: tuple[int, ...]) -> int:
    """Free probabilities of the pairwise model: ``sum_j (L_j - 1) + sum_{j<k} (L_j - 1)(L_k - 1)``."""
    d = [s - 1 for s in shape]
    return sum(d) + sum(a * b for a, b in itertools.combinations(d, 2))


def _margin(table: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    other = tuple(a for a in range(table.ndim) if a not in axes)
    return table.sum(axis=other, keepdims=True)


def ipf(
    target: np.ndarray, start: np.ndarray, shape: tuple[int, ...], *, cycles: int = IPF_CYCLES, tol: float = IPF_TOL
) -> np.ndarray:
    """IPF of ``start`` to the pairwise margins of ``target``.

    Parameters
    ----------
    target : ndarray, shape (C,)
        Cell proportions whose margins are matched (expected counts over ``n``; sum 1).
    start : ndarray, shape (C,)
        Probabilities in the model (the current ``pi``; uniform for a fresh fit).
    shape : tuple of int
        Level counts ``(L_1, ..., L_J)``, cells in C order.
    cycles : int
        At most this many cycles over the margins (at least one is run).
    tol : float
        Stop after a cycle in which every margin was within ``tol`` of the target's before
        its scaling.

    Returns
    -------
    ndarray, shape (C,)
        The fitted probabilities (sum 1), in the model whenever ``start`` is.
    """
    margins = margins_of(len(shape))
    tab = start.reshape(shape).copy()
    goal = target.reshape(shape)
    want = [_margin(goal, m) for m in margins]
    for _ in range(max(cycles, 1)):
        gap = 0.0  # the largest margin misfit met in this cycle, before its scaling
        for m, w in zip(margins, want):
            have = _margin(tab, m)
            gap = max(gap, float(np.abs(w - have).max()))
            ratio = np.divide(w, have, out=np.zeros_like(w), where=have > 0.0)
            tab *= ratio
        if gap <= tol:
            break
    out = tab.reshape(-1)
    return out / out.sum()


def margin_shapes(counts: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
    """The Dirichlet parameters ``a_S`` of every margin's draw in :func:`bayes_ipf` (module docstring).

    Parameters
    ----------
    counts : ndarray, shape (C,)
        Complete-data cell counts ``N_c``.
    shape : tuple of int
        Level counts ``(L_1, ..., L_J)``, cells in C order.

    Returns
    -------
    list of ndarray
        One per margin of :func:`margins_of`, shaped as the margin (kept dimensions of size 1).
    """
    n = counts.reshape(shape) + (MARGIN_PRIOR - 1.0)
    return [_margin(n, m) + 1.0 for m in margins_of(len(shape))]


def bayes_ipf(counts: np.ndarray, current: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray | None:
    """One cycle of Bayesian IPF: a draw of the pairwise model's ``pi`` given complete-data counts.

    Parameters
    ----------
    counts : ndarray, shape (C,)
        Complete-data cell counts ``N_c``.
    current : ndarray, shape (C,)
        The chain's current probabilities, in the model.
    shape : tuple of int
        Level counts ``(L_1, ..., L_J)``, cells in C order.
    rng : numpy.random.Generator
        Consumed in order: for each margin of :func:`margins_of`, one gamma per margin cell (C order).

    Returns
    -------
    ndarray, shape (C,), or None
        The drawn probabilities (sum 1), in the model; None when a margin's shape is not
        positive (the posterior is improper, module docstring).
    """
    shapes = margin_shapes(counts, shape)
    if any(a.min() <= 0.0 for a in shapes):
        return None
    tab = current.reshape(shape).copy()
    for m, a in zip(margins_of(len(shape)), shapes):
        g = rng.gamma(a)
        have = _margin(tab, m)
        tab *= np.divide(g / g.sum(), have, out=np.zeros_like(have), where=have > 0.0)
    out = tab.reshape(-1)
    return out / out.sum()
