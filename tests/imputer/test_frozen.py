"""imputer._frozen: read-only fields (views that cannot change the owner) and value equality."""

from __future__ import annotations

import dataclasses
import pickle
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from imputer import _frozen
from imputer._frozen import ReadOnlyField, same_fields, same_value, view
from imputer._util import readonly_mapping
from tests.imputer import mutations


@dataclasses.dataclass(frozen=True, eq=False)
class _Holder:
    series: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    frame: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    groups: Any = ReadOnlyField()
    count: int = 0


def _holder() -> _Holder:
    return _Holder(
        series=pd.Series([1.0, 2.0], index=pd.Index(["a", "b"], name="k"), name="s"),
        frame=pd.DataFrame({"x": [1.0, 2.0], "t": ["u", "v"]}, index=[10, 20]),
        groups={"g": pd.Series([3.0, 4.0], index=["l1", "l2"])},
    )


MUTATIONS = mutations.ALL


@pytest.mark.parametrize("cow", [True, False], ids=["copy-on-write", "deep-copy"])
@pytest.mark.parametrize("read", [lambda h: h.series, lambda h: h.frame, lambda h: h.groups["g"]], ids=["series", "frame", "mapping-value"])
@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda f: f.__name__)
def test_changing_what_was_read_leaves_the_owner_unchanged(
    monkeypatch: pytest.MonkeyPatch, cow: bool, read: Callable[[_Holder], Any], mutate: Callable[[Any], None]
) -> None:
    # cow=False is the pandas 2.x path without Copy-on-Write: reads are deep copies
    monkeypatch.setattr(_frozen, "copy_on_write", lambda: cow)
    h = _holder()
    before = pickle.loads(pickle.dumps(h))
    obj = read(h)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mutate(obj)
    except (ValueError, TypeError):
        pass  # refusing the change is fine too
    assert same_fields(h, before)
    assert h.series.index.name == "k" and list(h.frame.columns) == ["x", "t"]


def test_reads_are_new_objects_and_the_mapping_is_read_only() -> None:
    h = _holder()
    assert h.series is not h.series and h.series.index is not h.series.index
    with pytest.raises(TypeError, match="does not support item assignment"):
        h.groups["g"] = pd.Series([0.0])  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        h.series = pd.Series([0.0])  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'series'"):
        object.__setattr__(h, "series", pd.Series([0.0]))
    copy = h.series.copy()
    copy.iloc[0] = 5.0  # a copy is an ordinary, writeable object
    assert copy.iloc[0] == 5.0 and h.series.iloc[0] == 1.0


def test_field_has_no_default_and_replace_and_pickle_work() -> None:
    assert [f.name for f in dataclasses.fields(_Holder) if f.default is dataclasses.MISSING] == ["series", "frame", "groups"]
    with pytest.raises(TypeError, match="missing"):
        _Holder(series=pd.Series([1.0]))  # type: ignore[call-arg]
    h = _holder()
    other = dataclasses.replace(h, count=1)
    assert not same_fields(h, other) and same_fields(dataclasses.replace(other, count=0), h)
    assert same_fields(pickle.loads(pickle.dumps(h)), h)


def test_view_of_other_values_is_the_value() -> None:
    arr = np.arange(3.0)
    assert view(arr) is arr and view(1.5) == 1.5 and view(("a", 1)) == ("a", 1)


S = pd.Series([1.0, np.nan], index=["a", "b"], name="s")
F = pd.DataFrame({"x": [1.0, np.nan]}, index=["a", "b"])


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (S, S.copy(), True),
        (S, S.rename("t"), False),  # Series name
        (S, S.set_axis(["a", "c"]), False),  # labels
        (S, S.rename_axis("idx"), False),  # axis name
        (S, S.astype("Float64"), False),  # dtype
        (S, S.fillna(0.0), False),  # NaN is not 0
        (S, S.to_frame(), False),  # type
        (F, F.copy(), True),
        (F, F.rename(columns={"x": "y"}), False),
        (F, F.rename_axis(columns="c"), False),
        (np.array([1.0, np.nan]), np.array([1.0, np.nan]), True),
        (np.array([1.0, 2.0]), np.array([[1.0, 2.0]]), False),
        (np.array(["a", "b"]), np.array(["a", "b"]), True),
        ({"g": S, "h": S}, {"g": S.copy(), "h": S}, True),
        ({"g": S, "h": S}, {"h": S, "g": S}, False),  # order is part of the value (to_dict keeps it)
        ({"g": S}, {"g": S.set_axis(["a", "z"])}, False),
        (("a", "b"), ("a", "b"), True),
        (("a", "b"), ["a", "b"], False),
        (float("nan"), float("nan"), True),
        (np.float64(1.0), 1.0, True),
        (1.0, 2.0, False),
        ("REML", "ML", False),
        (S, 1.0, False),
        ({"g": S}, None, False),
    ],
)
def test_same_value(a: Any, b: Any, equal: bool) -> None:
    assert same_value(a, b) is equal
    assert same_value(b, a) is equal


def test_a_mapping_given_read_only_is_stored_picklable() -> None:
    h = _holder()
    h2 = _Holder(series=h.series, frame=h.frame, groups=readonly_mapping({"g": h.groups["g"]}))
    assert same_fields(pickle.loads(pickle.dumps(h2)), h)


@pytest.mark.parametrize("cow", [True, False], ids=["copy-on-write", "deep-copy"])
def test_the_callers_objects_are_not_shared(monkeypatch: pytest.MonkeyPatch, cow: bool) -> None:
    monkeypatch.setattr(_frozen, "copy_on_write", lambda: cow)
    series = pd.Series([1.0, 2.0], index=pd.Index(["a", "b"], name="k"))
    groups = {"g": series}
    h = _Holder(series=series, frame=pd.DataFrame({"x": [1.0]}), groups=groups)
    series.index.name = "edited"  # Index.name is settable in place
    series.iloc[0] = 99.0
    groups["h"] = series
    assert h.series.index.name == "k" and h.series.iloc[0] == 1.0 and list(h.groups) == ["g"]


def test_value_results_share_one_equality() -> None:
    """ImputeResult, TImputeResult and MixtureImputeResult compare by their fields (ValueResult): equal runs are
    equal with equal hashes, another class or another fit is not equal."""
    import numpy as np
    import pandas as pd

    import imputer
    from imputer._frozen import ValueResult

    df = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.0, 3.0, 2.5], "b": [2.1, 3.9, 6.2, np.nan, 9.8, 6.0, 5.1]})
    runs = [
        lambda d: imputer.impute(d),
        lambda d: imputer.impute_t(d, dof=4.0),
        lambda d: imputer.impute_mixture(d, 1, seed=0, n_init=1),
    ]
    results = [run(df) for run in runs]
    for run, res in zip(runs, results):
        again = run(df)
        assert isinstance(res, ValueResult) and res == again and hash(res) == hash(again)
        assert res != run(df.assign(b=df["b"] * 2))
    assert results[0] != results[1] and results[1] != results[0] and results[1] != results[2]
