"""The HTML report: its content, self-containedness and escaping, on the awkward tables.

Numbers in the report are compared with the library's own results
(``imputer.patterns``, ``imputer.mcar_test``, ``imputer.impute``, ``overimpute_table``),
themselves tested against independent computations elsewhere.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.diagnostics.report import SHOW_PANELS, html_report, write_report
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.plot import overimpute_table

from ._html_check import check_self_contained

pytest.importorskip("matplotlib", reason="the report's figures need matplotlib (pip install 'imputer[plot]')")

ROOT = Path(__file__).resolve().parents[3]
AIR = ROOT / "tests" / "data" / "airquality.csv"


@pytest.fixture(scope="module")
def air_report():
    return html_report(pd.read_csv(AIR), command="imputer diagnose airquality.csv --report r.html",
                       source="airquality.csv")


def test_airquality(air_report) -> None:
    doc = check_self_contained(air_report.html)
    text = doc.text
    assert len(doc.named("img")) == air_report.n_figures == 4
    assert "Diagnostics: airquality.csv" in text
    assert "imputer diagnose airquality.csv --report r.html" in text
    assert f"imputer {imputer.__version__}" in text
    # the MCAR test at the values imputer.mcar_test gives (35.106175 on 14 df, pinned in test_mcar)
    mcar = imputer.mcar_test(pd.read_csv(AIR))
    assert f"chi-square statistic {mcar.statistic:.8g}" in text
    assert "degrees of freedom 14" in text and f"p-value {mcar.p_value:.4g}" in text
    assert "MCAR is rejected at the 5% level" in text
    # the pattern table: 4 rows of 1/0 cells, counts as imputer.patterns
    assert "missingness patterns 4" in text and "missing cells 44 of 918 (4.8%)" in text
    assert [a["class"] for a in doc.named("td") if a.get("class") in ("obs", "mis")].count("mis") == 4
    # estimates and the overimputation coverage
    fit = imputer.impute(pd.read_csv(AIR))
    assert f"{fit.mean['Ozone']:.5g}" in text
    cover = overimpute_table(fit).groupby("column")["inside"].agg(["size", "sum"])
    assert f"Ozone {cover.loc['Ozone', 'size']} {cover.loc['Ozone', 'sum']} 92.2" in text
    assert "Notes and warnings None." in text


def test_standard_errors_when_the_result_has_them(air_report) -> None:
    text = check_self_contained(air_report.html).text
    fit = air_report.fit
    if hasattr(type(fit), "se_mean"):
        assert "se(mean)" in text
        assert f"{fit.se_mean['Ozone']:.5g}" in text
    else:
        assert "Standard errors of the means are not available" in text


def test_no_missing_cells_says_so() -> None:
    rep = html_report(pd.DataFrame({"a": [1.0, 2.0, 4.0, 3.0], "b": [3.0, 1.0, 2.0, 5.0]}))
    text = check_self_contained(rep.html).text
    assert "No missing cells: every numeric cell is observed, so there is nothing to impute." in text
    assert "No missing cells: there are no imputed values to compare or check." in text
    assert "Nothing to test (0 degrees of freedom" in text
    assert rep.n_figures == 2  # patterns and trace


def test_one_column() -> None:
    rep = html_report(pd.DataFrame({"only": [1.0, np.nan, 3.0, 4.0, np.nan, 6.5, 2.0]}))
    text = check_self_contained(rep.html).text
    assert "columns looked at 1: only" in text
    assert rep.n_figures == 4


def test_thousands_of_patterns() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(1500, 13))
    values[rng.random(values.shape) < 0.4] = np.nan
    frame = pd.DataFrame(values, columns=[f"x{j}" for j in range(13)])
    counts = frame.isna().value_counts()
    assert len(counts) > 1000
    rep = html_report(frame)
    doc = check_self_contained(rep.html)
    rest = int(counts.sort_values(ascending=False).iloc[50:].sum())
    assert (f"The 50 most frequent patterns are shown; {len(counts) - 50:,} more patterns ({rest:,} rows) "
            "are not.") in doc.text
    assert sum(a.get("class") in ("obs", "mis") for a in doc.named("td")) == 50 * 13
    assert f"The figures show the {SHOW_PANELS} columns with the most missing cells; 1 more" in doc.text


def test_text_columns_are_listed_as_passed_through() -> None:
    frame = pd.read_csv(AIR).assign(site=["north", "south", None] * 51)
    text = check_self_contained(html_report(frame).html).text
    assert "other columns (not looked at, passed through) 1: site" in text


def test_user_strings_are_escaped(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script>'
    frame = pd.DataFrame({
        evil: [1.0, np.nan, 3.0, 4.0, 2.0, 6.0],
        "a&b": [2.0, 1.0, np.nan, 3.0, 5.0, 4.0],
        "<img src=x onerror=alert(1)>": list("abcdef"),
    })
    rep = write_report(tmp_path / "r.html", frame, command=f"imputer diagnose '{evil}.csv'", source=f"{evil}.csv")
    html_text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert html_text == rep.html
    doc = check_self_contained(html_text)  # no script or img tag came from the data
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html_text
    assert "a&amp;b" in html_text and "&lt;img src=x onerror=alert(1)&gt;" in html_text
    assert evil in doc.text  # and it reads as the user wrote it


def test_what_cannot_be_computed_is_noted() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [np.nan] * 4})
    rep = html_report(frame)
    text = check_self_contained(rep.html).text
    assert rep.fit is None and rep.mcar is None
    assert "Little's MCAR test could not be run: column 'y' has no observed value" in text
    assert "The EM fit could not be made: column 'y' has no observed value" in text
    assert rep.n_figures == 1  # the pattern picture still


def test_warnings_are_listed() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[:, 2] = x[:, 0]  # collinear: EM heads to a singular covariance
    rep = html_report(pd.DataFrame(x, columns=list("abc")))
    assert any("warning:" in n for n in rep.notes)
    text = check_self_contained(rep.html).text
    assert all(" ".join(n.split()) in text for n in rep.notes)


@pytest.mark.parametrize(
    ("frame", "kwargs", "error", "match"),
    [
        (pd.DataFrame({"t": ["a", "b"]}), {}, ImputerTypeError, "no numeric column"),
        (pd.read_csv(AIR), {"columns": ["nope"]}, ImputerValueError, "'nope'"),
    ],
)
def test_nothing_to_look_at_is_an_error(frame: pd.DataFrame, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        html_report(frame, **kwargs)


def test_without_matplotlib_the_numbers_still() -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import pandas as pd\n"
        "from imputer.diagnostics.report import html_report\n"
        f"rep = html_report(pd.read_csv({str(AIR)!r}))\n"
        "print(rep.n_figures, '35.106' in rep.html, 'pip install &quot;imputer[plot]&quot;' in rep.html)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.stdout.split() == ["0", "True", "True"], out.stderr
