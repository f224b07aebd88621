"""EMTrace: validation, read-only history, value equality, hashing, JSON form."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from imputer._em import EMTrace


def make(**kw):
    args = dict(n_iter=3, n_evals=7, converged=True, history=[-3.0, -2.0, -1.5], stop_reason="converged")
    args.update(kw)
    return EMTrace(**args)


def test_history_is_a_readonly_copy() -> None:
    src = np.array([-3.0, -2.0])
    t = make(history=src)
    src[0] = 99.0
    assert t.history[0] == -3.0
    with pytest.raises(ValueError, match="read-only"):
        t.history[0] = 1.0


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"stop_reason": "bored"}, "stop_reason must be one of"),
        ({"converged": False}, "contradicts stop_reason='converged'"),
        ({"converged": True, "stop_reason": "max_iter"}, "contradicts stop_reason='max_iter'"),
    ],
)
def test_rejects_inconsistent_fields(kw, match) -> None:
    with pytest.raises(ValueError, match=match):
        make(**kw)


def test_equality_and_hash_are_by_value() -> None:
    a, b = make(), make(history=np.array([-3.0, -2.0, -1.5]))
    assert a == b and hash(a) == hash(b)
    assert a != make(history=[-3.0, -2.0, -1.4])
    assert a != make(n_evals=8)
    assert len({a, b}) == 1
    assert pickle.loads(pickle.dumps(a)) == a


def test_shifted_and_to_dict() -> None:
    t = make(history=[-1.0, np.inf], changes=[0.5, np.nan]).shifted(2.0)
    assert t.history.tolist() == [1.0, np.inf]
    assert t.to_dict() == {
        "n_iter": 3, "n_evals": 7, "converged": True, "stop_reason": "converged",
        "n_rejected": 0, "history": [1.0, None], "changes": [0.5, None],
    }


def test_changes_are_readonly_compared_and_concatenated() -> None:
    src = np.array([0.1, 0.01])
    t = make(changes=src)
    src[0] = 9.0
    assert t.changes.tolist() == [0.1, 0.01] and make().changes.shape == (0,)
    with pytest.raises(ValueError, match="read-only"):
        t.changes[0] = 1.0
    assert t != make(changes=[0.1, 0.02]) and t == make(changes=[0.1, 0.01])
    both = make(changes=[1.0], converged=False, stop_reason="stopped").then(t)
    assert both.changes.tolist() == [1.0, 0.1, 0.01]


@pytest.mark.parametrize(
    ("floor", "extra", "tail"),
    [(-np.inf, 0, [-1.5, -1.0, -0.5]), (-1.0, 2, [-1.0, -0.5]), (np.inf, 1, [])],
)
def test_then_adds_counts_and_continues_the_history(floor, extra, tail) -> None:
    first = make(n_iter=3, n_evals=7, converged=False, stop_reason="stopped", n_rejected=1)
    second = make(n_iter=2, n_evals=5, history=[-1.5, -1.0, -0.5], n_rejected=2)
    both = first.then(second, floor=floor, extra_evals=extra)
    assert (both.n_iter, both.n_evals, both.n_rejected) == (5, 12 + extra, 3)
    assert both.converged and both.stop_reason == "converged"
    assert both.history.tolist() == [-3.0, -2.0, -1.5] + tail
    assert not both.history.flags.writeable


def test_trace_fields_mixin_reads_the_trace() -> None:
    from dataclasses import dataclass

    from imputer._em import TraceFields

    @dataclass(frozen=True)
    class Outcome(TraceFields):
        estimate: float
        trace: EMTrace

    t = make()
    out = Outcome(1.0, t)
    assert (out.n_iter, out.n_evals, out.converged) == (3, 7, True)
    assert out.history is t.history
