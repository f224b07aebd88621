"""Old Faithful with holes: a two-component Gaussian mixture against a single normal.

Run from the repository root::

    python examples/mixture_faithful.py [figure.png]

A quarter of the waiting times are hidden (at random) and filled back two ways:
:func:`imputer.impute` (one normal: the fill is a straight regression line through the
gap between the short and the long eruptions) and :func:`imputer.impute_mixture` with two
components (each fill weighs the two clusters' regression lines by the row's membership
probabilities). The script prints the root-mean-square error of both against the hidden
values and draws the two fitted 95% ellipses, the observed points and both sets of fills
(matplotlib, saved to ``mixture_faithful.png`` or the path given).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

import imputer

HERE = Path(__file__).resolve().parent


def ellipse(mean: np.ndarray, cov: np.ndarray, level: float = 5.991) -> np.ndarray:
    """Points (200, 2) of ``{x: (x - mean)' cov^-1 (x - mean) = level}`` (5.991: 95% of a 2-D normal)."""
    t = np.linspace(0.0, 2.0 * np.pi, 200)
    vals, vecs = np.linalg.eigh(cov)
    circle = np.column_stack([np.cos(t), np.sin(t)]) * np.sqrt(level * vals)
    return mean + circle @ vecs.T


def main(out: str = "mixture_faithful.png") -> dict[str, float]:
    full = pd.read_csv(HERE / "faithful.csv")
    rng = np.random.default_rng(2024)
    hidden = rng.choice(len(full), len(full) // 4, replace=False)
    holes = full.copy()
    holes.loc[holes.index[hidden], "waiting"] = np.nan
    truth = full["waiting"].to_numpy()[hidden]

    normal = imputer.impute(holes)
    mixture = imputer.impute_mixture(holes, 2, seed=0)
    rmse = {
        "normal": float(np.sqrt(np.mean((normal.completed["waiting"].to_numpy()[hidden] - truth) ** 2))),
        "mixture": float(np.sqrt(np.mean((mixture.completed["waiting"].to_numpy()[hidden] - truth) ** 2))),
    }
    print(mixture.summary())
    print(f"\nRMSE of the {hidden.size} filled waiting times: one normal {rmse['normal']:.2f} min, "
          f"two-component mixture {rmse['mixture']:.2f} min")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    obs = holes.dropna()
    ax.scatter(obs["eruptions"], obs["waiting"], s=10, color="0.6", label="observed")
    ax.scatter(full["eruptions"].to_numpy()[hidden], normal.completed["waiting"].to_numpy()[hidden], s=16,
               marker="x", color="#D55E00", label=f"one normal (RMSE {rmse['normal']:.1f})")
    ax.scatter(full["eruptions"].to_numpy()[hidden], mixture.completed["waiting"].to_numpy()[hidden], s=16,
               marker="+", color="#0072B2", label=f"mixture (RMSE {rmse['mixture']:.1f})")
    for k, cov in enumerate(mixture.covs):
        pts = ellipse(mixture.means.to_numpy()[k], cov.to_numpy())
        ax.plot(pts[:, 0], pts[:, 1], color="#009E73", lw=1.5, label="mixture components (95%)" if k == 0 else None)
    ax.set_xlabel("eruption time (min)")
    ax.set_ylabel("waiting time (min)")
    ax.set_title("Old Faithful: filling hidden waiting times")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print(f"figure: {out}")
    return rmse


if __name__ == "__main__":
    main(*sys.argv[1:2])
