"""Reaction times under sleep deprivation (R ``lme4::sleepstudy``) by EM-REML.

Run from the repository root::

    python examples/mixed_sleepstudy.py

Model (lme4: ``lmer(Reaction ~ Days + (1 | Subject), sleepstudy)``):

    Reaction_ij = b0 + b1 * Days_ij + u_i + e_ij,   u_i ~ N(0, s2_subject),  e_ij ~ N(0, s2_e)

for subject ``i`` on day ``j``. The script

1. fits the model with :func:`imputer.fit_mixed_frame` and prints the estimates next to
   the ones lme4 1.1-31 prints for the same model (tests/data/SOURCE.md);
2. hides the last day (Days = 9) of three subjects, refits, and predicts the hidden
   reaction times from the fixed effects plus each subject's BLUP -- the mixed-model way
   of filling a missing response. The random-intercept model gives every subject the
   same slope, so a subject who deteriorates much faster than average (308) is
   under-predicted: the example shows the model's limits as well as its use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import imputer

HERE = Path(__file__).resolve().parent

#: lme4 1.1-31, REML (tests/data/SOURCE.md)
LME4 = {
    "Subject": 1378.178,
    "residual": 960.4566,
    "(Intercept)": 251.40510,
    "Days": 10.46729,
    "loglik": -893.2325,
}


def main() -> None:
    sleep = pd.read_csv(HERE / "sleepstudy.csv", dtype={"Subject": str})
    fit = imputer.fit_mixed_frame(sleep, "Reaction", fixed=["Days"], random=["Subject"])
    print(fit.summary())

    ours = {
        "Subject": float(fit.var_comp["Subject"]),
        "residual": float(fit.var_comp["residual"]),
        "(Intercept)": float(fit.beta["(Intercept)"]),
        "Days": float(fit.beta["Days"]),
        "loglik": float(fit.loglik),
    }
    table = pd.DataFrame({"imputer (EM-REML)": ours, "lme4 1.1-31": LME4})
    table["relative difference"] = (table.iloc[:, 0] / table.iloc[:, 1] - 1.0).map(lambda v: f"{v:.1e}")
    print("\nAgainst lme4")
    print(table.to_string())

    hidden = sleep["Days"].eq(9) & sleep["Subject"].isin(["308", "335", "372"])
    masked = sleep.assign(Reaction=sleep["Reaction"].where(~hidden))
    refit = imputer.fit_mixed_frame(masked, "Reaction", fixed=["Days"], random=["Subject"])
    pred = pd.DataFrame(
        {
            "Subject": sleep.loc[hidden, "Subject"],
            "observed (hidden)": sleep.loc[hidden, "Reaction"],
            "predicted": refit.completed[hidden].round(1),
        }
    )
    rmse = float(np.sqrt(np.mean((pred["observed (hidden)"] - pred["predicted"]) ** 2)))
    print(f"\nDay 9 hidden for 3 subjects; predicted from fixed effects + subject BLUP (RMSE {rmse:.1f} ms)")
    print(pred.to_string(index=False))


if __name__ == "__main__":
    main()
