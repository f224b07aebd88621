"""imputer.mvn._fillnewton: Newton steps on the fills' fixed point (wide data with few rows).

* the matrix-free Jacobian equals central differences of the fill map computed row by row
  (``Sigma_MO Sigma_OO^-1`` by dense solves, the M-step written out), for both priors;
* a default fit reaches the fixed point of Anderson alone run to ``tol = 1e-12`` (1e-8 SD
  units) in a fraction of its evaluations, with a never-decreasing history;
* where it is offered, how refused candidates shrink the step, and how chains end, pause and restart;
* a chain's solves, deflated by the ones before, take fewer products to the same fixed point;
* a chain's points are extrapolated to the limit of a geometric sequence of pairs, and not
  where they are no such sequence; extrapolated slow chains reach the same fixed point in
  fewer evaluations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imputer._em import run_em
from imputer._em.anderson import run_anderson
from imputer._gaussian.estep import ChunkedPoint, small_plan
from imputer._gaussian.prior import RidgePrior, as_prior
from imputer.mvn._fillnewton import (
    LATE_START, MAX_CHAINS, MAX_REFUSALS, MAX_STALLED_CHAINS, MIN_COLUMNS_PER_ROW, REFUSED_PAUSE, SPARSE_COLUMNS_PER_ROW,
    SPARSE_START, AtPoint, FillNewton, fill_plan,
)
from imputer.mvn._fit import standardise, start_values
from imputer.mvn._scaling import scaling_of
from imputer.mvn._newton import NewtonStep
from imputer.mvn._problem import MVNProblem
from tests.imputer.mvn.conftest import naive_completion
from tests.imputer.mvn.test_problem import standard


def _standard_keeping_complete(df: pd.DataFrame):
    """``standard(df)`` with the complete rows kept (for the row-by-row reference)."""
    values = tuple(df[c].to_numpy(dtype=float) for c in df.columns)
    mask = np.asfortranarray(np.column_stack([np.isnan(v) for v in values]))
    return standardise(mask, values, scaling_of(tuple(df.columns), values, mask), keep_complete=True)


def _wide(n: int, p: int, seed: int, complete_rows: int = 0) -> pd.DataFrame:
    """Three factors plus noise, 20% MCAR (column 0 and the first ``complete_rows`` rows observed)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)) @ rng.standard_normal((3, p)) + 0.5 * rng.standard_normal((n, p))
    x += rng.uniform(-2, 2, p)
    hole = rng.random((n, p)) < 0.2
    hole[:, 0] = False
    hole[:complete_rows] = False
    x[hole] = np.nan
    return pd.DataFrame(x, columns=[f"c{j}" for j in range(p)])


