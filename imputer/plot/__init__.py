"""Diagnostic figures: missingness patterns, observed vs imputed, overimputation, convergence, BLUPs.

Every function returns a :class:`matplotlib.figure.Figure` built with matplotlib's
object-oriented API (no ``pyplot`` state: safe in threads and servers; show it in a
notebook by leaving it as the cell's value, or write it with ``fig.savefig(...)``), and
takes an ``ax`` (single-axes figures) or ``fig`` to draw into. Matplotlib is optional:
``pip install "imputer[plot]"``; without it, calling a function raises
:class:`~imputer.errors.MissingDependencyError` (importing this module does not import
matplotlib).

* :func:`patterns` -- the pattern matrix (mice's ``md.pattern``), top 50 patterns;
* :func:`densities` -- observed vs imputed distributions per incomplete column
  (Amelia's ``compare.density``; one line per imputation for a multiple imputation);
* :func:`overimpute` -- every observed cell predicted from the rest of its row, with
  90% intervals and their coverage (Amelia's ``overimpute``); the numbers are
  :func:`overimpute_table`'s;
* :func:`trace` -- the objective per iteration and its increments (log scale);
* :func:`caterpillar` -- a mixed model's BLUPs with ``+-1.96 sqrt(PEV)``;
* :func:`disperse` -- EM runs from overdispersed starts (:func:`imputer.disperse`): each
  run's climb toward the best end point and where each ended.

Colours are Okabe-Ito's colour-blind-safe palette. A fit with no missing cell gives a
figure that says so (:func:`densities`, :func:`overimpute`) rather than an error, so a
report on a complete table still renders; wrong types, unknown or non-numeric columns
raise :class:`~imputer.ImputerTypeError` / :class:`~imputer.ImputerValueError` naming
the column.
"""

from __future__ import annotations

from imputer.plot.caterpillar import caterpillar
from imputer.plot.densities import densities
from imputer.plot.disperse import disperse
from imputer.plot.overimpute import overimpute, overimpute_table
from imputer.plot.patterns import patterns
from imputer.plot.trace import trace

__all__ = ["caterpillar", "densities", "disperse", "overimpute", "overimpute_table", "patterns", "trace"]
