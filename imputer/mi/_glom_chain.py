r"""Data augmentation under the general location model (``multiple_impute(categorical=..., method="posterior")``).

Schafer's (1997, ch. 9.3) algorithm for ``mix`` (``da.mix``), with saturated cell
probabilities and saturated or additive cell means. From ``theta_0``, the EM estimate,
iteration ``t = 1, 2, ...`` alternates

* I-step: every row's cell and missing continuous cells drawn given ``theta_{t-1}``
  (:func:`imputer.glom._draw.draw_cells`: the cell from its posterior over the compatible
  cells, then the cell's conditional normal), giving the augmented table ``Y_t``;
* P-step: ``theta_t`` drawn from the complete-data posterior given ``Y_t``
  (:func:`imputer.mi._glom_pstep.draw_glom_params`: Dirichlet(``n_c + 1/2``) cell
  probabilities, or with ``probabilities="pairwise"`` one cycle of Bayesian IPF from the
  current ones; then the normal-inverse-Wishart of the multivariate regression on the
  cells' design).

Imputation ``j`` is ``Y_{t_j}`` with ``t_j = burn_in + j * thin``, drawn under
``theta_{t_j - 1}`` (its ``params``). ``burn_in`` and ``thin`` default to what
:func:`imputer.mi._rate.chain_lengths` gives for the EM map's worst rate at the estimate
(:func:`imputer.mi._glom_pstep.em_rate`), as for the normal. One stream,
``SeedSequence(seed).spawn(1)[0]``, drives the chain. Fewer rows than the posterior needs (``n - d < p``) is an error
before the chain starts; an augmented table on which the posterior is improper otherwise
(not expected: saturated means need a fully observed row in every cell, and every level
is observed) stops the chain with an error saying why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imputer.errors import ImputerValueError
from imputer.glom._draw import draw_cells
from imputer.glom._problem import GlomProblem
from imputer.glom.result import GlomImputeResult
from imputer.mi._glom import GlomDraws, Prepared, _standardised
from imputer.mi._glom_pstep import draw_glom_params, em_rate
from imputer.mi._rate import default_lengths
from imputer.mvn._fit import blas_threads

__all__ = ["run_chain"]


def run_chain(
    em: GlomImputeResult, prep: Prepared, *, m: int, seed: int, burn_in: int | None, thin: int | None
) -> GlomDraws:
    """The chain of the module docstring from ``em``'s estimate.

    Raises
    ------
    ImputerValueError
        The posterior is improper on an augmented table.
    """
    inp, plan = prep.inp, prep.plan
    design = inp.cells.additive_design() if em.means == "additive" else None
    loglinear = em.probability_model == "pairwise"
    theta = _standardised(em, prep.center, prep.scale)
    d = inp.cells.n_cells if design is None else design.shape[1]
    if inp.continuous and inp.n_rows - d < len(inp.continuous):
        raise ImputerValueError(
            f"method='posterior': {inp.n_rows} rows leave n - d = {inp.n_rows - d} degrees of freedom for the "
            f"within-cell covariance of {len(inp.continuous)} continuous columns (d = {d} cell-mean parameters per "
            "column); its posterior is improper. Use means='additive', fewer categorical columns, or method='bootstrap'"
        )
    with blas_threads(max(plan.p, 1)):
        rate = em_rate(GlomProblem(plan, design, loglinear), theta)
        burn_in, thin = default_lengths(
            rate, burn_in, thin, "pass burn_in= and thin= explicitly, or use method='bootstrap'", 5
        )
        (ss,) = np.random.SeedSequence(seed).spawn(1)
        rng = np.random.default_rng(ss)
        imputations: list[pd.DataFrame] = []
        params = []
        last = burn_in + m * thin
        for t in range(1, last + 1):
            z, cell = draw_cells(plan, *theta, rng)
            if t > burn_in and (t - burn_in) % thin == 0:
                imputations.append(prep.frame_of(z, cell))
                params.append(prep.params_of(em, theta))
            if t == last:
                break
            new = draw_glom_params(
                cell, z, design, inp.cells.n_cells, rng, (inp.cells.shape, theta.pi) if loglinear else None
            )
            if isinstance(new, str):
                raise ImputerValueError(
                    f"method='posterior': at iteration {t} of the chain the augmented table gives an improper "
                    f"posterior ({new}); use means='additive', fewer categorical columns, or method='bootstrap'"
                )
            theta = new
    return GlomDraws(em, inp.frame, imputations, tuple(params), burn_in=burn_in, thin=thin, rate=rate)
