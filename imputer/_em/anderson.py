r"""Anderson acceleration of a monotone EM iteration, with a rate-scaled stopping rule.

Let ``F`` be the EM map of an :class:`~imputer._em.problem.EMProblem` and ``L`` the
objective it increases. EM converges linearly: near the maximiser ``x*``,
``F(x) - x* ~ J (x - x*)`` with ``J`` the Jacobian of the EM map, similar to
``I_mis I_com^{-1}``, whose eigenvalues are the fractions of missing information
(Dempster, Laird & Rubin 1977). Where they approach 1, plain EM (and SQUAREM, which
extrapolates along one direction) needs hundreds of evaluations.

**Coordinates.** The accelerator works in coordinates ``z`` in which the EM map is close
to linear along its path: the problem's *free coordinates* when it has them
(:class:`~imputer._em.problem.FreeCoordinates`: ``z = to_free(x)``, ``x = from_free(z)``;
for the multivariate normal the mean and the modified Cholesky factors of the
covariance, which turn the curved EM path of a regression of a mostly-missing column
into a nearly straight one and keep every extrapolated covariance positive definite),
else ``z = x``. ``G(z) = to_free(F(from_free(z)))`` is the EM map in ``z``, ``g(z) = G(z) - z``
its step.

**Anderson acceleration** (type II, memory ``m``; Anderson 1965, Walker & Ni 2011; for EM
Henderson & Varadhan 2019, *J. Comput. Graph. Statist.* 28:834-846). From the last ``m + 1``
accepted iterates ``z_i`` and their steps ``g_i``, with difference matrices
``dZ = [z_{i+1} - z_i]`` and ``dG = [g_{i+1} - g_i]`` (shape ``(d, k)``, ``k <= m``), the
next point is

.. math::

    z' = G(z_k) - (dZ + dG)\,\gamma,\qquad
    \gamma = (dG^\top dG + \lambda\,\bar s\,I)^{-1} dG^\top g_k,\qquad
    \bar s = \operatorname{tr}(dG^\top dG)/k,

i.e. a multisecant quasi-Newton step for ``g(z) = 0`` (with ``dG ~ (J - I) dZ``; on a
linear map it spans the same Krylov space as GMRES). ``lambda`` damps it (Levenberg style):
divided by 10 after an accepted step (floor ``1e-12``), multiplied by 100 after a
rejected one (ceiling ``1e6``, where ``z'`` is all but the EM step).

**Safeguard (monotonicity).** ``z'`` is accepted only if ``from_free(z')`` is feasible and
``L(z') >= L(z_k)`` (up to a relative ``1e-12`` of rounding); otherwise the iteration
falls back to the EM step ``G(z_k)`` (``L(F(x)) >= L(x)``). Every accepted iterate
therefore has an objective no lower than the one before it, as the trace's ``history``
records. One outer iteration is one accepted iterate: one evaluation of ``F``, or two
after a rejected proposal.

**Stopping rule.** Near ``x*``, ``x - x* ~ (I - J)^{-1} (x - F(x))``: the distance to the
maximiser is about the EM step divided by ``1 - rho``, ``rho`` the largest eigenvalue of
``J`` (EM's rate, the largest fraction of missing information). The run stops at the
first accepted ``x`` with

.. math::

    \operatorname{distance}(x, F(x)) \le \max\big(\text{tol}\,(1 - \hat\rho),\;
    \min(\text{tol}, 10^{-13})\big),

and returns ``F(x)``, so that the estimated distance from the maximiser,
``distance / (1 - rho)``, is at most ``tol``. ``rho_hat`` is the largest of the
estimates of the last ``RATE_WINDOW = 10`` iterations (one estimate alone can be low after a stretch of
nearly collinear steps), each the largest real part of the Ritz values of ``J`` on the
span of the memory: the eigenvalues of ``I + U' dG V S^{-1}`` with ``dZ = U S V'`` (thin
SVD, singular values below ``1e-6`` times the largest dropped; :func:`ritz_rate`),
clipped to ``[0, RHO_MAX]`` (so the test is at most ``1 / (1 - RHO_MAX) = 10,000`` times
tighter than ``tol``: a cap of 0.999 left the wide tables whose rate is 0.9999, 100 x 180
and 100 x 250 with ``ridge = 1``, up to 1.1e-6 SD from the maximiser at the default
``tol``, and 0.9999 within 1e-7 for 0-13% more evaluations), 0 while the memory holds
fewer than two differences. The floor
``min(tol, CHANGE_FLOOR)`` keeps the test above the rounding noise of the EM map (the
change cannot fall much below ``1e-14``).

**Newton proposals.** A problem may offer ``newton(x, F(x)) -> x_N`` (or None): for the
multivariate normal with at most 500 parameters, the Newton point of the observed-data
objective from its analytic information and the gradient that ``F(x)`` gives
(:mod:`imputer.mvn._newton`). Once the EM step is below :data:`NEWTON_START` and the estimated EM rate is at least
:data:`NEWTON_MIN_RATE` (where EM is fast the information is not worth its cost), the driver
evaluates ``x_N`` before Anderson's proposal and accepts it under the same safeguard
(feasible, objective not lower); otherwise the iteration goes on with Anderson's
proposal. After a refused point it waits :data:`NEWTON_BACKOFF` accepted iterates (doubled
at each refusal, reset by an accepted point); after an accepted point Anderson's memory
starts afresh (secant pairs across a Newton step describe no single linearisation: kept,
they cost the wide fits a quarter more evaluations) and the rate estimates made before it
stand until the memory holds two pairs again; where the problem offers none (information not positive definite yet,
which costs no evaluation) it waits :data:`NEWTON_WAIT_NONE`. Newton converges
quadratically where the EM rate is near 1 (``boys``: 23 evaluations instead of 65).

**Stopping on a Newton chain.** Where the accepted iterates are consecutive Newton points
``x_k -> x_{k+1}`` (the fills' Newton steps, :mod:`imputer.mvn._fillnewton`, contract at
0.4-0.5 a step on the widest tables and at 0.93-0.985 where the rows are more, against
EM's 0.999 or more), the EM step from ``x_k`` says little of the distance left: the chain
has taken out the directions EM contracts slowest along only in part, and the rate Anderson
estimated before the chain (on its memory's span) is not the rate along what is left. At
80 x 240 with ``ridge = 1`` the distance was 3,200 times the EM step all along a chain's
last 60 points, at 100 x 250 11,000 times; the rule with the rate held from before the
chain stopped 80 x 240 6.5e-6 SD from the maximiser. So at a Newton point, and after one
until :data:`RATE_WINDOW` new Ritz estimates are made, EM's rule takes ``rho =``
:data:`RHO_MAX`. The chain's own moves ``d_k = distance(x_k, x_{k+1})`` tell more: for a
contraction at rate ``r`` the distance of ``x_{k+1}`` from the fixed point is at most the sum
of the moves to come. The chains' moves alternate long and short (ratios 2.4, 0.36, 2.2 at
80 x 200), so they are taken in pairs: with ``s_k = d_{k-1} + d_k`` and ``q`` the largest of
:data:`CHAIN_RATIOS` ratios ``s_j / s_{j-2}``, the distance of ``x_{k+1}`` is about ``q s_k /
(1 - q)`` (``r d_k / (1 - r)`` for a plain geometric chain). A run also ends
("converged", with the update ``F(x_{k+1})``) once the ratios agree to :data:`CHAIN_SETTLED`,
``q <= CHAIN_RATE_MAX`` and ``q s_k / (1 - q) <= tol``. On ``n = 10, p = 200``, ``ridge =
1`` the chain's estimate was within 20% of the true distance at every step from ``1e-4``
down, and at 80 x 240 (``q = 0.875``) it read 9.8e-7 where the distance was 9.5e-7; but
slower chains are not believed: after an extrapolation of the fills' chain
(:mod:`imputer.mvn._fillnewton`) had taken out most of a slow mode, the moves of 100 x 200
contracted at 0.79 a pair along a faster one, and the estimate read 1e-7 where the slow
mode's remainder left 3.9e-7. A move longer than the two before it (such a jump) starts
the ratios afresh, and so does a Newton point that the problem says starts a new contraction
(``newton_fresh()``, :mod:`imputer._em.problem`: the fills' chain extrapolated; its move is
not counted): the moves after it are often 100 times shorter than those before it, so that
ratios across it would read "settled" near 0.01 whatever the chain's pace after it. An
iteration that ends in Anderson's or EM's point clears the chain.

**Chord jumps** (a problem opts in with ``chord_jumps = True``). On wide tables with a weak
prior the EM path crosses long plateaus: at ``n = 100, p = 300``, ``ridge = 1`` the
log-posterior creeps up for thousands of iterations with steps of ``1e-5`` SD, along a path
that stays nearly straight over hundreds of them (midpoint off the chord by 2% over 800 EM
steps) but lies in a narrow valley: a point far out along the chord has a much lower objective
(Anderson's and SQUAREM's extrapolations are refused there), yet a few EM steps from it, which
contract the steep directions fast, land far ahead on the valley floor. So once the
estimated rate is at least :data:`JUMP_MIN_RATE` and :data:`JUMP_EVERY` iterates have been
accepted since the last reset, the driver tries ``y = x + a (x - x_anchor)``, ``x_anchor``
the accepted iterate :data:`JUMP_EVERY` or more iterations back, relaxes it by
:data:`JUMP_RELAX` EM steps and evaluates the result: it is accepted only if its objective
exceeds ``L(x)`` (the safeguard: the extrapolated point itself is never accepted, the EM steps
from it never lower the objective). ``a`` starts at 1, doubles after an accepted jump (at most
:data:`JUMP_MAX`) and is divided by 4 after a refused one (at least 1); either way the next
window starts there, twice as long after a refusal (up to :data:`JUMP_WAIT_MAX`: a refused
jump costs ``JUMP_RELAX + 1`` evaluations) and :data:`JUMP_EVERY` again after an acceptance,
which also restarts Anderson's memory (as a Newton point does).

*Follow-ups* (:data:`JUMP_FOLLOW`). An accepted jump is followed at once (no window) by
another that repeats its whole displacement, relaxation included, from its end (``y = x +
s (x - x_before)``, ``s =`` :data:`JUMP_FOLLOW_SCALE`), and so on while they are accepted;
a refused follow-up ends the line and the windows go on as before. On the plateaus, where
the path leaves a saddle-like region, each follow-up gained about 1.2-1.3 times the one
before it, 6 evaluations apart, where the windows' jumps came 20-40 iterates apart
(measured, ``ridge = 1``, 20% MCAR: ``n = 50, p = 1,000`` 613 -> 338 evaluations, ``n =
30, p = 600`` 520 -> 254, ``n = 100, p = 300`` 2,721 -> 2,394, to the same maximiser;
over 28 tables from 20 x 200 to 100 x 300, fewer or as many evaluations on 26; 3 ended at
another local maximum, 2 of them higher (the 2 with more evaluations), and a block-missing
10 x 120 test table at a lower one; ``benchmarks/wide_rounds.md``, issue 16's eleventh round).

A line goes on only while each follow-up gains at least :data:`JUMP_FOLLOW_GROWTH` (0.3) of
the objective the jump before it gained; a line that stops growing ends (its last point
kept) and the windows go on. Leaving a saddle-like region the gains grow (50 x 1,000: 0.024
to 6.35 over 21 follow-ups); at ``n = 100, p = 300`` a line of 122 follow-ups crept along the
plateau instead (gains 7.2, 5.4, 2.4, 0.61, 0.15, then 0.3-1.8 each, 6 evaluations apiece:
738 of the fit's 1,214 evaluations, where Anderson without jumps took 885 in all). Measured
on 31 tables from 10 x 200 to 50 x 1,000 (``ridge = 1``, 20% MCAR; ``benchmarks/wide_rounds.md``,
issue 16's fifteenth round): all at the same maxima for 0.15, 0.3, 0.4 and 0.5 (at 0.7 and 1,
100 x 200 (seed 1) ended at a lower one); at 0.3 15,232 -> 14,256 evaluations, fewer on 9,
more on 1 (100 x 180, +10), 100 x 300 1,214 -> 718, 40 x 600 852 -> 411. It can cost: on a
synthetic two-mode valley whose line's gains dip to 0.03 and recover (the test suite's
``two_modes``) ending the line took 503 -> 1,122 evaluations, while three others took 14-22%
fewer.

*The final approach* (:data:`JUMP_MIN_CHANGE`). A line of jumps starts only while the EM
step is at least ``3e-6`` SD: the plateaus creep at ``5e-5`` SD a step or more, but near the
maximiser, where Anderson converges linearly, the windows' jumps were refused (6 evaluations
each) or gained little, and each accepted one restarted Anderson's memory. Measured on the 28
tables (``benchmarks/wide_rounds.md``, issue 16's twelfth round): fewer evaluations on 5 (``n =
100, p = 300`` 2,394 -> 2,278, ``40 x 120`` 765 -> 621, ``50 x 150`` 581 -> 551), the same on
the others, the same maxima.

:data:`JUMP_MIN_RATE` is 0.999 (the rate estimate's cap when it was chosen): where Anderson
converges in a few hundred evaluations a gate of 0.99 let refused jumps and memory restarts cost 5-60% more evaluations (40 x 120:
850 instead of 526), while on the long plateaus the estimate sits at the cap. Measured
(``benchmarks/wide_rounds.md``, issue 16's seventh round), ``ridge = 1``, 20% MCAR: ``n = 100,
p = 300`` 2,727 evaluations instead of 14,301 (44 s instead of 266 s), ``n = 60, p = 180``
1,725 instead of 7,837, the same maximiser (1.5e-7 SD); 30 x 90 and 40 x 120 as before
(259, 526 -> 530), 50 x 150 581 -> 635.

How a run ends is as for SQUAREM (:mod:`imputer._em.squarem`): ``"converged"`` (result
``F(x)``), ``"max_iter"`` (result: the EM update of the last accepted iterate),
``"stopped"`` (the ``stop`` hook, checked at every accepted iterate, returned True; result
that iterate), ``"singular"`` (result: the best iterate seen), ``"infeasible"``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from imputer._em.problem import EMProblem
from imputer._em.squarem import EMRun, StopHook, _not_worse, _Tally

__all__ = [
    "CHAIN_RATE_MAX", "CHAIN_RATIOS", "CHANGE_FLOOR", "DEFAULT_MEMORY", "JUMP_EVERY", "JUMP_FOLLOW", "JUMP_FOLLOW_GROWTH", "JUMP_FOLLOW_SCALE", "JUMP_MAX", "JUMP_MIN_CHANGE", "JUMP_MIN_RATE",
    "JUMP_RELAX", "JUMP_WAIT_MAX", "NEWTON_BACKOFF", "NEWTON_MIN_RATE", "NEWTON_START", "NEWTON_WAIT_NONE", "RATE_WINDOW", "RHO_MAX",
    "ritz_rate", "ritz_rate_gram", "run_anderson",
]

#: Secant pairs kept (Anderson's memory ``m``).
DEFAULT_MEMORY = 10
#: Largest EM rate the stopping rule believes: the test is at most 10,000x tighter than tol.
RHO_MAX = 0.9999
#: The scaled test never asks for a change below this (rounding noise of the EM map in
#: standardised units), unless ``tol`` itself is smaller.
CHANGE_FLOOR = 1e-13
#: The rate used is the largest Ritz estimate of this many latest iterations (a thin or
#: stale memory underestimates it).
RATE_WINDOW = 10
#: Singular values of the step differences below this fraction of the largest are dropped.
RITZ_RCOND = 1e-6

#: The Newton point is first offered once the EM step is below this (SD units).
NEWTON_START = 1e-2
#: ... and only while the estimated EM rate is at least this (where EM is fast, Anderson
#: converges in a few more evaluations than Newton would take, and the information costs more).
NEWTON_MIN_RATE = 0.9
#: The chain's stopping test looks at this many ratios of pair sums of Newton moves ...
CHAIN_RATIOS = 2
#: ... and believes them up to this rate a pair (a chain contracting more slowly stops by
#: EM's test at the rate RHO_MAX: at 0.79 a pair the moves hid a slower mode, module docstring) ...
CHAIN_RATE_MAX = 0.5
#: ... once they agree to this (a chain's first points after a jump contract faster along
#: the directions the jump overshot: the ratios rise to the chain's rate)
CHAIN_SETTLED = 0.05
#: Accepted iterates to wait after a refused Newton point (doubled after each refusal).
NEWTON_BACKOFF = 2
#: Accepted iterates to wait when the problem offers no Newton point (information not
#: positive definite yet): that costs no evaluation, only the information's computation.
NEWTON_WAIT_NONE = 1

#: Chord jumps (module docstring): accepted iterates between two tries (doubled after
#: each refused one, up to JUMP_WAIT_MAX; reset by an accepted one) ...
JUMP_EVERY = 20
JUMP_WAIT_MAX = 40
#: ... the estimated EM rate from which they are tried ...
JUMP_MIN_RATE = 0.999
#: ... the EM steps that relax a jump's point before it is judged ...
JUMP_RELAX = 5
#: ... and the longest jump, in chords.
JUMP_MAX = 64.0
#: After an accepted jump, try at once to repeat its whole displacement from its end
#: (tests switch it off to compare) ...
JUMP_FOLLOW = True
#: ... times this (2 was measured too: 20 x 300 302 evaluations against 360 at 1, but 50 x
#: 1,000 410 against 338 and 30 x 600 294 against 254).
JUMP_FOLLOW_SCALE = 1.0
#: ... and only while each follow-up gains at least this fraction of the objective the jump
#: before it gained (module docstring, "Follow-ups"); 0 follows every accepted one.
JUMP_FOLLOW_GROWTH = 0.3
#: A new line of jumps starts only while the EM step is at least this (SD units): the
#: plateaus creep at 5e-5 SD a step or more, while in the final approach a jump is refused
#: or gains little, and an accepted one restarts Anderson's memory.
JUMP_MIN_CHANGE = 3e-6

_DAMP_START = 1e-8
_DAMP_MIN = 1e-12
_DAMP_MAX = 1e6
_DAMP_DOWN = 10.0
_DAMP_UP = 100.0


class _Coordinates:
    """The problem's free coordinates (``to_free``/``from_free``), or the identity."""

    def __init__(self, problem: EMProblem[Any]) -> None:
        to_free = getattr(problem, "to_free", None)
        from_free = getattr(problem, "from_free", None)
        self.free = callable(to_free) and callable(from_free)
        self._to = to_free if self.free else None
        self._from = from_free if self.free else None

    def to_free(self, x: np.ndarray) -> np.ndarray | None:
        if self._to is None:
            return x
        z = self._to(x)
        return None if z is None or not np.all(np.isfinite(z)) else np.asarray(z, dtype=float)

    def from_free(self, z: np.ndarray) -> np.ndarray:
        return z if self._from is None else np.asarray(self._from(z), dtype=float)


