"""Impute the New York air-quality data (R ``datasets::airquality``) three ways.

Run from the repository root::

    python examples/impute_airquality.py

1. :func:`imputer.impute` on the table: maximum-likelihood mean and covariance of the
   numeric columns under a multivariate normal, every missing Ozone / Solar.R reading
   replaced by its conditional expectation given the day's observed readings, and the
   conditional standard deviation of each filled value.
   The normal model knows nothing of Ozone being positive and right-skewed, so a few
   conditional means come out negative; modelling ``log(Ozone)`` instead and
   back-transforming (``exp`` of the conditional mean is the conditional *median* under
   the log-normal model) respects the support.
2. :class:`imputer.EMImputer` inside a scikit-learn pipeline (when scikit-learn is
   installed): the imputer learns the mean and covariance on the training rows and fills
   the test rows under them, before a linear regression of Temp on the others.
3. The same from the shell: ``imputer impute examples/airquality.csv -o completed.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import imputer

HERE = Path(__file__).resolve().parent


def main() -> None:
    air = pd.read_csv(HERE / "airquality.csv")
    # Month and Day are calendar labels, not measurements: model the four readings.
    readings = ["Ozone", "Solar.R", "Wind", "Temp"]
    result = imputer.impute(air, columns=readings)
    print(result.summary())

    filled = air["Ozone"].isna()
    table = pd.DataFrame(
        {
            "Month": air.loc[filled, "Month"],
            "Day": air.loc[filled, "Day"],
            "Ozone (filled)": result.completed.loc[filled, "Ozone"].round(1),
            "conditional sd": np.sqrt(result.conditional_var.loc[filled, "Ozone"]).round(1),
        }
    )
    logged = air.assign(Ozone=np.log(air["Ozone"]))
    on_log = imputer.impute(logged, columns=readings)
    table["Ozone (log model)"] = np.exp(on_log.completed.loc[filled, "Ozone"]).round(1)
    print(
        f"\nNormal model: {int((result.completed['Ozone'] < 0).sum())} negative fills; "
        f"log-normal model: fills from {table['Ozone (log model)'].min()} to "
        f"{table['Ozone (log model)'].max()} ppb"
    )
    print("\nFirst filled Ozone readings (ppb), conditional sd under the normal model")
    print(table.head(8).to_string())

    try:
        from sklearn.linear_model import LinearRegression
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
    except ImportError:
        print("\n(scikit-learn not installed: skipping the pipeline example)")
        return

    X, y = air[["Ozone", "Solar.R", "Wind"]], air["Temp"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    model = make_pipeline(imputer.EMImputer(), LinearRegression()).fit(X_train, y_train)
    em = model.named_steps["emimputer"]
    print(
        f"\nPipeline: EMImputer ({em.n_iter_} iterations, converged={em.converged_}) "
        f"+ LinearRegression; R^2 on {len(X_test)} held-out days = {model.score(X_test, y_test):.3f}"
    )


if __name__ == "__main__":
    main()
