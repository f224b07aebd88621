"""README's "Wide tables" example runs, prints what it says, and keeps the ``tol`` promise.

The example fits a 10 x 200 table with ``ridge=1``. Checked here: the fit converged in a
few dozen evaluations (29 on the machines the README's figures come from; a BLAS that
rounds differently may take a few more), its estimate lies within 1e-6 SD of a refit at
``tol=1e-12`` (README: "the fit above ends 1.0e-7 SD from a refit"), the observed cells
come back bit for bit, the JSON answer leaves the matrices out, and the call without a
prior is refused with the message the comment quotes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerValueError
from tests.readme import python_block, run_python_block

ANCHOR = "### Wide tables: many more columns than rows"


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        return run_python_block(ANCHOR, mp)


def test_the_example_prints_convergence_and_its_evaluations(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        ns = run_python_block(ANCHOR, mp)
    printed = capsys.readouterr().out.split()
    res = ns["res"]
    assert printed == ["True", str(res.trace.n_evals)]
    assert "print(res.converged, res.trace.n_evals)  # True 29" in python_block(ANCHOR)
    assert res.trace.n_evals <= 40


def test_the_estimate_is_within_the_promised_distance_of_the_maximiser(example: dict[str, Any]) -> None:
    df, res = example["df"], example["res"]
    ref = imputer.impute(df, ridge=1, tol=1e-12, max_iter=5000)
    assert ref.converged
    sd = np.sqrt(np.diag(ref.cov.to_numpy()))
    cov_gap = np.abs(res.cov.to_numpy() - ref.cov.to_numpy()) / np.outer(sd, sd)
    mean_gap = np.abs(res.mean.to_numpy() - ref.mean.to_numpy()) / sd
    assert max(cov_gap.max(), mean_gap.max()) <= 1e-6


def test_observed_cells_come_back_and_the_answer_leaves_the_matrices_out(example: dict[str, Any]) -> None:
    df, res, out = example["df"], example["res"], example["out"]
    observed = df.notna().to_numpy()
    assert np.array_equal(res.completed.to_numpy()[observed], df.to_numpy()[observed])
    assert not res.completed.isna().any().any()
    assert out["cov"] is None and out["corr"] is None
    assert len(out["mean"]) == 200


def test_without_a_prior_the_table_is_refused_as_the_comment_says(example: dict[str, Any]) -> None:
    df: pd.DataFrame = example["df"]
    with pytest.raises(ImputerValueError, match=r"data has 10 rows for 200 modelled columns: .* pass ridge > 0"):
        imputer.impute(df)