def ritz_rate(dz: np.ndarray, dg: np.ndarray) -> float:
    """Largest real part of the Ritz values of EM's Jacobian from secant pairs, clipped to ``[0, RHO_MAX]``.

    With the thin SVD ``dz = U S V'`` truncated to the singular values above
    ``RITZ_RCOND * s_max`` (nearly collinear steps, as plain EM's become, span fewer
    directions), the Ritz values of ``J`` on ``span(U)`` are the eigenvalues of
    ``I + U' dg V S^{-1} = I + S^{-1} V' (dz' dg) V S^{-1}``; ``V`` and ``S`` come from the
    eigenvalues of ``dz' dz`` (``k x k``), so only the Gram matrices are needed
    (:func:`ritz_rate_gram`; the driver keeps them up to date).

    Parameters
    ----------
    dz : ndarray, shape (d, k)
        Differences of successive iterates.
    dg : ndarray, shape (d, k)
        Differences of their EM steps (``dg ~ (J - I) dz``).

    Returns
    -------
    float
        The clipped largest real part; 0 for ``k < 2`` or a non-finite estimate.
    """
    if dz.shape[1] < 2:
        return 0.0
    return ritz_rate_gram(dz.T @ dz, dz.T @ dg)


def ritz_rate_gram(zz: np.ndarray, zg: np.ndarray) -> float:
    """:func:`ritz_rate` from the Gram matrices ``zz = dz' dz`` and ``zg = dz' dg``, each shape (k, k)."""
    if zz.shape[0] < 2:
        return 0.0
    # dz'dz = V S^2 V', U = dz V S^-1, so U' dg V S^-1 = S^-1 V' (dz'dg) V S^-1 (no d x k
    # SVD: on wide data d is p(p+1)/2)
    try:
        w, v = np.linalg.eigh(zz)
    except np.linalg.LinAlgError:
        return 0.0
    w_max = float(w[-1])
    if not w_max > 0.0 or not np.isfinite(w_max):
        return 0.0
    keep = w > RITZ_RCOND**2 * w_max
    v = v[:, keep]
    sv = np.sqrt(w[keep])
    b = (v.T @ zg @ v) / np.outer(sv, sv)
    try:
        ev = np.linalg.eigvals(np.eye(b.shape[0]) + b)
    except np.linalg.LinAlgError:
        return 0.0
    rho = float(np.max(ev.real))
    if not np.isfinite(rho):
        return 0.0
    return min(max(rho, 0.0), RHO_MAX)