def _weak_factors(n: int, p: int, seed: int) -> pd.DataFrame:
    """Three weak factors (loadings N(0, 0.8^2)) and uniquenesses U(0.3, 1), 20% MCAR, column 0
    observed (as ``benchmarks._datasets.mcar_mvn``): slow chains of the fills' steps at 2 to 3
    columns a row, contracting at 0.9 or more a step."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(0.0, 0.8, size=(p, 3))
    x = rng.standard_normal((n, 3)) @ loadings.T + rng.standard_normal((n, p)) * np.sqrt(rng.uniform(0.3, 1.0, p))
    hole = rng.random((n, p)) < 0.2
    hole[:, 0] = False
    x[hole] = np.nan
    return pd.DataFrame(x, columns=[f"c{j}" for j in range(p)])


def _anderson_reference(n: int, p: int, complete: int):
    """The start and Anderson alone run to ``tol = 1e-12`` on ``_wide(n, p, seed=p)`` with ``ridge=1``."""
    data = standard(_wide(n, p, seed=p, complete_rows=complete))
    x0 = MVNProblem(data, 1.0).pack(start_values(data))
    ref = run_anderson(MVNProblem(data, 1.0), x0, tol=1e-12, max_iter=50_000, use_newton=False)
    assert ref.trace.stop_reason == "converged"
    return x0, ref


def _prior(kind: str, data) -> RidgePrior:
    if kind == "ridge":
        return as_prior(1.0)
    # Amelia's convention: a = lambda + p + 2, D = diag(n_j / (n_j - 1))
    n_obs = np.full(data.p, float(data.n))
    for g in data.patterns.groups:
        n_obs -= np.bincount(g.miss.ravel(), weights=np.repeat(g.counts, g.n_miss).astype(float), minlength=data.p)
    return RidgePrior(weight=4.0, logdet_weight=4.0 + data.p + 2, scale=n_obs / (n_obs - 1.0))


def _naive_mstep(z: np.ndarray, cond: np.ndarray, prior: RidgePrior) -> tuple[np.ndarray, np.ndarray]:
    mu = z.mean(axis=0)
    r = z - mu
    d = np.eye(z.shape[1]) if prior.scale is None else np.diag(prior.scale)
    return mu, (r.T @ r + cond + prior.weight * d) / (z.shape[0] + prior.logdet_weight)


@pytest.mark.parametrize("prior_kind", ["ridge", "amelia"])
@pytest.mark.parametrize("shape", [(8, 40, 0), (12, 35, 2)])
def test_jacobian_equals_differences_of_the_fill_map(prior_kind: str, shape: tuple[int, int, int]) -> None:
    n, p, complete = shape
    df = _wide(n, p, seed=n + p, complete_rows=complete)
    data = _standard_keeping_complete(df)
    prior = _prior(prior_kind, data)
    problem = MVNProblem(data, prior)
    plan = small_plan(data)
    assert plan is not None
    # a point some EM steps in, and the fills it is the M-step of
    x = problem.pack(start_values(data))
    for _ in range(5):
        x, _ = problem.step(x)
    mu0, s0 = problem.unpack(x)
    # the rows in the work array's order (incomplete rows by pattern, then the complete ones)
    n_inc = data.work.shape[0]
    work = data.work.copy()
    np.put(work.reshape(-1), plan.miss_flat, np.nan)
    rows = np.vstack([work, data.complete_rows()])
    missing = np.isnan(rows)
    z_rows, cond = naive_completion(rows, mu0, s0)
    z_in = z_rows[missing]  # row by row, as plan.miss_flat
    assert missing[n_inc:].sum() == 0
    mu, sigma = _naive_mstep(z_rows, cond, prior)  # x: the M-step of z_in

    def fill_map(z: np.ndarray) -> np.ndarray:
        full = z_rows.copy()
        full[missing] = z
        a, b = _naive_mstep(full, cond, prior)  # C held fixed
        return naive_completion(rows, a, b)[0][missing]

    newton = FillNewton(data, plan, prior, problem.pack, problem.unpack)
    jac = newton.jacobian(AtPoint(data, plan, mu, sigma), z_in, single=False)
    # the product the solves use: V Lambda in single precision
    jac32 = newton.jacobian(AtPoint(data, plan, mu, sigma), z_in)
    np.testing.assert_allclose(AtPoint(data, plan, mu, sigma).fills, fill_map(z_in), rtol=1e-9, atol=1e-10)
    rng = np.random.default_rng(3)
    h = 1e-5
    for _ in range(3):
        d = rng.standard_normal(z_in.size)
        diff = (fill_map(z_in + h * d) - fill_map(z_in - h * d)) / (2 * h)
        np.testing.assert_allclose(jac(d), diff, rtol=1e-6, atol=1e-7 * np.abs(diff).max())
        err32 = np.abs(jac32(d) - diff).max() / np.abs(diff).max()
        assert 1e-12 < err32 < 1e-4  # single precision's error, far below GMRES_RTOL


@pytest.mark.parametrize("prior_kind", ["ridge", "amelia"])
@pytest.mark.parametrize("shape", [(6, 60, 0), (6, 80, 0), (7, 90, 2)])
def test_fit_reaches_andersons_fixed_point_in_fewer_evaluations(prior_kind: str, shape: tuple[int, int, int]) -> None:
    n, p, complete = shape
    data = standard(_wide(n, p, seed=p, complete_rows=complete))
    prior = _prior(prior_kind, data)
    ref_problem = MVNProblem(data, prior)
    x0 = ref_problem.pack(start_values(data))
    ref = run_anderson(ref_problem, x0, tol=1e-12, max_iter=50_000, use_newton=False)
    assert ref.trace.stop_reason == "converged"
    plain = run_anderson(MVNProblem(data, prior), x0, tol=1e-7, max_iter=50_000, use_newton=False)
    for tol, within in [(1e-7, 1e-7), (1e-10, 1e-8)]:  # the default (README: about tol); the same fixed point
        problem = MVNProblem(standard(_wide(n, p, seed=p, complete_rows=complete)), prior)
        run = run_em(problem, x0, tol=tol, max_iter=5_000)
        assert run.trace.stop_reason == "converged"
        if prior_kind == "ridge":  # (Amelia's prior, with its p + 2 pseudo-rows, can make EM fast enough
            # that the driver never asks for a Newton point: rate below NEWTON_MIN_RATE)
            assert isinstance(problem._newton, FillNewton) and problem._newton.products > 0
        assert problem.distance(ref.x, run.x) < within
        assert np.all(np.diff(run.trace.history) >= -1e-12 * np.abs(run.trace.history[1:]))
        if tol == 1e-7 and problem._newton:
            assert run.trace.n_evals < plain.trace.n_evals


@pytest.mark.parametrize(
    ("shape", "kind"),
    [((200, 4, 0), NewtonStep), ((5, 60, 0), FillNewton), ((30, 100, 0), FillNewton), ((50, 100, 0), FillNewton),
     ((60, 100, 0), FillNewton), ((70, 100, 0), type(None)), ((3000, 40, 0), type(None))],
    ids=["dense Newton", "fills", "fills, late (3 to 10 columns a row)", "fills, late (2 columns a row)",
         "fills, later (1.5 to 2 columns a row)", "neither (rows not few enough)", "neither (many rows)"],
)
def test_which_newton_step_is_offered(shape: tuple[int, int, int], kind: type) -> None:
    n, p, _ = shape
    data = standard(_wide(n, p, seed=1))
    problem = MVNProblem(data, 1.0)
    x = problem.pack(start_values(data))
    fx, _ = problem.step(x)
    problem.newton(x, fx)
    assert isinstance(problem._newton if problem._newton is not False else None, kind)
    if kind is FillNewton:  # from the driver's own start with 10 columns a row, else in the final approach
        late = LATE_START if p >= SPARSE_COLUMNS_PER_ROW * n else SPARSE_START
        assert problem._newton.start == (None if p >= MIN_COLUMNS_PER_ROW * n else late)


@pytest.mark.parametrize("shape", [(12, 40, 0), (15, 60, 0), (20, 80, 1), (25, 60, 1), (35, 60, 0), (36, 60, 1)])
def test_a_late_step_starts_in_the_final_approach_and_keeps_the_fixed_point(
    shape: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 to 10 columns a row: no chain starts while the EM step exceeds LATE_START (1.5 to 2:
    # SPARSE_START), and the fit ends where Anderson alone does (run to tol = 1e-12)
    n, p, complete = shape
    x0, ref = _anderson_reference(n, p, complete)
    starts: list[float] = []
    real = FillNewton.__call__

    def recorded(self, x, fx):  # type: ignore[no-untyped-def]
        in_chain = self._last is not None and x is self._last
        out = real(self, x, fx)
        if out is not None and not in_chain:
            starts.append(problem.distance(x, fx))
        return out

    monkeypatch.setattr(FillNewton, "__call__", recorded)
    for tol, within in [(1e-7, 1e-7), (1e-10, 1e-8)]:
        starts.clear()
        problem = MVNProblem(standard(_wide(n, p, seed=p, complete_rows=complete)), 1.0)
        run = run_em(problem, x0, tol=tol, max_iter=50_000)
        assert run.trace.stop_reason == "converged"
        late = LATE_START if p >= SPARSE_COLUMNS_PER_ROW * n else SPARSE_START
        assert isinstance(problem._newton, FillNewton) and problem._newton.start == late
        assert starts and max(starts) <= late
        assert problem.distance(ref.x, run.x) < within
        assert np.all(np.diff(run.trace.history) >= -1e-12 * np.abs(run.trace.history[1:]))


def _chain(seed: int) -> tuple[MVNProblem, FillNewton, np.ndarray]:
    data = standard(_wide(5, 60, seed=seed))
    problem = MVNProblem(data, 1.0)
    x = problem.pack(start_values(data))
    fx, _ = problem.step(x)
    cand = problem.newton(x, fx)  # the chain's first candidate: the EM update, recomputed
    assert isinstance(problem._newton, FillNewton) and not problem._newton._last_newton
    np.testing.assert_allclose(cand, fx, rtol=1e-9, atol=1e-12)
    return problem, problem._newton, cand


def test_a_refused_candidate_shrinks_the_next_step() -> None:
    problem, newton, cand = _chain(2)
    fc, _ = problem.step(cand)  # accepted
    step = problem.newton(cand, fc)  # a Newton step at full length
    assert newton._last_newton and newton._scale == 1.0
    # the driver moved on without it (refused): a new chain, shorter steps
    other, _ = problem.step(fc)
    start = problem.newton(fc, other)
    assert newton._scale == 0.25 and newton._refused == 1 and not newton._last_newton
    fs, _ = problem.step(start)
    short = problem.newton(start, fs)
    assert newton._last_newton and not np.array_equal(short, step)
    fsh, _ = problem.step(short)  # accepted: back to full length at the next step
    problem.newton(short, fsh)
    assert newton._scale == 1.0


def _refuse_a_chain(problem: MVNProblem, newton: FillNewton, x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """From ``x``, the accepted start of a chain, let the driver refuse :data:`MAX_REFUSALS`
    Newton candidates in a row; returns the call's answer after the last and the point it was
    made at."""
    for refusals in range(1, MAX_REFUSALS + 1):
        fx, _ = problem.step(x)
        assert problem.newton(x, fx) is not None and newton._last_newton  # a Newton candidate
        # the driver refuses it and takes the EM step instead
        fy, _ = problem.step(fx)
        start = problem.newton(fx, fy)
        if refusals < MAX_REFUSALS:
            assert newton._refused == refusals
            assert start is not None and not newton._last_newton  # a new start, shorter steps
            problem.step(start)
            x = start
    return start, fy


def test_repeated_refusals_end_the_chain_pause_and_max_chains_end_the_steps() -> None:
    problem, newton, x = _chain(3)
    problem.step(x)  # the chain's start accepted
    for ended in range(1, MAX_CHAINS + 1):
        start, at = _refuse_a_chain(problem, newton, x)
        assert start is None and newton._ended == ended  # this chain ended
        assert newton._disabled == (ended == MAX_CHAINS)
        fa, _ = problem.step(at)
        if ended == MAX_CHAINS:
            assert problem.newton(at, fa) is None  # for the rest of the run
            break
        # the call that ended it answered None, and so do the next REFUSED_PAUSE calls (doubled
        # after each chain ended by refusals) ...
        pause = REFUSED_PAUSE * 2 ** (ended - 1)
        assert all(problem.newton(at, fa) is None for _ in range(pause))
        # ... then a new chain at full length
        x = problem.newton(at, fa)
        assert x is not None and not newton._last_newton
        assert newton._scale == 1.0 and newton._refused == 0
        problem.step(x)


def test_stalled_chains_have_their_own_limit() -> None:
    _, newton, _ = _chain(3)
    for _ in range(MAX_STALLED_CHAINS - 1):
        newton._end_chain()  # a stall: no pause, and not counted against MAX_CHAINS
        assert not newton._disabled and newton._pause == 0 and newton._ended == 0
    newton._end_chain(refused=True)
    assert newton._ended == 1 and newton._pause == REFUSED_PAUSE and not newton._disabled
    newton._end_chain()
    assert newton._stalled == MAX_STALLED_CHAINS and newton._disabled


def test_a_stalled_chain_is_restarted_and_reaches_the_fixed_point(monkeypatch: pytest.MonkeyPatch) -> None:
    # a table (found by a sweep of seeds, at STALL_RATIO = 0.7) where the first chain stalls
    # early, while C_M still moves: ending the steps there took 275 evaluations, a restarted
    # chain 49 (at today's 0.9 its chain does not stall: 46 evaluations)
    import imputer.mvn._fillnewton as fill_newton

    monkeypatch.setattr(fill_newton, "STALL_RATIO", 0.7)
    df = _wide(10, 150, seed=2)
    problem = MVNProblem(standard(df), 1.0)
    x0 = problem.pack(start_values(problem.data))
    run = run_em(problem, x0, tol=1e-7, max_iter=5_000)
    newton = problem._newton
    assert isinstance(newton, FillNewton) and newton._stalled >= 1 and not newton._disabled
    assert run.trace.stop_reason == "converged" and run.trace.n_evals < 100
    ref_problem = MVNProblem(standard(df), 1.0)
    ref = run_anderson(ref_problem, x0, tol=1e-12, max_iter=50_000, use_newton=False)
    assert ref.trace.stop_reason == "converged"
    assert problem.distance(ref.x, run.x) < 1e-6
    assert np.all(np.diff(run.trace.history) >= -1e-12 * np.abs(run.trace.history[1:]))


def test_the_last_e_step_is_reused_where_it_was_at_the_same_point() -> None:
    data = standard(_wide(10, 40, seed=4))
    problem = MVNProblem(data, 1.0)
    plan = small_plan(data)
    x = problem.pack(start_values(data))
    x, _ = problem.step(x)
    problem.step(x)  # the driver's evaluation of x
    data.work[:] = 7.0  # another pass writing the work array (draws, the final completion)
    data.work[:] = standard(_wide(10, 40, seed=4)).work  # the observed values again, fills stale
    mu, sigma = problem.unpack(x)
    reused = AtPoint(data, plan, mu, sigma)
    assert reused.prec is data.memo["small_last"].prec
    del data.memo["small_last"]
    fresh = AtPoint(data, plan, mu, sigma)
    np.testing.assert_allclose(reused.fills, fresh.fills, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(reused.cond, fresh.cond, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(reused.prec, fresh.prec, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("e_step", ["chunk loop", "no batched E-step"])
def test_the_step_works_beside_the_chunk_e_step(e_step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the E-step by chunks (which keeps its point's C_M blocks for the step: ChunkedPoint), and
    # a layout too large for the batched E-step (the step's own plan, without its limits)
    import imputer._gaussian.estep as estep_module

    data = standard(_wide(6, 80, seed=80))
    x0 = MVNProblem(data, 1.0).pack(start_values(data))
    ref = run_anderson(MVNProblem(data, 1.0), x0, tol=1e-12, max_iter=50_000, use_newton=False)
    if e_step == "chunk loop":
        monkeypatch.setattr(estep_module, "SMALL_PATH", False)
    else:
        monkeypatch.setattr(estep_module, "SMALL_MAX_ELEMENTS", 0)
    fresh = standard(_wide(6, 80, seed=80))
    problem = MVNProblem(fresh, 1.0)
    run = run_em(problem, x0, tol=1e-10, max_iter=5_000)
    assert isinstance(problem._newton, FillNewton) and problem._newton.products > 0
    assert isinstance(fresh.memo["small_last"], ChunkedPoint)
    assert (small_plan(fresh) is None) == (e_step == "no batched E-step")
    assert run.trace.converged and problem.distance(ref.x, run.x) < 1e-8


@pytest.mark.parametrize("seed", [3, 4])
def test_the_chunk_e_step_keeps_the_batched_quantities(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # the chunk loop's kept point (C_M blocks by reference, its fills) against the batched
    # path's own computation at the same point: what AtPoint takes from either is the same
    import imputer._gaussian.estep as estep_module
    from imputer._gaussian.estep import estep, small_conditionals, small_fill
    from imputer._gaussian.linalg import precision

    monkeypatch.setattr(estep_module, "SMALL_PATH", False)
    data = standard(_wide(7, 90, seed=seed))
    problem = MVNProblem(data, 1.0)
    plan = fill_plan(data)
    assert plan is not None
    x = problem.pack(start_values(data))
    problem.step(x)  # one step from the start: a point with correlations
    mu, sigma = problem.unpack(problem.step(x)[0])
    estep(data, mu, sigma)
    last = data.memo["small_last"]
    assert isinstance(last, ChunkedPoint) and last.mean is mu and last.cov is sigma
    prec, _ = precision(sigma)
    cond, _ = small_conditionals(data, plan, prec)
    np.testing.assert_allclose(last.conditionals(plan), cond, rtol=1e-10, atol=1e-12)
    assert np.all(last.conditionals(plan)[~plan.both] == 0.0)
    work = data.work.copy()
    small_fill(plan, work, mu, prec, cond)
    np.testing.assert_allclose(last.fills, work.reshape(-1).take(plan.miss_flat), rtol=1e-9, atol=1e-10)
    here = AtPoint(data, plan, mu, sigma)  # taken from the kept point: no recomputation
    assert here.prec is last.prec


@pytest.mark.parametrize("follow", [False, True])
def test_rows_sharing_patterns(follow: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # block missingness: 10 rows in 3 patterns (counts above 1 in C_M's sums and the product).
    # Without the trust region (TRUST_SD) the steps, moving fills by up to 18 conditional
    # SDs, hopped to a lower local maximum here (log-posterior -413.908 against -413.711).
    # The driver's follow-up jumps (imputer._em.anderson.JUMP_FOLLOW) carried the plain Newton
    # path to that lower maximum too; the saddle-free step (FLIP_BELOW) reaches Anderson's
    # alone with them as without them
    import imputer._em.anderson as anderson_module
    import imputer.mvn._fillnewton as fill_newton

    monkeypatch.setattr(anderson_module, "JUMP_FOLLOW", follow)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 3)) @ rng.standard_normal((3, 120)) + 0.5 * rng.standard_normal((10, 120))
    x[0:4, 1:40], x[4:8, 40:90], x[8:, 90:100] = np.nan, np.nan, np.nan
    df = pd.DataFrame(x)
    data = standard(df)
    assert data.patterns.n_patterns == 3
    x0 = MVNProblem(data, 1.0).pack(start_values(data))
    ref = run_anderson(MVNProblem(data, 1.0), x0, tol=1e-12, max_iter=50_000, use_newton=False)
    assert ref.trace.history[-1] == pytest.approx(-413.7105932, abs=1e-6)
    problem = MVNProblem(standard(df), 1.0)
    run = run_em(problem, x0, tol=1e-10, max_iter=5_000)
    assert isinstance(problem._newton, FillNewton) and problem._newton.products > 0
    assert problem.distance(ref.x, run.x) < 1e-8
    assert run.trace.history[-1] == pytest.approx(ref.trace.history[-1], rel=1e-12)
    assert np.all(np.diff(run.trace.history) >= -1e-9)
    if follow:
        # the plain Newton steps' path, for the record: the lower maximum, a fixed point of its own
        monkeypatch.setattr(fill_newton, "FLIP_BELOW", None)
        plain = run_em(MVNProblem(standard(df), 1.0), x0, tol=1e-10, max_iter=5_000)
        assert plain.trace.history[-1] == pytest.approx(-413.9080316, abs=1e-6)
        kept = run_anderson(MVNProblem(data, 1.0), plain.x, tol=1e-12, max_iter=50_000, use_newton=False)
        assert problem.distance(kept.x, plain.x) < 1e-8


def test_an_inexact_solve_reaches_the_same_point_with_fewer_products(monkeypatch: pytest.MonkeyPatch) -> None:
    # GMRES_RTOL (1e-2): the chain converges linearly whatever the inner accuracy, so the
    # fit stops as close to the maximiser as with a near-exact solve, at a fraction of the products
    import imputer.mvn._fillnewton as fill_newton

    data = standard(_wide(8, 120, seed=5))
    x0 = MVNProblem(data, as_prior(1.0)).pack(start_values(data))
    ref = run_anderson(MVNProblem(data, as_prior(1.0)), x0, tol=1e-12, max_iter=50_000, use_newton=False)
    assert ref.trace.stop_reason == "converged"
    products, evals = {}, {}
    for rtol in (1e-8, fill_newton.GMRES_RTOL):
        monkeypatch.setattr(fill_newton, "GMRES_RTOL", rtol)
        problem = MVNProblem(standard(_wide(8, 120, seed=5)), as_prior(1.0))
        run = run_em(problem, x0, tol=1e-7, max_iter=5_000)
        assert run.trace.stop_reason == "converged"
        assert problem.distance(ref.x, run.x) < 1e-6
        products[rtol], evals[rtol] = problem._newton.products, run.trace.n_evals
    assert fill_newton.GMRES_RTOL >= 1e-3
    assert products[fill_newton.GMRES_RTOL] < 0.6 * products[1e-8]
    assert evals[fill_newton.GMRES_RTOL] <= evals[1e-8] + 2


@pytest.mark.parametrize("shape", [(25, 60, 1), (30, 100, 0), (40, 120, 2)])
def test_the_chains_deflation_cuts_the_products_and_keeps_the_fixed_point(
    shape: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # each solve of a chain preconditions the next by its harmonic Ritz vectors: fewer
    # products, the same fixed point as Anderson alone run to tol = 1e-12
    import imputer.mvn._fillnewton as fill_newton

    n, p, complete = shape
    x0, ref = _anderson_reference(n, p, complete)
    products = {}
    for harvest in (0, fill_newton.DEFLATE_HARVEST):
        monkeypatch.setattr(fill_newton, "DEFLATE_HARVEST", harvest)
        problem = MVNProblem(standard(_wide(n, p, seed=p, complete_rows=complete)), 1.0)
        run = run_em(problem, x0, tol=1e-10, max_iter=50_000)
        assert run.trace.stop_reason == "converged"
        assert problem.distance(ref.x, run.x) < 1e-8
        assert isinstance(problem._newton, FillNewton)
        products[harvest] = problem._newton.products
    assert products[fill_newton.DEFLATE_HARVEST] < 0.85 * products[0], products  # (0.6-0.72 measured)


def _extrapolate(points: list[np.ndarray]) -> np.ndarray | None:
    """:meth:`FillNewton._extrapolate` on the chain points ``x_{k-8}, ..., x_k``."""
    from collections import deque
    from types import SimpleNamespace

    return FillNewton._extrapolate(SimpleNamespace(_points=deque(points)))  # type: ignore[arg-type]


def _modes(rates: tuple[float, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
    """``x* + sum_j rate_j^k v_j``, k = 0..8: a chain's points as geometric modes (a negative
    rate alternates: the long and short moves of the chains)."""
    rng = np.random.default_rng(5)
    x_star, *vs = rng.standard_normal((1 + len(rates), 40))
    return x_star, [x_star + sum(r**k * v for r, v in zip(rates, vs)) for k in range(9)]


@pytest.mark.parametrize(
    ("rates", "atol"),
    [
        ((0.9,), 1e-10),
        ((0.95, -0.95), 1e-8),  # one slow mode and an alternating one at the same rate
        ((0.95, -0.7), 1e-8),  # ... at another rate (Aitken's on pairs missed these: 0.95^2 != 0.7^2)
        ((0.99, -0.99), 1e-8),
        ((0.95, -0.9, 0.85), 1e-4),  # three modes: exact but for the Gram matrix's ridge
    ],
)
def test_up_to_extrap_modes_geometric_modes_are_extrapolated_to_their_limit(
    rates: tuple[float, ...], atol: float
) -> None:
    # the points two apart hold the modes at the squared rates, all positive: up to
    # EXTRAP_MODES of them are taken out exactly by the reduced-rank extrapolation
    import imputer.mvn._fillnewton as fill_newton

    assert len(rates) <= fill_newton.EXTRAP_MODES
    x_star, points = _modes(rates)
    assert np.max(np.abs(points[-1] - x_star)) > 0.3
    np.testing.assert_allclose(_extrapolate(points), x_star, rtol=0, atol=atol)


@pytest.mark.parametrize(
    ("rates", "why"),
    [
        ((0.6, -0.6), "pair ratio 0.36 < EXTRAP_QMIN: a fast chain gains little"),
        ((0.9995, -0.9995), "pair ratio 0.999 > EXTRAP_QMAX: no contraction to speak of"),
        ((1.1,), "pair ratio 1.21: moves that grow (a chain crossing a plateau)"),
        ((1.0,), "no move"),
    ],
)
def test_no_extrapolation_where_the_chain_is_fast_stalled_or_still(rates: tuple[float, ...], why: str) -> None:
    _, points = _modes(rates)
    if rates == (1.0,):
        points = [points[0]] * 9
    assert _extrapolate(points) is None, why


@pytest.mark.parametrize("shape", [(30, 70, 0), (30, 80, 1), (30, 80, 2), (40, 100, 0)])
def test_extrapolated_chains_reach_the_same_fixed_point_in_fewer_evaluations(
    shape: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 to 3 columns a row and weak factors: the late chains contract at 0.9 or more a step;
    # their points extrapolated (at least one accepted), a fit ends at Anderson's fixed point
    # (alone, tol = 1e-12) in fewer evaluations than with no extrapolation (0.56-0.76 measured)
    import imputer.mvn._fillnewton as fill_newton

    df = _weak_factors(*shape)
    data = standard(df)
    x0 = MVNProblem(data, 1.0).pack(start_values(data))
    ref = run_anderson(MVNProblem(data, 1.0), x0, tol=1e-12, max_iter=50_000, use_newton=False)
    assert ref.trace.stop_reason == "converged"
    evals = {}
    default = fill_newton.EXTRAP_QMAX
    for qmax in (default, 0.0):
        monkeypatch.setattr(fill_newton, "EXTRAP_QMAX", qmax)
        problem = MVNProblem(standard(df), 1.0)
        run = run_em(problem, x0, tol=1e-10, max_iter=50_000)
        assert run.trace.stop_reason == "converged"
        assert problem.distance(ref.x, run.x) < 1e-8
        assert np.all(np.diff(run.trace.history) >= -1e-12 * np.abs(run.trace.history[1:]))
        assert isinstance(problem._newton, FillNewton)
        offered, accepted = problem._newton.extrapolations
        assert (accepted >= 1) if qmax > 0.0 else (offered == 0)
        evals[qmax] = run.trace.n_evals
    assert evals[default] < 0.9 * evals[0.0], evals


def test_extrapolation_from_more_points_than_it_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    # EXTRAP_POINTS = 12 asks for twelve full Newton points in a row; the last nine are used
    import imputer.mvn._fillnewton as fill_newton

    monkeypatch.setattr(fill_newton, "EXTRAP_POINTS", 12)
    df = _weak_factors(30, 80, 1)
    data = standard(df)
    x0 = MVNProblem(data, 1.0).pack(start_values(data))
    ref = run_anderson(MVNProblem(data, 1.0), x0, tol=1e-12, max_iter=50_000, use_newton=False)
    problem = MVNProblem(standard(df), 1.0)
    run = run_em(problem, x0, tol=1e-10, max_iter=50_000)
    assert run.trace.stop_reason == "converged" and problem.distance(ref.x, run.x) < 1e-8
    assert isinstance(problem._newton, FillNewton) and problem._newton.extrapolations[1] >= 1


def test_the_stop_after_an_extrapolation_reads_the_new_chain_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # 30 columns a row, every chain extrapolated however fast (EXTRAP_QMIN = 0): after the
    # accepted extrapolation the moves are far shorter than before it, and the driver's chain
    # test, reading ratios across it, ended the run 1.2e-7 SD from the maximiser. The problem
    # says the point starts a new chain (newton_fresh), the test starts afresh: 6e-9
    import imputer.mvn._fillnewton as fill_newton

    import imputer._em.anderson as anderson

    monkeypatch.setattr(fill_newton, "EXTRAP_QMIN", 0.0)
    df = _weak_factors(10, 300, 0)
    data = standard(df)
    x0 = MVNProblem(data, 1.0).pack(start_values(data))
    with monkeypatch.context() as m:  # the reference: EM's rule alone (the chain's test off), tol = 1e-12
        m.setattr(anderson, "CHAIN_RATE_MAX", 0.0)
        ref = run_em(MVNProblem(data, 1.0), x0, tol=1e-12, max_iter=50_000)
    assert ref.trace.stop_reason == "converged"
    problem = MVNProblem(standard(df), 1.0)
    run = run_em(problem, x0, tol=1e-7, max_iter=50_000)
    assert run.trace.stop_reason == "converged"
    assert isinstance(problem._newton, FillNewton) and problem._newton.extrapolations[1] >= 1
    assert problem.distance(ref.x, run.x) < 2e-8


@pytest.mark.parametrize(("n", "p", "seed"), [(20, 200, 0), (20, 300, 0)])
def test_the_saddle_free_step_leaves_the_saddles_on_the_way_up(n: int, p: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # 10 or more columns a row: the chains run from the start and meet saddles (eigenvalues of J
    # above 1) on the way up; there the step is flipped (FLIP_BELOW), and the fit ends at a
    # maximum (a fixed point Anderson alone keeps) no lower than the plain Newton steps' own
    import imputer._krylov as krylov
    import imputer.mvn._fillnewton as fill_newton

    flips: list[bool] = []
    original = krylov._flip_correction

    def counted(*args: object) -> np.ndarray | None:
        out = original(*args)  # type: ignore[arg-type]
        flips.append(out is not None)
        return out

    monkeypatch.setattr(krylov, "_flip_correction", counted)
    data = standard(_weak_factors(n, p, seed))
    x0 = MVNProblem(data, 1.0).pack(start_values(data))
    problem = MVNProblem(data, 1.0)
    run = run_em(problem, x0, tol=1e-10, max_iter=5_000)
    assert run.trace.stop_reason == "converged" and any(flips)
    assert np.all(np.diff(run.trace.history) >= -1e-9)
    kept = run_anderson(MVNProblem(data, 1.0), run.x, tol=1e-12, max_iter=50_000, use_newton=False)
    assert problem.distance(kept.x, run.x) < 1e-8
    monkeypatch.setattr(fill_newton, "FLIP_BELOW", None)
    flips.clear()
    plain = run_em(MVNProblem(data, 1.0), x0, tol=1e-10, max_iter=5_000)
    assert plain.trace.stop_reason == "converged" and not flips
    assert run.trace.history[-1] >= plain.trace.history[-1] - 1e-8
    assert run.trace.n_evals < plain.trace.n_evals
