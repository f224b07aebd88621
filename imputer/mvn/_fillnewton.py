r"""Newton steps on the fixed point of the missing cells' conditional means (wide data with few rows).

Why. Where ``p`` exceeds the rows, every row's observed cells predict its missing ones
almost exactly (leverage near 1), so EM's fractions of missing information approach 1
(``benchmarks/wide_iterations.py``: at ``n = 10, p = 200, ridge = 1`` the 150 largest
eigenvalues of EM's Jacobian lie in [0.990, 0.9985]) and any method built on EM steps
alone (Anderson, SQUAREM, L-BFGS) needs hundreds of evaluations. The dense Newton step
(:mod:`imputer.mvn._newton`) is out of reach with ``p(p+3)/2`` parameters. The slow
directions live, however, in the space of the ``m`` missing cells' fills, which is small
when the rows are few: the step here is Newton's on that fixed point.

The map. For fills ``z`` of the missing cells (the completed rows ``z_k``) and the
conditional covariances ``C_k`` (``C_{M_k}`` embedded) held fixed, the M-step gives

.. math::

    \mu(z) = \tfrac1n \sum_k z_k,\qquad
    \Sigma(z) = \frac{\sum_k (z_k - \mu)(z_k - \mu)^\top + \sum_k C_k + \lambda D}{n + a}

(:mod:`imputer._gaussian.prior`), and the E-step at ``(mu, Sigma)`` the new fills
``Phi_i(z) = mu_M + Sigma_MO Sigma_OO^{-1} (x_O - mu_O)`` of every incomplete row ``i``.
EM on the fills is ``z <- Phi(z)`` (with ``C`` refreshed each step).

Its Jacobian. With ``r_k = z_k - mu``, ``Lambda = Sigma^{-1}`` and the completed residual's
image ``u_i = Lambda (zhat_i - mu)`` (which is ``Sigma_OO^{-1}(x_O - mu_O)`` on ``O_i`` and 0
on ``M_i``), a change ``delta`` of the fills (row ``k``: ``d_k``, zero on ``O_k``) moves
``mu`` by ``sum_k d_k / n`` and ``Sigma`` by ``sum_k (d_k r_k' + r_k d_k') / (n + a)``, and
``P_i v = v_M - B_i v_O = C_{M_i} (Lambda v)_{M_i}`` (``B_i = Sigma_MO Sigma_OO^{-1}``) gives

.. math::

    (J \delta)_i = C_{M_i} \big(\Lambda v_i\big)_{M_i},\qquad
    v_i = \sum_k c_{ik} d_k + \frac{1}{n + a} \sum_k (d_k^\top u_i)\, r_k,\qquad
    c_{ik} = \frac1n + \frac{r_k^\top u_i}{n + a},

one product ``V Lambda`` (``n_inc x p`` by ``p x p``) and the gathered ``C_M`` blocks per
product: no E-step. The change of ``C`` with the parameters is left out (it is refreshed at
every step), so the iteration converges linearly, but at a rate set by what is left out
(about 0.15-0.5 per step on the wide benchmarks) instead of EM's 0.99.

The step. From a point ``x = (mu, Sigma)`` that is the M-step of known fills ``z_in``
(a candidate this class returned and the driver accepted), with ``zhat = Phi(z_in)`` the
fills at ``x``: solve ``(I - J) delta = zhat - z_in`` by GMRES (:func:`imputer._krylov.gmres_deflated`, matrix-free, to the relative residual
:data:`GMRES_RTOL`, :data:`GMRES_RESTART` x :data:`GMRES_CYCLES` products at most: an
inexact Newton step; right-preconditioned by the deflation that the chain's earlier solves
built, :data:`DEFLATE_HARVEST` harmonic Ritz vectors each, up to :data:`DEFLATE_MAX`:
the Jacobians of one chain differ little, and their slow directions are what the Krylov
steps are spent on),
``z' = z_in + t delta`` and the candidate is the M-step of ``z'`` with ``C`` at ``x``,
``t`` also capped so that no fill moves by more than :data:`TRUST_SD` of its conditional
standard deviation (a trust region: first steps move fills by 5-18 of them, and on rows
sharing a few patterns such a step hopped to a lower local maximum).
``t`` starts at 1 and is divided by 4 after a refused Newton candidate (multiplied by 4
after an accepted one, at most 1), a backtracking spread over the driver's iterations. From any
other point (Anderson's, or EM's, whose fills are not kept) the candidate is the EM update
``M(zhat(x))`` recomputed here, which starts the chain. The driver
(:func:`imputer._em.anderson.run_anderson`) evaluates every candidate and keeps it only if
the objective does not fall: the answer is EM's fixed point whatever the steps.

Saddle-free steps (:data:`FLIP_BELOW`). On the way up, a chain can meet a saddle of the
log-posterior: there some eigenvalues of ``J`` exceed 1 (EM leaves the saddle along their
eigenvectors, at that rate: ``1.0005`` to ``1.0011`` at ``n = 50, p = 1,000``, ``ridge = 1``,
evaluations 30-42), and Newton's step, which solves for the fixed point whatever its kind,
converges onto the saddle; the driver's chord jumps then took 126 evaluations to leave it. The
step takes ``|I - J|^{-1}`` on the GMRES space's real Ritz values below ``FLIP_BELOW`` instead
(Dauphin et al. 2014's saddle-free Newton, here on a fixed point: :func:`imputer._krylov.gmres_deflated`),
which moves away from the saddle along those directions, by the trust region at most. Measured
(``ridge = 1``, 20% MCAR; benchmarks/wide_rounds.md, issue 16's eighteenth round): on the 31 tables of
the earlier rounds, 12,425 -> 11,311 evaluations, 50 x 1,000 295 -> 153 (at a maximum 28.2
higher, a fixed point of 300 plain EM steps to 1.4e-9 SD), 40 x 600 414 -> 114, 30 x 600 270
-> 96, 20 x 300 354 -> 57, the others at the same maxima; on 18 more tables of 10 to 100
columns a row, 30 x 400 1,477 -> 153, 50 x 600 1,207 -> 179, 50 x 500 824 -> 161, with 4
higher maxima and one lower (50 x 500, by 0.93).

A chain ends (the call answers None, the next one starts a new chain at full length from the
driver's point then) when the fill corrections of full steps stop shrinking fast (ratio
above :data:`STALL_RATIO` twice running), a candidate is refused even at the shortest step
(:data:`MIN_SCALE`) or :data:`MAX_REFUSALS` of its candidates have been refused: there the
left-out ``C`` coupling dominates. It often does only for a while: early in a fit ``C``
still moves, and a chain started a few iterations later contracts fast (``n = 10`` to
``20``, ``p = 200`` to ``2,000``, ``ridge = 1``: where ending the steps for the run at the
first stall took 222 to 654 evaluations, restarting takes 27 to 36; benchmarks/wide_rounds.md,
issue 16, eighth round). After :data:`MAX_CHAINS` chains ended by refusals, or
:data:`MAX_STALLED_CHAINS` stalled ones, the steps end for the run (more rows, more missing
cells per row, where Anderson does better). After a chain ended by refusals, the next :data:`REFUSED_PAUSE` calls (doubled
each time) answer None: there the chains meet a floor of the fill residual that the
left-out ``C`` coupling sets, and Anderson works undisturbed meanwhile.

Extrapolation. Where the left-out coupling is strong (2 to 3 columns a row) a chain contracts
at 0.93-0.985 a step, its moves alternating long and short, but the points two apart
``x_k, x_{k-2}, ...`` approach the fixed point as a sum of a few geometric modes with
positive ratios (over the last 700 iterations of 100 x 250, ``ridge = 1``, the pair
displacements ``x_k - x_{k-2}`` and ``x_{k-2} - x_{k-4}`` kept a cosine above 0.9997 and a
ratio of 0.94-0.97; at 100 x 300 the ratio drifts from 0.72 to 0.88 as a faster mode dies
out, with cosines of 0.997-0.999). So from :data:`EXTRAP_POINTS` consecutive full Newton
points the step takes the last ``K + 2`` points two apart, ``K =`` :data:`EXTRAP_MODES`,
and proposes the EM update of their reduced-rank extrapolation (Eddy 1979; Sidi's RRE, here
in the "shifted" form ``y = sum_j gamma_j x_{(j+1)}``, ``gamma`` minimising
``|sum_j gamma_j (x_{(j+1)} - x_{(j)})|`` with ``sum_j gamma_j = 1``; its Gram matrix gets a
ridge of ``1e-13`` of its trace): exact where the points two apart are ``x*`` plus up to ``K``
geometric modes (for ``K = 1``, a least-squares form of Aitken's on pairs). It is tried
where the last pair ratio ``q = a'b / b'b`` (``a = x_k - x_{k-2}``, ``b = x_{k-2} - x_{k-4}``)
is within
[:data:`EXTRAP_QMIN`, :data:`EXTRAP_QMAX`] (a slow chain that contracts), instead of the next
Newton point. Taken from the points one apart instead, the extrapolation was no better than
``x_k``: the least squares then fit the long alternating moves and leave the slow mode,
whose moves are short, where it is. The EM update damps what the extrapolation amplified
along the fast directions (an extrapolated point itself was refused 7 times in 10 at
100 x 200); it costs an E-step outside the driver's count, like the Jacobian products. The
driver judges it as any candidate (not lower objective); accepted, a chain goes on from it;
refused, the next waits for twice the points (up to :data:`EXTRAP_POINTS_MAX`). The moves after
an accepted extrapolation describe a new contraction: the driver's test on the chain's moves
starts afresh there (:attr:`FillNewton.extrapolated`, read through the problem's ``newton_fresh``),
instead of reading the ratio of the moves after it to the moves before it (about 0.01, which
ended 30 x 600 1.8e-6 SD from the maximiser where extrapolations were tried on faster chains).

At 100 x 300 (``ridge = 1``) all six extrapolations were accepted; the five of the final
approach took the distance from the maximiser down 2.5 to 21 times each (2.1e-3 -> 7.4e-4,
3.9e-4 -> 2.1e-5, 2.3e-6 -> 1.9e-7), and the fit took 662 evaluations instead of 713 with
Aitken's on pairs (issue 16's fourteenth round), which its cosine test (0.9995, against
0.997-0.999 there) let fire twice. Over 31 tables from 10 x 200 to 50 x 1,000: 14,261 ->
13,484 evaluations, fewer on 18, the same on 12, more on one (40 x 120, seed 1, +4), the same
maxima (six of them checked against fits to ``tol = 1e-12``: within 1.1e-7 SD); 100 x 250
12.4 -> 10.5 s, 100 x 200 (seed 1) 10.3 -> 8.4 s, 100 x 300 13.7 -> 12.3 s (benchmarks/wide_rounds.md,
issue 16's sixteenth round).

Where it is offered (:func:`fill_plan`, :func:`fill_start`): more than :data:`MIN_PARAMS`
parameters and padded blocks within :data:`MAX_ELEMENTS`; from the driver's own start with
at least :data:`MIN_COLUMNS_PER_ROW` columns per row; **late** with :data:`LATE_COLUMNS_PER_ROW`
to :data:`MIN_COLUMNS_PER_ROW`. With fewer columns per row the left-out change of ``C`` is
larger, a solve takes about 100 products, and chains started early changed which maximum a
fit climbs to (10 of 14 tables from 20 x 100 to 100 x 300, ``ridge = 1``; 6 higher, 4
lower). There no chain starts while the EM step exceeds :data:`LATE_START` (1e-4 SD): the
path up is Anderson's and the chord jumps', as without the step, and the final approach,
where Anderson needs about 67 evaluations a decade at ``n = 100, p = 300``, is the chains'.
On those 14 tables: 12,725 -> 6,815 evaluations, 92 -> 70 s, the same maxima (100 x 300
2,278 -> 1,258, 80 x 240 1,765 -> 695); one slower (40 x 120, seed 0: 1.4 -> 2.4 s);
benchmarks/wide_rounds.md, issue 16's twelfth round. With the chains' deflation (thirteenth round)
the solves take fewer products (100 x 300: 8,319 -> 3,398 in the fit), and the late step
pays from 2 columns a row; with the reduced-rank extrapolation (sixteenth round) from 1.5,
where the chains start once the EM step is at most :data:`SPARSE_START` (3e-5 SD).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from imputer._gaussian.estep import KEEP_POINT, SmallPlan, batched_plan, small_conditionals, small_fill
from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import Infeasible, precision
from imputer._gaussian.objective import mstep, scatter_about
from imputer._gaussian.prior import RidgePrior
from imputer._gaussian.stats import SufficientStats
from imputer._krylov import Deflation, gmres_deflated

__all__ = ["GMRES_CYCLES", "GMRES_RTOL", "GMRES_RESTART", "MIN_PARAMS", "STALL_RATIO", "MAX_ELEMENTS", "MAX_CHAINS", "MAX_STALLED_CHAINS", "MAX_REFUSALS", "REFUSED_PAUSE", "TRUST_SD", "MIN_COLUMNS_PER_ROW", "LATE_COLUMNS_PER_ROW", "LATE_START", "SPARSE_COLUMNS_PER_ROW", "SPARSE_START", "DEFLATE_HARVEST", "DEFLATE_MAX", "EXTRAP_MODES", "EXTRAP_QMIN", "EXTRAP_QMAX", "EXTRAP_POINTS", "EXTRAP_POINTS_MAX", "FLIP_BELOW", "MIN_SCALE", "AtPoint", "FillNewton", "fill_plan", "fill_start"]

#: Krylov dimension of one GMRES cycle, and the cycles of one step.
GMRES_RESTART = 100
GMRES_CYCLES = 2
#: Trust region: the largest move of a fill, in conditional standard deviations.
TRUST_SD = 2.0
#: Relative residual at which GMRES stops: an inexact Newton step (Dembo, Eisenstat &
#: Steihaug 1982). The chain converges linearly at the rate of the left-out change of ``C``
#: (0.15-0.7 a step), so a residual far below it buys nothing: at ``1e-8`` a step took 31-44
#: products, at ``1e-2`` 9-13, and the fits end as close to the maximiser with the same
#: evaluations within one (``n = 10``: ``p = 200`` 0.31 -> 0.13 s, ``p = 300`` 0.37 -> 0.21 s,
#: ``p = 500`` 1.19 -> 0.89 s; benchmarks/wide_rounds.md, issue 16).
GMRES_RTOL = 1e-2
#: The shortest step tried; a refused candidate at this scale ends the chain.
MIN_SCALE = 1.0 / 64.0
#: Refused Newton candidates after which a chain ends.
MAX_REFUSALS = 3
#: Chains ended by refusals after which the steps end for the run ...
MAX_CHAINS = 8
#: ... and stalled chains (whose candidates were accepted: they made progress, each at its
#: own rate; 40 x 600 with ``ridge=1`` ended 7 chains by stalls and 4 by refusals and
#: converged in 967 evaluations, where ending the steps after 8 chains of either kind left
#: Anderson short of convergence after 1,277).
MAX_STALLED_CHAINS = 64
#: Calls answered None after a chain ended by refusals (doubled after each such chain): at
#: the floor that the left-out change of ``C`` sets, every new chain is refused again, and
#: its accepted first candidates restart Anderson's memory (30 x 600 with ``ridge=1``: 1,100
#: evaluations restarting at once, 520 with this pause; benchmarks/wide_rounds.md, issue 16).
REFUSED_PAUSE = 20
#: Ratio of successive fill corrections (full steps) above which the chain counts as stalled
#: (0.7 until issue 16's nineteenth round: on the way up, 50 x 1,000's chains stalled after two
#: Newton steps every five evaluations, the corrections shrinking by 0.7-0.9 a step while each
#: gained 30-50 in the objective; at 0.9, 65 tables (``ridge = 1``) 22,857 -> 22,439
#: evaluations, fewer on 39 and more on 4 (at most +21, 40 x 200 seed 1), the same maxima but
#: one higher (50 x 500 by 0.35); 50 x 1,000 135 -> 117, 30 x 400 153 -> 99, 30 x 600 96 -> 77).
STALL_RATIO = 0.9
#: Offered only where the dense Newton step is not (more parameters than this).
MIN_PARAMS = 500
#: ... where the columns are at least this many times the rows (the regime where the fills
#: carry EM's slow directions; at n = 100, p = 300 the left-out change of C_M dominates and
#: the steps were refused)
MIN_COLUMNS_PER_ROW = 10
#: From this many columns per row up to MIN_COLUMNS_PER_ROW the step is offered too, but only
#: in the final approach: once the EM step is at most LATE_START (SD units). From the start
#: there it took fewer evaluations but about 100 products a solve, and led 10 of 14 tables to
#: another maximum; late, the path to the maximum is Anderson's and the jumps' as before.
#: From 2 (3 before the chains' deflation and before the driver's stop after a chain was made
#: right): at 2 to 3 columns a row, 13 tables took 118 -> 75 s together, fewer evaluations on
#: all 13, each ending within 1e-7 SD of its maximiser (80 x 200 7,018 -> 536 evaluations,
#: 45 -> 5.3 s, not converged before; two slower: 100 x 250 21.1 -> 26.7 s, 100 x 200 (1)
#: 17.5 -> 19.7 s; benchmarks/wide_rounds.md, issue 16's fourteenth round). From 1.5 or 1, 120 x 200
#: 11.1 -> 15.6 s, 100 x 120 2.1 -> 3.5 s (with Aitken's extrapolation); from 1.5 with the
#: reduced-rank one and SPARSE_START below (issue 16's sixteenth round).
LATE_COLUMNS_PER_ROW = 1.5
LATE_START = 1e-4
#: Below this many columns per row (down to LATE_COLUMNS_PER_ROW) the chains start later still,
#: once the EM step is at most SPARSE_START. On 19 tables of 1.5 to 2 columns a row
#: (``ridge = 1``, 20% MCAR; benchmarks/wide_rounds.md, issue 16's sixteenth round), against no step
#: there: 33,278 -> 14,328 evaluations, 225 -> 121 s, every fit converged, and the same maximum
#: on 17; the other two had not converged without the step (5,000 iterations): 150 x 260
#: (6,748 evaluations, 86 s -> 1,373, 30 s) and 100 x 155 (7,740, 33 s -> 1,077, 6.2 s), whose
#: point then was no maximum (three of four refits from perturbations of it, without the step,
#: climbed to the step's -9841.584; the fourth ended at -9841.745). A start at LATE_START took
#: 9,954 evaluations but led 120 x 185 to a lower maximum (and 120 x 200 to a higher one); one
#: at 1e-5, 17,455, maxima as at 3e-5.
SPARSE_COLUMNS_PER_ROW = 2
SPARSE_START = 3e-5
#: A chain's points two apart are extrapolated (module docstring, "Extrapolation") as up to
#: this many geometric modes (2 took the same evaluations over 31 tables within 0.1%) ...
EXTRAP_MODES = 3
#: ... where the last pair ratio ``q`` is within [EXTRAP_QMIN, EXTRAP_QMAX] (0.6 until issue 16's
#: nineteenth round, which left 50 x 1,000's final chain, steady at 0.55 a pair over its last 40
#: points, unextrapolated: 0.5 took it 153 -> 135 evaluations; over 65 tables fewer on 7, more
#: on none, the same maxima; 0.3 and 0 cost 25 x 500 34 -> 49, its extrapolated point stalling
#: the next Newton steps) ...
EXTRAP_QMIN = 0.5
EXTRAP_QMAX = 0.99
#: ... from this many consecutive full Newton points of a chain (at least the
#: ``2 EXTRAP_MODES + 3`` it uses; doubled after a refused extrapolation, up to EXTRAP_POINTS_MAX).
EXTRAP_POINTS = 2 * EXTRAP_MODES + 3
EXTRAP_POINTS_MAX = 48
#: Harmonic Ritz vectors that each solve of a chain adds to the deflation of the next solves'
#: operator (:class:`imputer._krylov.Deflation`) ...
DEFLATE_HARVEST = 10
#: ... until it holds this many; the next solve then starts afresh. A deflation kept on grows
#: stale as the chain moves (100 x 300: the products per solve fell from 42 to 15-20 over the
#: first solves, then rose to 66 over the next hundred; kept across chains, to 90).
DEFLATE_MAX = 80
#: Saddle-free steps (:func:`imputer._krylov.gmres_deflated`, ``flip_below``): real Ritz
#: values of ``I - J`` below this are flipped (``J``'s eigenvalues above ``1 - FLIP_BELOW``:
#: the point is near a saddle, and Newton's step would move towards it). None: plain Newton.
FLIP_BELOW: float | None = -1e-5
#: ... and where its padded ``C_M`` blocks and gathered cells hold at most this many numbers
#: (160 MB): few rows (n = 50, p = 1,000 at 20% missing: 3.1 million).
MAX_ELEMENTS = 2e7


def fill_plan(data: StandardData) -> SmallPlan | None:
    """The batched layout of the step, or None where it is not offered: at most
    :data:`MIN_PARAMS` parameters (the dense step's domain), fewer than
    :data:`LATE_COLUMNS_PER_ROW` columns per row (below :data:`MIN_COLUMNS_PER_ROW` the step
    is late: :func:`fill_start`), nothing missing, or padded blocks of more than
    :data:`MAX_ELEMENTS` numbers. Where it is offered, the plan is also registered as
    ``data.memo[KEEP_POINT]``, so that an E-step by chunks keeps its point's ``C_M`` blocks
    and fills for :class:`AtPoint` (:class:`~imputer._gaussian.estep.ChunkedPoint`)."""
    p = data.p
    if p + p * (p + 1) // 2 <= MIN_PARAMS or data.n * LATE_COLUMNS_PER_ROW > p:
        return None
    plan = batched_plan(data, MAX_ELEMENTS)
    if plan is None or plan.miss_flat.size == 0:
        return None
    data.memo[KEEP_POINT] = plan
    return plan


def fill_start(data: StandardData) -> float | None:
    """The EM step (SD units) below which the step is offered: None (from the driver's own
    start) with at least :data:`MIN_COLUMNS_PER_ROW` columns per row, :data:`LATE_START` with
    at least :data:`SPARSE_COLUMNS_PER_ROW`, else :data:`SPARSE_START`."""
    if data.n * MIN_COLUMNS_PER_ROW <= data.p:
        return None
    return LATE_START if data.n * SPARSE_COLUMNS_PER_ROW <= data.p else SPARSE_START


class AtPoint:
    """Quantities at one point ``(mu, Sigma)``: ``Lambda``, the padded ``C_M`` stack, the fills.

    Attributes
    ----------
    mu : ndarray, shape (p,)
    prec : ndarray, shape (p, p)
        ``Lambda = Sigma^-1``.
    cond : ndarray, shape (G, m_max, m_max)
        Every pattern's ``C_M`` (:func:`~imputer._gaussian.estep.small_conditionals`).
    work : ndarray, shape (n_inc, p)
        The incomplete rows completed at the point.
    fills : ndarray, shape (m,)
        Their missing cells, row by row (``plan.miss_flat``).

    Raises
    ------
    Infeasible
        Where ``Sigma`` or a ``Lambda_MM`` is not positive definite.
    """

    def __init__(
        self,
        data: StandardData,
        plan: SmallPlan,
        mu: np.ndarray,
        sigma: np.ndarray,
        prec_of: Callable[[], tuple[np.ndarray, float]] | None = None,
    ) -> None:
        self.mu = mu
        last = data.memo.get("small_last")
        self.work = data.work.copy()
        if last is not None and np.array_equal(last.mean, mu) and np.array_equal(last.cov, sigma):
            # the driver evaluated this point last: its E-step's Lambda, C_M and fills
            self.prec, self.cond = last.prec, last.conditionals(plan)
            np.put(self.work.reshape(-1), plan.miss_flat, last.fills)
        else:
            self.prec, _ = precision(sigma) if prec_of is None else prec_of()
            self.cond, _ = small_conditionals(data, plan, self.prec)
            small_fill(plan, self.work, mu, self.prec, self.cond)
        self.fills = self.work.reshape(-1).take(plan.miss_flat)


class FillNewton:
    """Newton proposals on the fills' fixed point for :class:`~imputer.mvn._problem.MVNProblem` (module docstring).

    Parameters
    ----------
    data : StandardData
        The problem's standardised data (unweighted rows).
    plan : SmallPlan
        ``small_plan(data)`` (not None).
    prior : RidgePrior
        The problem's prior.
    pack : callable
        ``pack((mu, Sigma)) -> x``, the problem's packing.
    unpack : callable
        ``unpack(x) -> (mu, Sigma)``.
    precision : callable, optional
        ``precision(x) -> (Lambda, log|Sigma|)``, the problem's own (which keeps the
        factorisations of the points the driver works on); computed afresh without it.
    distance : callable, optional
        ``distance(x, F(x))``, the problem's (SD units); needed with ``start``.
    start : float, optional
        Offer no new chain while ``distance(x, F(x))`` exceeds it (:func:`fill_start`).
    """

    def __init__(
        self,
        data: StandardData,
        plan: SmallPlan,
        prior: RidgePrior,
        pack: Callable[[tuple[np.ndarray, np.ndarray]], np.ndarray],
        unpack: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
        precision: Callable[[np.ndarray], tuple[np.ndarray, float]] | None = None,
        distance: Callable[[np.ndarray, np.ndarray], float] | None = None,
        start: float | None = None,
    ) -> None:
        self.data, self.plan, self.prior = data, plan, prior
        self._distance, self.start = distance, start
        m_max = plan.eye.shape[0]
        # per missing cell, its C_M diagonal entry in the flattened (G, m_max, m_max) stack
        self._cell_diag = plan.cell_cond * m_max + plan.cell_cond % m_max
        self._pack, self._unpack, self._precision = pack, unpack, precision
        self._last: np.ndarray | None = None  # the last candidate returned
        self._last_fills: np.ndarray | None = None  # the fills it is the M-step of
        self._last_newton = False  # whether it was a Newton step (else the chain's first, EM's)
        self._scale = 1.0
        self._disabled = False
        self._ended = 0  # chains ended by refusals
        self._stalled = 0  # chains ended by a stall
        self._pause = 0  # calls to answer None before the next chain
        self._next_pause = REFUSED_PAUSE
        self._refused = 0
        self._prev_norm: float | None = None
        self._stalls = 0
        # the chain's latest full Newton points
        self._points: deque[np.ndarray] = deque(maxlen=2 * EXTRAP_MODES + 3)
        self._since = 0  # full Newton points in a row
        self._need = EXTRAP_POINTS  # ... before the next extrapolation
        self._full = False  # whether the last candidate was a full Newton step
        self._extrapolated = False  # whether it was an extrapolation's EM update
        #: extrapolations offered and accepted, for the benchmarks
        self.extrapolations = [0, 0]
        self._deflation = Deflation()
        #: products ``J v`` taken (all steps), for the benchmarks
        self.products = 0

    @property
    def extrapolated(self) -> bool:
        """Whether the candidate last returned is the EM update of an extrapolation."""
        return self._extrapolated

    def __call__(self, x: np.ndarray, fx: np.ndarray) -> np.ndarray | None:
        """The next candidate from the accepted point ``x`` (``fx`` its EM update: read only
        for :attr:`start`), or None."""
        in_chain = self._last is not None and x is self._last
        if self._disabled:
            return None
        if self.start is not None and not in_chain and self._distance(x, fx) > self.start:  # type: ignore[misc]
            return None  # (no chain yet: the final approach has not begun)
        if self._pause > 0:
            self._pause -= 1
            return None
        if self._extrapolated:
            # the EM update of an extrapolation: accepted, the chain goes on from it; refused,
            # the next one waits for twice the points
            self._extrapolated = False
            self.extrapolations[1] += in_chain
            self._need = EXTRAP_POINTS if in_chain else min(2 * self._need, EXTRAP_POINTS_MAX)
        if self._last is not None and not in_chain and self._last_newton:
            # the last Newton candidate was refused
            self._refused += 1
            if self._scale <= MIN_SCALE or self._refused >= MAX_REFUSALS:
                # even the shortest step, or time and again: the direction is no good here
                self._end_chain(refused=True)
                return None
            self._scale = max(self._scale / 4.0, MIN_SCALE)
        elif in_chain and self._last_newton:
            self._scale = min(self._scale * 4.0, 1.0)
        if in_chain and self._last_newton and self._full:
            self._points.append(x)
            self._since += 1
            if self._since >= self._need:
                y = self._extrapolate()
                if y is not None:
                    self._points.clear()
                    self._since = 0
                    return self._relaxed(y)
        else:
            self._points.clear()
            self._since = 0
        mu, sigma = self._unpack(x)
        try:
            prec_of = None if self._precision is None else (lambda: self._precision(x))
            here = AtPoint(self.data, self.plan, mu, sigma, prec_of)
        except Infeasible:
            self._forget()
            return None
        if not in_chain:
            self._prev_norm = None
            self._last_newton = False
            return self._candidate(here.fills, here)
        z_in = self._last_fills
        resid = here.fills - z_in
        norm = float(np.max(np.abs(resid)))
        if self._prev_norm is not None and self._scale == 1.0 and norm > STALL_RATIO * self._prev_norm:
            self._stalls += 1
            if self._stalls >= 2:  # the left-out coupling dominates here: start afresh later
                self._end_chain()
                return None
        else:
            self._stalls = 0
        self._prev_norm = norm
        delta = self._solve(here, z_in, resid)
        if delta is None:
            self._forget()
            return None
        self._last_newton = True
        # trust region: no fill moves by more than TRUST_SD of its conditional standard deviation
        g, m_max = self.plan.n_miss.size, self.plan.eye.shape[0]
        cell_var = here.cond.reshape(g * m_max * m_max)[self._cell_diag]
        reach = float(np.max(np.abs(delta) / np.sqrt(np.maximum(cell_var, 1e-300))))
        step = min(self._scale, TRUST_SD / reach) if reach > 0.0 else self._scale
        self._full = step == 1.0
        return self._candidate(z_in + step * delta, here)

    def _relaxed(self, y: np.ndarray) -> np.ndarray | None:
        """The EM update of the extrapolated point ``y``, which starts the chain afresh
        (the deflation kept), or None where ``y`` is not feasible."""
        mu, sigma = self._unpack(y)
        try:
            here = AtPoint(self.data, self.plan, mu, sigma)
        except Infeasible:
            self._forget()
            return None
        self.extrapolations[0] += 1
        self._extrapolated, self._last_newton, self._prev_norm = True, False, None
        return self._candidate(here.fills, here)

    def _extrapolate(self) -> np.ndarray | None:
        """The limit of the chain's latest points taken two apart (module docstring,
        "Extrapolation"), or None where the last pair ratio is outside
        [:data:`EXTRAP_QMIN`, :data:`EXTRAP_QMAX`] or the points do not move."""
        pts = list(self._points)[::-2][::-1]  # x_{k-2K-2}, ..., x_{k-2}, x_k (no copies)
        a, b = pts[-1] - pts[-2], pts[-2] - pts[-3]
        ab, bb = float(a @ b), float(b @ b)
        if not bb > 0.0 or not EXTRAP_QMIN <= ab / bb <= EXTRAP_QMAX:
            return None  # (tested first: at p = 1,000 the differences below are 16 MB)
        diffs = np.array([pts[j + 1] - pts[j] for j in range(len(pts) - 3)] + [b, a])  # (K + 1, d)
        gram = diffs @ diffs.T
        gram += (1e-13 * np.trace(gram)) * np.eye(gram.shape[0])
        try:
            w = np.linalg.solve(gram, np.ones(gram.shape[0]))
        except np.linalg.LinAlgError:
            return None
        if not (np.all(np.isfinite(w)) and w.sum() != 0.0):
            return None
        w /= w.sum()
        y = w[0] * pts[1]
        for wj, xj in zip(w[1:], pts[2:]):
            y += wj * xj
        return y if np.all(np.isfinite(y)) else None

    def _end_chain(self, refused: bool = False) -> None:
        """End the chain (stalled, or ``refused`` time and again): the next call (when refused,
        the first after a pause of :data:`REFUSED_PAUSE` calls, doubled each time) starts a new
        one at full length from the driver's point then, up to :data:`MAX_CHAINS` refused and
        :data:`MAX_STALLED_CHAINS` stalled chains in a run."""
        self._forget()
        if refused:
            self._pause, self._next_pause = self._next_pause, 2 * self._next_pause
        if refused:
            self._ended += 1
        else:
            self._stalled += 1
        self._disabled = self._ended >= MAX_CHAINS or self._stalled >= MAX_STALLED_CHAINS
        self._refused, self._stalls, self._scale, self._last_newton = 0, 0, 1.0, False

    def _forget(self) -> None:
        self._points.clear()
        self._since = 0
        self._deflation = Deflation()
        self._last = self._last_fills = None
        self._prev_norm = None

    def _candidate(self, fills: np.ndarray, at: AtPoint) -> np.ndarray | None:
        """The M-step of ``fills`` with ``C`` at ``at``; remembered as the chain's last candidate."""
        data, plan = self.data, self.plan
        work = data.work.copy()
        np.put(work.reshape(-1), plan.miss_flat, fills)
        n = float(data.n)
        cond = at.cond * plan.counts[:, None, None]
        p = data.p
        stats = SufficientStats(
            weight=n,
            cov_weight=n,
            s1=data.s1_complete + work.sum(axis=0),
            s2=data.s2_complete + work.T @ work,
            cond=np.bincount(plan.block_pos.reshape(-1), weights=cond.reshape(-1), minlength=p * p).reshape(p, p),
            entropy=0.0,
        )
        # the scatter in cond's memory (these statistics are made for this M-step alone)
        scatter = scatter_about(stats, at.mu, overwrite=True)
        mu, sigma = mstep(stats, at.mu, self.prior, scatter=scatter, overwrite_scatter=True)
        x = self._pack((mu, sigma))
        if not np.all(np.isfinite(x)):
            self._forget()
            return None
        self._last, self._last_fills = x, fills
        return x

    def _solve(self, at: AtPoint, z_in: np.ndarray, resid: np.ndarray) -> np.ndarray | None:
        """``(I - J)^{-1} resid`` by GMRES (module docstring), or None if it fails."""
        jac = self.jacobian(at, z_in)

        def apply(d: np.ndarray) -> np.ndarray:
            return d - jac(d)

        # (not converged in GMRES_CYCLES cycles: the last iterate, an inexact step all the same)
        if self._deflation.size >= DEFLATE_MAX:
            self._deflation = Deflation()
        delta, _, self._deflation = gmres_deflated(
            apply,
            resid,
            rtol=GMRES_RTOL,
            restart=GMRES_RESTART,
            cycles=GMRES_CYCLES,
            deflation=self._deflation,
            harvest=DEFLATE_HARVEST,
            flip_below=FLIP_BELOW,
        )
        return delta if np.all(np.isfinite(delta)) else None

    def jacobian(self, at: AtPoint, z_in: np.ndarray, single: bool = True) -> Callable[[np.ndarray], np.ndarray]:
        """``d -> J d``, the Jacobian of the fill map at ``z_in`` (module docstring).

        Parameters
        ----------
        at : AtPoint
            The quantities at ``x``, the M-step of ``z_in``.
        z_in : ndarray, shape (m,)
            The fills ``x`` is the M-step of (the missing cells, row by row).
        single : bool, default True
            The product in single precision (the result returned in double): the product
            ``V Lambda`` about twice as fast (50 x 1,000 by 1,000 x 1,000: 0.95 against 1.8 ms),
            its relative error (about 1e-6) far below the solve's own tolerance
            :data:`GMRES_RTOL` (measured on 8 tables: the same evaluations within 4, 50 x 1,000
            69.4 -> 63.0 s); and since issue 16's fifteenth round the ``n_inc x n_inc`` and
            ``n_inc x p`` products and the batched ``C_M`` products too (100 x 300: 0.71 ->
            0.42 ms a product); False: double precision throughout.

        Returns
        -------
        callable
            ``J d`` for ``d`` of shape (m,), one ``n_inc x p`` by ``p x p`` product each.
        """
        data, plan = self.data, self.plan
        n = float(data.n)
        div = n + self.prior.logdet_weight
        work_in = data.work.copy()
        np.put(work_in.reshape(-1), plan.miss_flat, z_in)
        r = work_in - at.mu  # residuals of the input fills about x's mean (x is their M-step)
        u = (at.work - at.mu) @ at.prec
        np.put(u.reshape(-1), plan.miss_flat, 0.0)  # exactly 0 on M (rounding aside)
        cmat = 1.0 / n + (u @ r.T) / div  # c_ik
        m_max = plan.eye.shape[0]
        # per incomplete row: its pattern's C_M (padded) and the flat positions of its missing
        # columns in an (n_inc, p) array (padding: column 0, against zero rows of C_M); per
        # cell its slot in the row's (n_inc, m_max) result
        cell_row = plan.miss_flat // data.p
        cond_of_row = np.empty(r.shape[0], dtype=np.intp)
        cond_of_row[cell_row] = plan.cell_cond // m_max
        cond_r = at.cond[cond_of_row]  # (n_inc, m_max, m_max)
        pos_r = np.empty((r.shape[0], m_max), dtype=np.intp)
        pos_r[cell_row] = plan.cell_y
        cell_out = cell_row * m_max + plan.cell_cond % m_max
        real = np.float32 if single else float
        d_mat = np.zeros(r.shape, dtype=real)
        d_flat = d_mat.reshape(-1)
        prec, r, cmat, cond_r = (a.astype(real, copy=False) for a in (at.prec, r, cmat, cond_r))
        u_t = np.ascontiguousarray(u.T, dtype=real)
        inv_div = real(1.0 / div)

        def jac(d: np.ndarray) -> np.ndarray:
            self.products += 1
            np.put(d_flat, plan.miss_flat, d)
            t = d_mat @ u_t  # t[k, i] = d_k . u_i
            v = cmat @ d_mat
            t *= inv_div
            v += t.T @ r
            y = (v @ prec).reshape(-1).take(pos_r)  # (Lambda v_i)_M, padded
            return np.matmul(cond_r, y[:, :, None]).reshape(-1).take(cell_out).astype(float)

        return jac