class _Memory:
    """The differences of the last ``m + 1`` accepted iterates ``z_i`` and steps ``g_i`` (free coordinates), and their Gram matrix.

    The difference columns live in one ``(d, 2m)`` ring buffer, ``dZ`` in its first ``m``
    columns and ``dG`` in its last ``m`` (no re-stacking of the iterates at every
    iteration: on wide data ``d`` is in the hundreds of thousands); once full the columns
    are in rotated order, to which the secant step and the Ritz values are indifferent.
    The ``2m x 2m`` Gram matrix of the buffer is updated with each new pair (the ``2k``
    columns in use by the two new ones, ``4 d k`` flops) instead of being recomputed from the
    whole memory at every iteration (``dZ'dZ``, ``dZ'dG``, ``dG'dG``: ``6 d k^2``); the
    entries of columns not in use are stale and never read (a column's entries against
    every column in use are made when it is written).
    """

    def __init__(self, m: int) -> None:
        self.m = m
        self._last: tuple[np.ndarray, np.ndarray] | None = None
        self._buf: np.ndarray | None = None
        self._gram = np.zeros((2 * m, 2 * m))
        self._k = 0
        self._pos = 0

    def push(self, z: np.ndarray, g: np.ndarray) -> None:
        if self._last is not None:
            m, pos = self.m, self._pos
            if self._buf is None:
                self._buf = np.zeros((z.size, 2 * m), order="F")  # zeros: unused columns add nothing
            buf = self._buf
            np.subtract(z, self._last[0], out=buf[:, pos])
            np.subtract(g, self._last[1], out=buf[:, m + pos])
            # columns pos and m + pos as a strided view (2m columns: exactly those two),
            # which BLAS reads in place: no (d, 2) copy; against the columns in use only
            # (a Newton chain resets the memory every step: reading all 2m columns cost
            # 110 ms a push at d = 2 million)
            used = min(self._k + 1, m)
            two = buf[:, pos :: m]
            new = np.zeros((2 * m, 2))
            new[:used] = buf[:, :used].T @ two
            new[m : m + used] = buf[:, m : m + used].T @ two
            self._gram[:, pos] = self._gram[pos, :] = new[:, 0]
            self._gram[:, m + pos] = self._gram[m + pos, :] = new[:, 1]
            self._pos = (pos + 1) % m
            self._k = min(self._k + 1, m)
        self._last = (z, g)

    def reset(self) -> None:
        """Forget every pair (the buffer is kept: a column's Gram entries are recomputed when it is next written)."""
        self._last = None
        self._k = self._pos = 0

    @property
    def k(self) -> int:
        """The pairs held."""
        return self._k

    @property
    def empty(self) -> bool:
        """Nothing held (not even the last iterate): the next push makes no pair."""
        return self._last is None

    def differences(self) -> tuple[np.ndarray, np.ndarray]:
        """``dZ, dG``, each shape (d, k) (views, valid until the next push)."""
        if self._buf is None:
            d = 0 if self._last is None else self._last[0].size
            return np.empty((d, 0)), np.empty((d, 0))
        return self._buf[:, : self._k], self._buf[:, self.m : self.m + self._k]

    def grams(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``dZ'dZ, dZ'dG, dG'dG``, each shape (k, k) (views, valid until the next push)."""
        k, m, gram = self._k, self.m, self._gram
        return gram[:k, :k], gram[:k, m : m + k], gram[m : m + k, m : m + k]


class _NewtonChain:
    """The moves ``d_k = distance(x_k, x_{k+1})`` of consecutive accepted Newton points, and
    the second stopping test they give (module docstring, "Stopping on a Newton chain")."""

    def __init__(self) -> None:
        self._moves: deque[float] = deque(maxlen=CHAIN_RATIOS + 3)

    def push(self, move: float) -> None:
        moves = self._moves
        if len(moves) >= 2 and move > moves[-1] + moves[-2]:
            moves.clear()  # no contraction (an extrapolated point): the ratios start afresh
        moves.append(move)

    def clear(self) -> None:
        self._moves.clear()

    @property
    def active(self) -> bool:
        """Whether the accepted point is a Newton point (the chain holds a move)."""
        return bool(self._moves)

    def converged(self, tol: float) -> bool:
        """``q s / (1 - q) <= tol``, ``s = d_{k-1} + d_k`` the last two moves and ``q`` the
        largest of the last :data:`CHAIN_RATIOS` ratios of such pair sums two moves apart,
        when ``q <= CHAIN_RATE_MAX``."""
        moves = self._moves
        if len(moves) < CHAIN_RATIOS + 3:
            return False
        m = list(moves)
        pairs = [a + b for a, b in zip(m[:-1], m[1:])]
        if not all(a > 0.0 for a in pairs[:-2]):
            return False
        ratios = [b / a for a, b in zip(pairs[:-2], pairs[2:])]
        q = max(ratios)
        settled = q - min(ratios) <= CHAIN_SETTLED
        return settled and q <= CHAIN_RATE_MAX and q * pairs[-1] / (1.0 - q) <= tol


def _proposal(dz: np.ndarray, dg: np.ndarray, gg: np.ndarray, gz: np.ndarray, g: np.ndarray, damp: float) -> np.ndarray | None:
    """Anderson's point ``G(z_k) - (dZ + dG) gamma`` (module docstring); ``gg = dG'dG``."""
    a = gg
    scale = float(np.trace(a)) / a.shape[0]
    if not scale > 0.0 or not np.isfinite(scale):
        return None
    try:
        gamma = np.linalg.solve(a + damp * scale * np.eye(a.shape[0]), dg.T @ g)
    except np.linalg.LinAlgError:
        return None
    out = gz - dz @ gamma
    out -= dg @ gamma
    return out if np.all(np.isfinite(out)) else None


def _push(
    mem: _Memory, coords: _Coordinates, z: np.ndarray | None, x: np.ndarray, fz: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Push ``(z, g = G(z) - z)`` of the accepted ``x`` (``fz = G(z)``) onto the memory; ``z`` is
    made from ``x`` when not known (after a Newton point). ``(z, g)``, or None where ``x`` has
    no free coordinates."""
    z = z if z is not None else coords.to_free(x)
    if z is None:
        return None
    g = fz - z
    mem.push(z, g)
    return z, g


def _try_jump(
    run: _Tally, problem: EMProblem[Any], x: np.ndarray, anchor: np.ndarray, scale: float, obj: float
) -> tuple[None, np.ndarray, np.ndarray, float] | str:
    """A chord jump from ``x`` (module docstring): ``(None, y, F(y), L(y))`` for the relaxed point
    ``y`` if ``L(y) > obj``, else ``"refused"`` (after ``JUMP_RELAX + 1`` evaluations, or none
    where the extrapolated point is not feasible)."""
    y = x + scale * (x - anchor)
    if not (np.all(np.isfinite(y)) and problem.feasible(y)):
        return "refused"
    fy, oy = run.evaluate(y)
    for _ in range(JUMP_RELAX):  # the relaxing EM steps, each point evaluated (F and L)
        if fy is None:
            break
        y = fy
        fy, oy = run.evaluate(y)
    if fy is not None and oy > obj:
        return None, y, fy, oy  # free coordinates made when the memory wants them
    run.n_rejected += 1
    return "refused"


def _try_newton(
    run: _Tally, problem: EMProblem[Any], coords: _Coordinates, newton: Any, x: np.ndarray, fx: np.ndarray, obj: float
) -> tuple[None, np.ndarray, np.ndarray, float] | str:
    """Evaluate the Newton point of ``x``: ``(None, x, F(x), L(x))`` there if it is feasible and not worse
    (its free coordinates, a factorisation on wide data, are made only if Anderson's memory wants them);
    ``"none"`` when the problem offers no point (its information is not positive definite there),
    ``"refused"`` when the point is infeasible or lowers the objective."""
    cand = newton(x, fx)
    if cand is None:
        return "none"
    if not (np.all(np.isfinite(cand)) and problem.feasible(cand)):
        return "refused"
    fxc, objc = run.evaluate(cand)
    if fxc is not None and _not_worse(objc, obj):
        return None, cand, fxc, objc  # its free coordinates when the memory wants them
    run.n_rejected += 1
    return "refused"


def run_anderson(
    problem: EMProblem[Any],
    x0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    stop: StopHook | None = None,
    memory: int = DEFAULT_MEMORY,
    use_newton: bool = True,
) -> EMRun:
    """Anderson-accelerated EM with the monotone safeguard and the rate-scaled stopping rule.

    Parameters
    ----------
    problem : EMProblem
        As for :func:`~imputer._em.squarem.run_em`; its free coordinates are used when it
        has ``to_free``/``from_free`` (:class:`~imputer._em.problem.FreeCoordinates`).
    x0 : ndarray, shape (d,)
        Starting packed parameter vector.
    tol : float
        Converged at the first accepted ``x`` with ``distance(x, F(x)) <= tol (1 - rho_hat)``
        (module docstring).
    max_iter : int
        Maximum number of outer iterations (accepted iterates), >= 0.
    stop : callable, optional
        ``stop(x, L(x)) -> bool`` checked at every accepted iterate (before the
        convergence test); True ends the run there with ``stop_reason="stopped"``.
    memory : int, default DEFAULT_MEMORY
        Anderson's memory ``m >= 1``.
    use_newton : bool, default True
        Offer the problem's Newton points (``problem.newton``, when it has one) once the
        EM step is below :data:`NEWTON_START` (module docstring); False: Anderson only.

    Returns
    -------
    EMRun
        Never raises for the run's own outcome (see :func:`~imputer._em.squarem.run_em`).
    """
    run = _Tally(problem, stop)
    coords = _Coordinates(problem)
    x = np.array(x0, dtype=float)
    if not problem.feasible(x):
        return run.end(x, "infeasible", 0)
    if max_iter <= 0:
        return run.end(x, "max_iter", 0)
    z: np.ndarray | None = coords.to_free(x)  # None after a Newton point: made when wanted
    if z is None:
        return run.end(x, "infeasible", 0)
    fx, obj = run.evaluate(x)
    if not np.isfinite(obj):
        return run.end(x, "infeasible", 0)
    mem = _Memory(memory)
    newton = getattr(problem, "newton", None) if use_newton else None
    newton = newton if callable(newton) else None
    fresh = getattr(problem, "newton_fresh", None) if newton is not None else None
    fresh = fresh if callable(fresh) else None
    wait, backoff = 0, NEWTON_BACKOFF
    recent: deque[float] = deque(maxlen=RATE_WINDOW)  # the last Ritz estimates
    damp = _DAMP_START
    chain = _NewtonChain()
    since_newton = RATE_WINDOW  # Ritz estimates made since the last accepted Newton point
    jumps = bool(getattr(problem, "chord_jumps", False))
    anchor, anchor_it, jump_scale = x, 0, 1.0  # the chord's far end, when it was accepted
    jump_wait = JUMP_EVERY
    following = False  # the next jump repeats the last accepted one's displacement
    line_gain = 0.0  # the objective gained by the line's last jump
    for it in range(1, max_iter + 1):
        if run.accept(x, obj):
            return run.end(x, "stopped", it)
        # F(x) in free coordinates is wanted for Anderson's memory and its proposal; on a
        # fresh memory (just after an accepted Newton point) pushing it yields no secant pair
        # and no rate, so it waits until the Newton point is refused: on wide data it is a
        # p x p factorisation per step of a Newton chain (the result is the same either way)
        lazy = newton is not None and wait == 0 and mem.empty and fx is not None
        fz = None if fx is None or lazy else coords.to_free(fx)
        if fz is None and not lazy:
            return run.end(x, "singular", it)
        change = problem.distance(x, fx)
        run.changes.append(change)
        if fz is not None:
            pushed = _push(mem, coords, z, x, fz)
            if pushed is None:
                return run.end(x, "singular", it)
            z, g = pushed
            if mem.k >= 2:  # (after a Newton step the memory restarts: the earlier estimates stand)
                recent.append(ritz_rate_gram(*mem.grams()[:2]))
                since_newton += 1
        rho = max(recent, default=0.0)
        # at a Newton point, and until RATE_WINDOW estimates are made after one, EM's step
        # tells the distance at the largest rate believed (module docstring)
        rho_stop = RHO_MAX if chain.active or since_newton < RATE_WINDOW else rho
        if change <= max(tol * (1.0 - rho_stop), min(tol, CHANGE_FLOOR)) or chain.converged(tol):
            return run.end(fx, "converged", it)
        if it == max_iter:
            break
        if jumps and rho >= JUMP_MIN_RATE and it - anchor_it >= jump_wait and (following or change >= JUMP_MIN_CHANGE):
            jumped = _try_jump(run, problem, x, anchor, JUMP_FOLLOW_SCALE if following else jump_scale, obj)
            if isinstance(jumped, str):
                if not following:
                    jump_scale = max(jump_scale / 4.0, 1.0)
                    jump_wait = min(2 * jump_wait, JUMP_WAIT_MAX)
                anchor, anchor_it, following = x, it, False
            else:
                gain = jumped[3] - obj
                if not following:
                    jump_scale = min(2.0 * jump_scale, JUMP_MAX)
                jump_wait = JUMP_EVERY
                # a line goes on while each follow-up gains JUMP_FOLLOW_GROWTH of the jump before it
                go_on = JUMP_FOLLOW and (not following or gain >= JUMP_FOLLOW_GROWTH * line_gain)
                line_gain = gain
                if go_on:
                    # the next iteration repeats this jump's whole displacement from its end
                    anchor, anchor_it, following = x, it - jump_wait, True
                z, x, fx, obj = jumped
                if not go_on:
                    anchor, anchor_it, following = x, it, False
                mem.reset()
                chain.clear()
                continue
        if newton is not None and change <= NEWTON_START and rho >= NEWTON_MIN_RATE:
            if wait > 0:
                wait -= 1
            else:
                took = _try_newton(run, problem, coords, newton, x, fx, obj)
                if not isinstance(took, str):
                    if fresh is not None and fresh():
                        chain.clear()  # an extrapolation: the moves after it are a new contraction
                    else:
                        chain.push(problem.distance(x, took[1]))
                    since_newton = 0
                    z, x, fx, obj = took
                    backoff = NEWTON_BACKOFF
                    mem.reset()  # secant pairs across a Newton step mislead Anderson
                    anchor, anchor_it, following = x, it, False  # nor is a chord across it EM's path
                    continue
                if took == "none":
                    wait = NEWTON_WAIT_NONE
                else:
                    wait, backoff = backoff, 2 * backoff
        chain.clear()  # this iteration ends in Anderson's or EM's point
        if fz is None:  # deferred above: the memory was empty, so this adds no pair
            fz = coords.to_free(fx)
            pushed = None if fz is None else _push(mem, coords, z, x, fz)
            if pushed is None:
                return run.end(x, "singular", it)
            z, g = pushed
        dz, dg = mem.differences()
        gg = mem.grams()[2]
        cand = _proposal(dz, dg, gg, fz, g, damp) if mem.k >= 1 else None
        if cand is not None:
            xc = coords.from_free(cand)
            if np.all(np.isfinite(xc)) and problem.feasible(xc):
                fxc, objc = run.evaluate(xc)
                if _not_worse(objc, obj):
                    z, x, fx, obj = cand, xc, fxc, objc
                    damp = max(damp / _DAMP_DOWN, _DAMP_MIN)
                    continue
            run.n_rejected += 1
            damp = min(damp * _DAMP_UP, _DAMP_MAX)
        # the EM step, which never lowers the objective
        f2, obj2 = run.evaluate(fx)
        if not np.isfinite(obj2):
            return run.end(x, "singular", it)
        z, x, fx, obj = fz, fx, f2, obj2
    return run.end(x if fx is None else fx, "max_iter", max_iter)
