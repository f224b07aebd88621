"""The option tables (imputer.options) and every place that must agree with them.

Messages are pinned word for word: they are the messages the engines gave before the
tables existed (and tests/imputer/*/test_validation.py match them too). The agreement
tests are derived from the tables: a default, a bound or a help text changed in one
place only (a signature, EMImputer, the command line, a pydantic field, a docstring)
fails here.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
from fractions import Fraction
from collections.abc import Callable
from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest
from pydantic.fields import FieldInfo

import imputer
from api.schemas import DisperseOptions, DisperseQuery, ImputeOptions, ImputeQuery, MixedOptions
from api.schemas.impute import ImputeOptionsUsed
from imputer.cli import build_parser
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.options import DISPERSE_OPTIONS, MIXED_OPTIONS, MVN_OPTIONS, Option, OptionTable

TABLES = {"mvn": MVN_OPTIONS, "mixed": MIXED_OPTIONS}
OPTIONS = [(t, name) for t, table in TABLES.items() for name in table]
CHECKED = [(t, name) for t, name in OPTIONS if TABLES[t][name].checked]


def _norm(text: str) -> str:
    return " ".join(text.replace("``", "").split())


# ------------------------------------------------------------------------------ checking


@pytest.mark.parametrize(
    ("table", "name", "value", "error", "message"),
    [
        ("mvn", "tol", 0.0, ImputerValueError, "tol must be a finite number > 0, got 0.0"),
        ("mvn", "tol", math.nan, ImputerValueError, "tol must be a finite number > 0, got nan"),
        ("mvn", "tol", math.inf, ImputerValueError, "tol must be a finite number > 0, got inf"),
        ("mvn", "tol", "small", ImputerTypeError, "tol must be a real number, got str 'small'"),
        ("mvn", "tol", True, ImputerTypeError, "tol must be a real number, got bool True"),
        ("mvn", "max_iter", 0, ImputerValueError, "max_iter must be >= 1, got 0"),
        ("mvn", "max_iter", 2.5, ImputerTypeError, "max_iter must be an integer, got float 2.5"),
        ("mvn", "max_iter", np.bool_(True), ImputerTypeError, "max_iter must be an integer, got bool np.True_"),
        ("mvn", "ridge", -1.0, ImputerValueError, "ridge must be a finite number >= 0, got -1.0"),
        ("mvn", "ridge", math.inf, ImputerValueError, "ridge must be a finite number >= 0, got inf"),
        ("mvn", "accelerate", "yes", ImputerTypeError, "accelerate must be True or False, got 'yes'"),
        ("mvn", "accelerate", 1, ImputerTypeError, "accelerate must be True or False, got 1"),
        ("mixed", "method", "MLE", ImputerValueError, "method must be one of ['REML', 'ML'], got 'MLE'"),
        ("mixed", "method", None, ImputerValueError, "method must be one of ['REML', 'ML'], got None"),
        ("mixed", "tol", -1.0, ImputerValueError, "tol must be a positive finite number, got -1.0"),
        ("mixed", "tol", math.nan, ImputerValueError, "tol must be a positive finite number, got nan"),
        ("mixed", "tol", "1e-8", ImputerTypeError, "tol must be a positive number, got '1e-8'"),
        ("mixed", "max_iter", 0, ImputerValueError, "max_iter must be a positive integer, got 0"),
        ("mixed", "max_iter", 2.5, ImputerTypeError, "max_iter must be a positive integer, got 2.5"),
        ("mixed", "max_iter", False, ImputerTypeError, "max_iter must be a positive integer, got False"),
        ("mixed", "accelerate", "yes", ImputerTypeError, "accelerate must be True or False, got 'yes'"),
    ],
)
def test_check_gives_the_engines_messages(table: str, name: str, value: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        TABLES[table].check(**{name: value})


@pytest.mark.parametrize(
    ("table", "name", "value", "message"),
    [
        ("mvn", "tol", 10**400, "tol must be a finite number > 0, got a value too large for a float (about 1e+400)"),
        ("mvn", "ridge", -(10**400), "ridge must be a finite number >= 0, got a value too large for a float "
         "(about -1e+400)"),
        ("mvn", "tol", Fraction(10**400, 3), "tol must be a finite number > 0, got a value too large for a float "
         "(about 1e+399)"),
        ("mixed", "tol", 10**400, "tol must be a positive finite number, got a value too large for a float "
         "(about 1e+400)"),
        # beyond Python's 4,300 digits an int has no repr: its order of magnitude instead
        ("mvn", "tol", 10**5000, "tol must be a finite number > 0, got a value too large for a float (about 1e+5000)"),
        ("mvn", "max_iter", -(10**5000), "max_iter must be >= 1, got an int of about -1e+5000"),
        ("mixed", "max_iter", -(10**5000), "max_iter must be a positive integer, got an int of about -1e+5000"),
    ],
    ids=["tol-int", "ridge-negative", "tol-fraction", "mixed-tol", "tol-5000-digits", "max_iter-5000-digits",
         "mixed-max_iter-5000-digits"],  # (pytest cannot print an int of 5,001 digits as an id)
)
def test_numbers_beyond_float_range_are_value_errors(table: str, name: str, value: Any, message: str) -> None:
    # float(10**400) raises OverflowError: the check names the option instead
    with pytest.raises(ImputerValueError, match=f"^{re.escape(message)}$"):
        TABLES[table].check(**{name: value})


@pytest.mark.parametrize("entry", ["impute", "multiple_impute", "EMImputer"])
def test_entry_points_name_an_option_too_large_for_a_float(entry: str) -> None:
    call = {
        "impute": lambda **kw: imputer.impute(AIR, **kw),
        "multiple_impute": lambda **kw: imputer.multiple_impute(AIR, m=2, seed=0, **kw),
        "EMImputer": lambda **kw: imputer.EMImputer(**kw).fit(AIR),
    }[entry]
    with pytest.raises(ImputerValueError, match=r"^tol must be a finite number > 0, got a value too large for a float"):
        call(tol=10**400)


@pytest.mark.parametrize(
    ("table", "name", "value", "expected"),
    [
        ("mvn", "tol", np.float32(0.5), 0.5),
        ("mvn", "tol", 1, 1.0),
        ("mvn", "max_iter", np.int64(7), 7),
        ("mvn", "ridge", 0, 0.0),
        ("mvn", "accelerate", np.bool_(False), False),
        ("mixed", "method", "ML", "ML"),
        ("mixed", "max_iter", np.int32(3), 3),
    ],
)
def test_check_coerces_to_plain_python(table: str, name: str, value: Any, expected: Any) -> None:
    out = TABLES[table].check(**{name: value})[name]
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(("table", "name"), CHECKED)
def test_defaults_pass_their_own_check(table: str, name: str) -> None:
    option = TABLES[table][name]
    assert option.check(option.default) == option.default


def test_check_reports_the_first_bad_option_in_table_order() -> None:
    with pytest.raises(ImputerTypeError, match="^max_iter"):
        MVN_OPTIONS.check(accelerate="no", max_iter=1.5)
    with pytest.raises(TypeError, match=r"no option\(s\) \['alpha'\]"):
        MVN_OPTIONS.check(alpha=1.0)
    with pytest.raises(TypeError, match="checked by its engine"):
        MVN_OPTIONS["columns"].check(["a"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "m", "kind": "choice", "default": "x", "help": "h", "choices": ("a", "b")}, "not a choice"),
        ({"name": "t", "kind": "real", "default": 1.0, "help": "h", "low": 1.0, "wording": "plain"}, "plain wording"),
        ({"name": "t", "kind": "real", "default": -1.0, "help": "h", "low": 0.0}, "must be a finite number >= 0"),
    ],
)
def test_inconsistent_option_is_refused_at_definition(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises((ValueError, ImputerValueError), match=match):
        Option(**kwargs)


def test_table_is_a_read_only_mapping() -> None:
    table = OptionTable("f", [Option("a", "boolean", True, "h")])
    assert list(table) == ["a"] and len(table) == 1 and table.defaults() == {"a": True}
    with pytest.raises(TypeError):
        table["a"] = Option("a", "boolean", False, "h")  # type: ignore[index]


# ------------------------------------------------------- the engines use the same checker


def _bad_values(option: Option) -> list[Any]:
    """One bad value per way an option of this kind can be wrong."""
    if option.kind == "real":
        below = option.low - 1.0 if option.low is not None else None
        return [v for v in ("text", math.nan, below) if v is not None]
    if option.kind == "integer":
        return [2.5, True, int(option.low) - 1]
    if option.kind == "boolean":
        return ["yes"]
    return ["no such choice"]


def _message(call: Callable[[], Any]) -> tuple[type, str]:
    with pytest.raises((ImputerTypeError, ImputerValueError)) as info:
        call()
    return type(info.value), str(info.value)


AIR = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.5], "b": [2.0, np.nan, 3.5, 1.0, 0.5]})
Y = np.array([1.0, 2.0, 1.5, 3.0, 2.5, 2.0])
Z = np.kron(np.eye(3), np.ones((2, 1)))


@pytest.mark.parametrize(
    ("table", "entry"),
    [
        ("mvn", lambda **kw: imputer.impute(AIR, **kw)),
        ("mvn", lambda **kw: imputer.EMImputer(**kw).fit(AIR)),
        ("mixed", lambda **kw: imputer.fit_mixed(Y, None, [{"Z": Z}], **kw)),
        (
            "mixed",
            lambda **kw: imputer.fit_mixed_frame(
                pd.DataFrame({"y": Y, "g": list("aabbcc")}), "y", random=["g"], **kw
            ),
        ),
    ],
    ids=["impute", "EMImputer", "fit_mixed", "fit_mixed_frame"],
)
def test_entry_points_raise_the_tables_errors(table: str, entry: Callable[..., Any]) -> None:
    for name in TABLES[table]:
        option = TABLES[table][name]
        if not option.checked:
            continue
        for value in _bad_values(option):
            expected = _message(lambda: option.check(value))  # noqa: B023
            assert _message(lambda: entry(**{name: value})) == expected, (name, value)  # noqa: B023


# -------------------------------------------------------- every place agrees with the table


def _docstring_params(obj: Any) -> dict[str, tuple[str, str]]:
    """numpydoc ``Parameters``: name -> (type line, description), whitespace normalised."""
    doc = inspect.getdoc(obj) or ""
    section = doc.split("Parameters\n----------\n", 1)[1]
    section = re.split(r"\n\n[A-Z][a-z]+\n-{3,}\n", section, maxsplit=1)[0]
    out: dict[str, tuple[str, str]] = {}
    for entry in re.split(r"\n(?=\S)", section):
        head, _, body = entry.partition("\n")
        names, _, kind = head.partition(" : ")
        for name in names.split(", "):
            out[name.strip()] = (kind, _norm(body))
    return out


def _documented_default(kind: str) -> Any:
    match = re.search(r"default (\S+)$", kind)
    return None if match is None else ast.literal_eval(match.group(1))


@pytest.mark.parametrize(
    ("table", "function"),
    [
        ("mvn", imputer.impute),
        ("mixed", imputer.fit_mixed),
        ("mixed", imputer.fit_mixed_frame),
    ],
    ids=["impute", "fit_mixed", "fit_mixed_frame"],
)
def test_signature_defaults(table: str, function: Callable[..., Any]) -> None:
    params = inspect.signature(function).parameters
    for name, option in TABLES[table].items():
        assert params[name].default == option.default, name
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name


@pytest.mark.parametrize(
    ("table", "obj", "skip"),
    [
        ("mvn", imputer.impute, ()),
        ("mvn", imputer.EMImputer, ("columns",)),
        ("mixed", imputer.fit_mixed, ()),
    ],
    ids=["impute", "EMImputer", "fit_mixed"],
)
def test_docstrings_start_with_the_help_text(table: str, obj: Any, skip: tuple[str, ...]) -> None:
    documented = _docstring_params(obj)
    for name, option in TABLES[table].items():
        if name in skip:
            continue
        kind, text = documented[name]
        assert text.startswith(_norm(option.help)), (name, text)
        if option.default is not None:
            assert _documented_default(kind) == option.default, (name, kind)
        else:
            assert kind.endswith("optional"), (name, kind)


def test_disperse_signature_defaults() -> None:
    params = inspect.signature(imputer.disperse).parameters
    for name, option in DISPERSE_OPTIONS.items():
        assert params[name].default == option.default, name


def test_fit_mixed_frame_defers_its_options_to_fit_mixed() -> None:
    documented = _docstring_params(imputer.fit_mixed_frame)
    assert documented["method"][1].startswith("As in :func:`fit_mixed`")
    assert set(MIXED_OPTIONS) <= set(documented)


def test_emimputer_params_are_the_tables() -> None:
    expected = {k: v for k, v in MVN_OPTIONS.defaults().items() if k != "columns"}
    # and the model's: impute_t's dof, impute_mixture's defaults
    models = {"model": "normal", "dof": None, "n_components": 2, "covariance_type": "full", "n_init": 10, "seed": None}
    # and the column types' (the general location model, transforms and bounds) and start: impute's defaults
    impute = inspect.signature(imputer.impute).parameters
    coltypes = {name: impute[name].default
                for name in ("categorical", "continuous", "means", "transforms", "bounds", "start")}
    assert coltypes == dict.fromkeys(coltypes)
    assert imputer.EMImputer().get_params() == {**expected, **models, **coltypes, "add_indicator": False}
    mixture = inspect.signature(imputer.impute_mixture).parameters
    assert all(mixture[name].default == models[name] for name in ("n_components", "covariance_type", "n_init", "seed"))
    assert inspect.signature(imputer.impute_t).parameters["dof"].default is None


def _parser_actions(command: str) -> dict[str, Any]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {a.dest: a for a in sub.choices[command]._actions}


def _impute_parser_actions() -> dict[str, Any]:
    return _parser_actions("impute")


#: the subcommands whose engine options are declared from a table
COMMANDS = {"impute": MVN_OPTIONS, "disperse": DISPERSE_OPTIONS}


@pytest.mark.parametrize(
    ("command", "name"), [(command, name) for command, table in COMMANDS.items() for name in table]
)
def test_command_line_default_and_help(command: str, name: str) -> None:
    option = COMMANDS[command][name]
    action = _parser_actions(command)[name]
    assert action.default == option.default
    assert option.help.replace("%", "%%") in action.help
    if option.kind in ("real", "integer"):
        assert action.type is {"real": float, "integer": int}[option.kind]
    if option.kind == "boolean":
        assert action.option_strings == [f"--no-{name.replace('_', '-')}"] and action.const is False
    if option.kind == "choice":
        assert tuple(action.choices) == option.choices
    if option.kind == "values":  # disperse's seed: an integer, None for fresh entropy
        assert action.type is int and action.option_strings == [f"--{name}"]


def _lower_bound(field: FieldInfo) -> tuple[str, Any] | None:
    for meta in field.metadata:
        for attr in ("gt", "ge"):
            value = getattr(meta, attr, None)
            if value is not None:
                return attr, value
    return None


SCHEMAS = [
    (ImputeOptions, MVN_OPTIONS, ()),
    (ImputeQuery, MVN_OPTIONS, ()),
    (MixedOptions, MIXED_OPTIONS, ("init",)),  # init is not offered by the service
    (DisperseOptions, DISPERSE_OPTIONS, ()),
    (DisperseQuery, DISPERSE_OPTIONS, ()),
]
#: the lower bound the service declares for an option whose value the table leaves to its
#: engine (kind "values"): disperse's seed, a non-negative integer
SERVICE_BOUNDS = {"seed": ("ge", 0)}


@pytest.mark.parametrize(
    ("model", "table", "absent"), SCHEMAS, ids=["ImputeOptions", "ImputeQuery", "MixedOptions", "DisperseOptions",
                                                "DisperseQuery"]
)
def test_request_fields_default_bound_and_description(model: Any, table: OptionTable, absent: tuple[str, ...]) -> None:
    for name, option in table.items():
        if name in absent:
            assert name not in model.model_fields
            continue
        field = model.model_fields[name]
        assert field.default == option.default, name
        assert field.description is not None and field.description.startswith(option.help), name
        if option.kind == "values":
            expected = SERVICE_BOUNDS[name]
        else:
            expected = None if option.low is None else ("gt" if option.low_open else "ge", option.low)
        assert _lower_bound(field) == expected, name
        if option.kind == "choice":
            assert get_args(field.annotation) == option.choices


@pytest.mark.parametrize("model", [ImputeOptions, MixedOptions])
def test_request_defaults_are_passed_to_the_engine_as_the_engines_defaults(model: Any) -> None:
    table = MVN_OPTIONS if model is ImputeOptions else MIXED_OPTIONS
    kwargs = model().engine_kwargs()
    assert kwargs == {k: v for k, v in table.defaults().items() if k in kwargs}
    assert model(tol=None, max_iter=None).engine_kwargs().keys().isdisjoint({"tol", "max_iter"})


def test_disperse_request_defaults_are_the_engines() -> None:
    assert DisperseOptions().engine_kwargs() == DISPERSE_OPTIONS.defaults()
    assert DisperseQuery().options() == DisperseOptions()
    assert DisperseQuery(columns=[]).options().columns is None  # no columns= parameter: every numeric column


def test_options_used_in_the_response_are_described_by_the_table() -> None:
    for name, field in ImputeOptionsUsed.model_fields.items():
        if name == "start":  # not a table option: whether options.start was given (a matrix, JSON bodies only)
            assert "options.start" in (field.description or "")
            continue
        assert field.description == MVN_OPTIONS[name].help


@pytest.mark.parametrize(("table", "name"), OPTIONS)
def test_help_text_is_plain_and_one_paragraph(table: str, name: str) -> None:
    text = TABLES[table][name].help
    assert "``" not in text and ":func:" not in text and "\n" not in text
    assert text[0].isupper() and text.endswith(".")


def test_ridge_is_described_as_a_prior_everywhere() -> None:
    # the wording this table replaced ("ridge added to the covariance diagonal") was wrong
    assert "pseudo-rows" in MVN_OPTIONS["ridge"].help
    places = [
        ImputeOptions.model_fields["ridge"].description,
        ImputeQuery.model_fields["ridge"].description,
        ImputeOptionsUsed.model_fields["ridge"].description,
        _impute_parser_actions()["ridge"].help,
    ]
    for text in places:
        assert "diagonal" not in text and "inverse-Wishart prior" in text
