"""The computations run in worker processes: parse, validate, fit, serialise.

A task is a frozen, picklable dataclass naming its inputs (:class:`ImputeTask`,
:class:`DiagnosticsTask`, :class:`DisperseTask`, :class:`MixedTask`, :class:`MixedFrameTask`, :class:`PoolTask`): the raw request body (bytes), the
negotiated formats and the limits. The worker pool (:mod:`api.pool`) sends it to a
worker, which calls its ``run()``; ``run()`` returns a :class:`JobOutput`
``(status, media_type, body, headers)`` ready to send. Parsing, validation and JSON encoding happen there, in
the worker, so the event loop never touches the numbers.
Expected failures are answered as problem details: pydantic validation errors (with
the offending field's location) and engine errors (:class:`imputer.errors.ImputerError`,
whose messages name the column or parameter) give 422. A
:class:`imputer.errors.ConvergenceWarning` is not an error: the result says
``converged: false``. The library's warnings (:class:`imputer.errors.ImputerWarning`
and its subclasses) are recorded, not shown (:func:`recorded_warnings`): the JSON
answer of a fit carries their messages as ``warnings``, a CSV or Parquet answer in the
header ``Imputer-Warnings`` (:data:`~api.schemas.common.WARNINGS_HEADER`).

This module is imported by the forkserver before workers are forked, so the engines
are loaded once.
"""

from __future__ import annotations

import json
import logging
import secrets
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, NamedTuple, TextIO, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

import imputer
from api.jobs.progress import callback_kwargs
from api.formats import (
    JSON,
    PARQUET,
    InputKind,
    OutputKind,
    frame_from_split,
    frame_to_csv,
    frame_to_parquet,
    parquet_query_table,
    read_csv_table_body,
    read_parquet_body,
    restore_types,
)
from api.admission import check_cost as _check_cost, check_disperse_cost, check_fixed_design, check_memory as _check_memory
from api.errors import TOO_BIG
from api.random_terms import reject_repeated_frame_terms, reject_repeated_terms
from api.records import records_body
from api.problems import PROBLEM_MEDIA_TYPE, clean_validation_errors, problem_body, validation_detail
from api.schemas.common import WARNINGS_HEADER, CsvQuery
from api.schemas.diagnostics import DiagnosticsQuery, DiagnosticsRequest, DiagnosticsResponse
from api.schemas.disperse import DisperseOptions, DisperseQuery, DisperseRequest, DisperseResponse
from api.schemas.impute import ImputeOptions, ImputeQuery, ImputeRequest, ImputeResponse
from api.schemas.impute_panel import ImputeExtendedResponse, extended_payload
from api.schemas.panel import check_columns_against_data
from api.schemas.impute_mi import ImputeMIResponse
from api.schemas.impute_glom import ImputeGlomResponse
from api.schemas.impute_models import ImputeMixtureResponse, ImputeTResponse
from api.schemas.mixed import MixedFrameRequest, MixedRequest, response_model_for
from api.schemas.mixed_query import MixedFrameQuery
from api.schemas.pool import PoolRequest, PoolResponse
from imputer.diagnostics._overview import overview
from imputer._gaussian.linalg import Infeasible
from imputer.errors import ImputerError, ImputerValueError, ImputerWarning
from imputer.columns import is_modelled
from imputer.mixed._fixed import contrast_factors
from imputer._gaussian.information import n_parameters
from imputer.mvn._information import MAX_PARAMETERS

__all__ = ["JobOutput", "Answers", "mi_payload", "recorded_warnings", "warnings_header", "ImputeTask", "DiagnosticsTask", "DisperseTask", "MixedTask", "MixedFrameTask", "PoolTask"]

logger = logging.getLogger("api.tasks")


class JobOutput(NamedTuple):
    """An answer ready to send (picklable: it comes back from a worker process).

    Attributes
    ----------
    status : int
        HTTP status.
    media_type : str
        ``Content-Type`` of the body.
    body : bytes
        The encoded body.
    headers : tuple of (str, str)
        Further response headers, ``(name, value)`` pairs (:data:`~api.schemas.common.WARNINGS_HEADER`).
    """

    status: int
    media_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def warnings_header(warned: Sequence[str]) -> str:
    """The value of :data:`~api.schemas.common.WARNINGS_HEADER`: the messages as a JSON list, ASCII only.

    Characters outside ASCII are ``\\uXXXX`` escapes and control characters (line
    breaks) escaped too, so any message fits an HTTP header; ``json.loads`` reads it back.
    """
    return json.dumps(list(warned), ensure_ascii=True)


CSV_MEDIA = "text/csv; charset=utf-8"

T = TypeVar("T")


def _problem(status: int, detail: str, instance: str, **kw: Any) -> JobOutput:
    body = problem_body(status, detail, instance=instance, **kw)
    return JobOutput(status, PROBLEM_MEDIA_TYPE, json.dumps(body).encode())


#: said of a non-finite number in a JSON body (a NaN, Infinity or 1e999 token)
NON_FINITE_HINT = " (JSON has no NaN or Infinity: send null for a missing value)"


def _invalid(exc: ValidationError, instance: str) -> JobOutput:
    errors = clean_validation_errors(
        exc.errors(include_url=False, include_context=False, include_input=False), prefix=("body",)
    )
    for error in errors:
        if error["type"] == "finite_number":
            error["msg"] += NON_FINITE_HINT
    return _problem(422, validation_detail(errors), instance, title="Invalid request", errors=errors)


_ANY_JSON = TypeAdapter(Any, config=ConfigDict(ser_json_inf_nan="null"))
_SAMPLE = 64


def _sample(value: Any) -> Any:
    """``value`` with every list cut to its first ``_SAMPLE`` items (dicts kept whole)."""
    if isinstance(value, list):
        return [_sample(v) for v in value[:_SAMPLE]]
    if isinstance(value, dict):
        return {k: _sample(v) for k, v in value.items()}
    return value


def _json_ok(
    model: type[BaseModel], payload: dict[str, Any], instance: str, warned: Sequence[str] | None = None
) -> JobOutput:
    """200 with the engine's ``to_dict()`` as JSON, or 500 if it does not fit ``model``.

    The keys, the types and the first rows of every table are checked against the
    response model (a mismatch is a server bug: logged, 500); the full payload is then
    encoded as is (the engines already return plain JSON values, non-finite -> None).
    Validating every cell of a 20,000-row table would cost more than the fit.
    ``warned`` (the answer of a fit: the messages :func:`recorded_warnings` has recorded
    so far) is added as the key ``warnings``.
    """
    if warned is not None:
        payload = {**payload, "warnings": list(warned)}
    try:
        model.model_validate(_sample(payload))
    except ValidationError as exc:
        logger.error("result does not match %s: %s", model.__name__, exc)
        return _problem(500, "The result could not be encoded; the failure has been logged.", instance)
    return JobOutput(200, JSON, _ANY_JSON.dump_json(payload))


def _table_ok(media_type: str, body: bytes, warned: Sequence[str]) -> JobOutput:
    """200 with a table of a fit (CSV or Parquet), its warnings in the header :data:`~api.schemas.common.WARNINGS_HEADER`."""
    return JobOutput(200, media_type, body, ((WARNINGS_HEADER, warnings_header(warned)),))


_BOM = b"\xef\xbb\xbf"


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)


def _nothing(_: str) -> None:
    return None


def _reject_duplicate_keys(body: bytes) -> None:
    """ImputerValueError naming a key that an object of ``body`` holds twice (pydantic, like
    most JSON parsers, would silently keep the last). The values are not kept: numbers
    parse to None, objects are dropped once checked."""
    try:
        json.loads(body, object_pairs_hook=_unique_pairs, parse_float=_nothing, parse_int=_nothing,
                   parse_constant=_nothing)
    except _DuplicateKey as dup:
        raise ImputerValueError(
            f"body: a JSON object holds the key {dup.args[0]!r} twice; send each key once"
        ) from None
    except ValueError:  # pragma: no cover - pydantic parsed it: a quirk of the json module
        pass


def _parse(model: type[BaseModel], body: bytes) -> Any:
    _check_memory(body, "json")
    # strict: no string -> number coercion; the models reject NaN/Infinity/1e999.
    # A UTF-8 byte-order mark (Windows tools write one) is not JSON but not an error either.
    if body.startswith(_BOM):
        body = body[len(_BOM):]
    try:
        parsed = model.model_validate_json(body, strict=True)
    except ValidationError as exc:
        converted = records_body(body, exc) if "data" in model.model_fields else None
        if converted is None:
            raise
        parsed = model.model_validate(converted, strict=True)  # data in records orientation: api/records.py
    _reject_duplicate_keys(body)
    return parsed


_TOO_BIG = TOO_BIG


def _check_width(frame: pd.DataFrame, columns: list[str] | None, max_columns: int) -> None:
    if columns is not None:
        width = len(columns)
    else:
        width = sum(map(is_modelled, frame.dtypes))  # the engine's own choice of columns
    if width > max_columns:
        raise ImputerValueError(
            f"columns: {width} columns to model exceed the limit of {max_columns} "
            "(IMPUTER_MAX_COLUMNS); select fewer with the 'columns' option"
        )


_SE_KEYS = ("vcov", "se_mean", "se_cov", "fraction_missing_info", "worst_fraction_missing_info")


def mi_payload(mi: Any) -> dict[str, Any]:
    """The answer of ``POST /v1/impute`` with ``m`` (:class:`~api.schemas.impute_mi.ImputeMIResponse`).

    ``mi.to_dict()`` without ``params`` (the m drawn means and covariances) and with
    ``em`` replaced by ``estimates``: ``mi.em.to_dict(standard_errors=True)`` without the
    completed table and the column lists (given once, at the top); the standard-error
    keys are None above ``MAX_PARAMETERS`` parameters. For the t and the mixture
    (``mi.model``), their fit's ``to_dict()`` without the table and the column lists.
    """
    out = mi.to_dict()
    del out["params"], out["em"]
    if mi.model != "normal":  # the t's, the mixture's or the general location model's fit, without its table
        em = mi.em.to_dict()
        for key in ("completed", "columns", "passthrough"):
            em.pop(key, None)
        out["estimates"] = em
        return out
    with_se = n_parameters(len(mi.em.columns)) <= MAX_PARAMETERS
    em = mi.em.to_dict(standard_errors=with_se)
    for key in ("completed", "columns", "passthrough"):
        del em[key]
    if not with_se:
        em.update(dict.fromkeys(_SE_KEYS))
    out["estimates"] = em
    return out


def _check_mi_rows(m: int, n: int, limit: int, where: str) -> None:
    if m * n > limit:
        raise ImputerValueError(
            f"{where}: {m} imputations of {n:,} rows make a long table of {m * n:,} rows, above the limit of "
            f"{limit:,} (IMPUTER_MAX_MI_ROWS); ask for m <= {max(limit // n, 1)}"
            + ("" if limit >= n else ", or send fewer rows")
        )


#: the answer of one computation in each format asked for (the job API stores them all).
Answers = dict[OutputKind, JobOutput]


class _Task:
    """Base of the tasks: ``run()`` answers with ``_compute()``, expected failures as problem details.

    ``run_all()`` answers in every format the task offers from one computation (the
    job API, :mod:`api.jobs`): ``{"json": ...}`` unless a task offers more.
    """

    instance: str

    def run(self) -> JobOutput:
        """Answer the request (in a worker process)."""
        return _guarded(self.instance, self._compute)

    def run_all(self) -> Answers | JobOutput:
        """The answer in every format offered, or one problem answer (in a worker process)."""
        return _guarded(self.instance, lambda raised: {"json": self._compute(raised)})

    def _compute(self, raised: Sequence[str]) -> JobOutput:
        """The answer; ``raised``: the library's warnings so far (:func:`recorded_warnings`)."""
        raise NotImplementedError


_FORMAT_NAMES = {"json": "JSON", "csv": "CSV", "parquet": "Parquet"}


def _encoded(kinds: tuple[OutputKind, ...], instance: str, **encoders: Callable[[], JobOutput]) -> Answers:
    """The answer in each of ``kinds`` (``encoders`` by format name), encoded only if asked for.

    With several formats (a job's answers), one that fails to encode (a bug) is a 500
    answer of that format alone, logged: the others, and the job, stand. With one format
    the failure propagates (the synchronous endpoint's 500).
    """
    if len(kinds) == 1:
        return {kinds[0]: encoders[kinds[0]]()}
    out: Answers = {}
    for kind in kinds:
        try:
            out[kind] = encoders[kind]()
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - a bug in one encoder: that format's answer is a 500
            logger.exception("%s: the %s answer could not be encoded", instance, kind)
            out[kind] = _problem(
                500, f"The result could not be encoded as {_FORMAT_NAMES[kind]}; the failure has been logged. "
                "The other formats of the result are available (ask for one by Accept).", instance,
            )
    return out


@dataclass(frozen=True)
class ImputeTask(_Task):
    """``POST /v1/impute``: parse the table, run :func:`imputer.impute` (or the model of ``options.model``), encode the result.

    Attributes
    ----------
    kind : {"json", "csv", "parquet"}
        Format of ``body``.
    body : bytes
        The request body.
    query : Mapping[str, Any]
        The query parameters (``ImputeQuery.model_dump()``: CSV parsing and, for CSV
        and Parquet bodies, the options).
    output : {"json", "csv", "parquet"}
        Format of the answer.
    instance : str
        Request path, the ``instance`` of problem details.
    max_columns : int
        Most columns one imputation may model (``IMPUTER_MAX_COLUMNS``).
    max_mi_rows : int
        Most rows ``m * n`` of a multiple imputation's long table (``IMPUTER_MAX_MI_ROWS``).
    time_limit_s : float or None
        The time limit of the run (``IMPUTER_TIMEOUT_S`` for ``POST /v1/impute``): a fit whose
        estimated time (:func:`estimated_seconds`) exceeds it is refused at once (422); None
        (the job API) admits any.

    With ``m`` among the options the task runs :func:`imputer.multiple_impute` and answers
    with the long table (CSV), or :func:`mi_payload` (JSON). With ``model`` ``"t"`` or
    ``"mixture"`` it runs :func:`imputer.impute_t` or :func:`imputer.impute_mixture` and
    answers with the completed table (CSV) or the result's ``to_dict()`` (JSON).
    """

    kind: InputKind
    body: bytes
    query: Mapping[str, Any] = field(default_factory=dict)
    output: OutputKind = "json"
    instance: str = "/v1/impute"
    max_columns: int = 2000
    max_mi_rows: int = 1_000_000
    time_limit_s: float | None = None

    def _compute(self, raised: Sequence[str]) -> JobOutput:
        return self._answers((self.output,), raised)[self.output]

    def run_all(self) -> Answers | JobOutput:
        """The answer as JSON, CSV and Parquet from one computation (or one problem answer)."""
        return _guarded(self.instance, lambda raised: self._answers(("json", "csv", "parquet"), raised))

    def _answers(self, kinds: tuple[OutputKind, ...], raised: Sequence[str]) -> Answers:
        originals: dict[str, np.ndarray] = {}  # CSV text of passed-through columns of numbers
        na_values: list[str] = []  # CSV markers (for the empty cells of categorical text columns)
        types: dict[str, Any] = {}  # Parquet: the dtypes of the passed-through columns, for the answer's table

        def table(completed: pd.DataFrame) -> pd.DataFrame:
            return restore_types(completed, types)
        if self.kind == "json":
            request = _parse(ImputeRequest, self.body)
            frame = frame_from_split(request.data, request.options.columns)
            options: ImputeOptions = request.options
        else:
            q = ImputeQuery.model_validate(dict(self.query))
            _check_memory(self.body, self.kind)
            if self.kind == "csv":
                na_values = list(q.na_values or [])
                frame, originals = read_csv_table_body(
                    self.body, sep=q.sep, decimal=q.decimal, na_values=q.na_values, index_col=q.index_col,
                    columns=q.columns or None, passthrough=q.passthrough,
                )
            else:
                frame, types = parquet_query_table(
                    read_parquet_body(self.body), index_col=q.index_col, passthrough=q.passthrough,
                    columns=q.columns or None,
                )
            options = q.options()
        _check_width(frame, options.columns, self.max_columns)
        if options.transforms is not None or options.bounds is not None:  # data errors at the option's field
            check_columns_against_data(options, frame, ("body", "options") if self.kind == "json" else ("query",))
        if self.time_limit_s is not None:
            _check_cost(frame, options, self.time_limit_s)
        if options.m is not None:
            where = "options.m" if self.kind == "json" else "m"
            _check_mi_rows(options.m, len(frame), self.max_mi_rows, where)
            kwargs = options.mi_kwargs()
            # a fresh seed the client can send back (options.seed <= 2^63 - 1): the answer is replayable
            kwargs.setdefault("seed", secrets.randbelow(2**63))
            if self.kind == "csv" and isinstance(options.categorical, list):  # empty text cells are missing
                from imputer.glom._text import categorical_missing

                frame = categorical_missing(frame, options.categorical, na_values)
            mi = imputer.multiple_impute(frame, **kwargs, **options.extended_kwargs(), **options.start_kwargs())
            tiled = {k: np.tile(np.asarray(v, dtype=object), mi.m) for k, v in originals.items()}
            return _encoded(
                kinds,
                self.instance,
                csv=lambda: _table_ok(CSV_MEDIA, frame_to_csv(table(mi.long()), tiled), raised),
                parquet=lambda: _table_ok(PARQUET, frame_to_parquet(table(mi.long())), raised),
                json=lambda: _json_ok(ImputeMIResponse, mi_payload(mi), self.instance, raised),
            )
        response: type[BaseModel]
        if options.model == "t":
            result: Any = imputer.impute_t(frame, **options.t_kwargs(), **callback_kwargs())
            response = ImputeTResponse
        elif options.model == "mixture":
            kwargs = options.mixture_kwargs()
            # a fresh seed the client can send back (options.seed <= 2^63 - 1): the fit is replayable
            kwargs.setdefault("seed", secrets.randbelow(2**63))
            result = imputer.impute_mixture(frame, **kwargs, **callback_kwargs())
            response = ImputeMixtureResponse
        elif options.categorical is not None:  # the general location model (imputer.impute_glom)
            from imputer.glom import GlomImputeResult

            cats = options.categorical
            if self.kind == "csv" and isinstance(cats, list):  # a listed text column: its empty cells are missing
                from imputer.glom._text import categorical_missing

                frame = categorical_missing(frame, cats, na_values)
            result = imputer.impute(frame, **options.glom_kwargs(), **callback_kwargs())
            if isinstance(result, GlomImputeResult):
                glom = result
                return _encoded(
                    kinds,
                    self.instance,
                    csv=lambda: _table_ok(CSV_MEDIA, frame_to_csv(table(glom.completed), originals), raised),
                    parquet=lambda: _table_ok(PARQUET, frame_to_parquet(table(glom.completed)), raised),
                    json=lambda: _json_ok(ImputeGlomResponse, glom.to_dict(), self.instance, raised),
                )
            response = ImputeResponse
        else:
            extended = options.extended_kwargs()
            result = imputer.impute(frame, **options.engine_kwargs(), **extended, **options.start_kwargs(),
                                    **callback_kwargs())
            response = ImputeExtendedResponse if extended else ImputeResponse
        shape = extended_payload if response is ImputeExtendedResponse else dict
        # (the normal's single fit only, as the options' check ensures: the t's and the mixture's to_dict lack it)
        matrices = {} if options.matrices == "both" else {"matrices": options.matrices}
        return _encoded(
            kinds,
            self.instance,
            csv=lambda: _table_ok(CSV_MEDIA, frame_to_csv(table(result.completed), originals), raised),
            parquet=lambda: _table_ok(PARQUET, frame_to_parquet(table(result.completed)), raised),
            json=lambda: _json_ok(
                response, shape(result.to_dict(conditional_var=options.conditional_var, **matrices)), self.instance, raised
            ),
        )


@dataclass(frozen=True)
class DiagnosticsTask(_Task):
    """``POST /v1/diagnostics``: parse the table, compute patterns and Little's test, encode.

    Attributes
    ----------
    kind : {"json", "csv", "parquet"}
        Format of ``body``.
    body : bytes
        The request body.
    query : Mapping[str, Any]
        The query parameters (``DiagnosticsQuery.model_dump()``: CSV parsing and, for CSV
        and Parquet bodies, ``columns``).
    instance : str
        Request path, the ``instance`` of problem details.
    max_columns : int
        Most columns one request may look at (``IMPUTER_MAX_COLUMNS``).
    """

    kind: InputKind
    body: bytes
    query: Mapping[str, Any] = field(default_factory=dict)
    instance: str = "/v1/diagnostics"
    max_columns: int = 2000

    def _compute(self, raised: Sequence[str]) -> JobOutput:
        if self.kind == "json":
            request = _parse(DiagnosticsRequest, self.body)
            frame = frame_from_split(request.data, request.options.columns)
            columns = request.options.columns
        else:
            q = DiagnosticsQuery.model_validate(dict(self.query))
            columns = q.columns or None
            frame = _query_table(self.body, self.kind, q, columns)
        _check_width(frame, columns, self.max_columns)
        payload = overview(frame, columns).to_dict()  # its own warnings, recorded by overview()
        # and any the library raised outside it (recorded here instead of shown)
        payload["warnings"] += [w for w in raised if w not in payload["warnings"]]
        return _json_ok(DiagnosticsResponse, payload, self.instance)


def _query_table(body: bytes, kind: InputKind, q: CsvQuery, columns: list[str] | None) -> pd.DataFrame:
    """A CSV (read with the query's parse options; ``columns`` the modelled ones) or Parquet body (with the
    query's ``index_col`` and ``passthrough``) as a table."""
    _check_memory(body, kind)
    if kind == "csv":
        frame, _ = read_csv_table_body(
            body, sep=q.sep, decimal=q.decimal, na_values=q.na_values, index_col=q.index_col, columns=columns,
            passthrough=q.passthrough,
        )
        return frame
    frame, _ = parquet_query_table(read_parquet_body(body), index_col=q.index_col, passthrough=q.passthrough,
                                   columns=columns)
    return frame


@dataclass(frozen=True)
class DisperseTask(_Task):
    """``POST /v1/diagnostics/disperse``: parse the table, run :func:`imputer.disperse`, encode.

    Attributes
    ----------
    kind : {"json", "csv", "parquet"}
        Format of ``body``.
    body : bytes
        The request body.
    query : Mapping[str, Any]
        The query parameters (``DisperseQuery.model_dump()``: CSV parsing and, for CSV
        and Parquet bodies, the options of the runs).
    instance : str
        Request path, the ``instance`` of problem details.
    max_columns : int
        Most columns one request may model (``IMPUTER_MAX_COLUMNS``).
    time_limit_s : float or None
        The time limit of the request (``IMPUTER_TIMEOUT_S`` for the synchronous endpoint):
        runs whose estimated time (:func:`api.admission.check_disperse_cost`) exceeds it are
        refused at once (422); None (the job API) admits any.

    The options are checked by the engine (its errors name them: 422); runs that do not
    converge are a result (``point`` 0), their warning in ``warnings``.
    """

    kind: InputKind
    body: bytes
    query: Mapping[str, Any] = field(default_factory=dict)
    instance: str = "/v1/diagnostics/disperse"
    max_columns: int = 2000
    time_limit_s: float | None = None

    def _compute(self, raised: Sequence[str]) -> JobOutput:
        if self.kind == "json":
            request = _parse(DisperseRequest, self.body)
            frame = frame_from_split(request.data, request.options.columns)
            options: DisperseOptions = request.options
        else:
            q = DisperseQuery.model_validate(dict(self.query))
            options = q.options()
            frame = _query_table(self.body, self.kind, q, options.columns)
        _check_width(frame, options.columns, self.max_columns)
        if self.time_limit_s is not None:
            check_disperse_cost(frame, options.columns, options.starts, self.time_limit_s)
        result = imputer.disperse(frame, **options.engine_kwargs(), **callback_kwargs())
        return _json_ok(DisperseResponse, result.to_dict(), self.instance, raised)


@contextmanager
def recorded_warnings() -> Iterator[list[str]]:
    """Record the library's warnings raised in the block instead of showing them.

    Yields
    ------
    list of str
        The messages of the :class:`~imputer.errors.ImputerWarning` s raised in the block
        (every subclass: :class:`~imputer.errors.ConvergenceWarning`, ...), each once, in
        the order first raised. The list fills as they are raised, so it may be read
        inside the block.

    Notes
    -----
    Every imputer warning is recorded, however often it is raised (the filters of the
    process do not hide repeats nor turn them into errors); none is shown. Other warnings
    (numpy's ``RuntimeWarning``, pandas' ``FutureWarning``...) are internal noise to a
    REST client: they are not recorded, and are shown as before (the server's log).
    """
    raised: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always", ImputerWarning)
        show = warnings.showwarning

        def record(
            message: Warning | str, category: type[Warning], filename: str, lineno: int,
            file: TextIO | None = None, line: str | None = None,
        ) -> None:
            if not issubclass(category, ImputerWarning):
                show(message, category, filename, lineno, file, line)
            elif str(message) not in raised:
                raised.append(str(message))

        warnings.showwarning = record
        yield raised


def _guarded(instance: str, compute: Callable[[Sequence[str]], T]) -> T | JobOutput:
    """Run ``compute`` and answer its expected failures as problem details (422).

    ``compute`` is passed the messages of the library's warnings raised so far (a list
    that fills as they are raised, :func:`recorded_warnings`), for its answer to carry. A
    :class:`~imputer.errors.ConvergenceWarning` is not a failure: the result says
    ``converged: false`` and its ``warnings`` say why.
    """
    try:
        with recorded_warnings() as raised:
            return compute(raised)
    except ValidationError as exc:
        return _invalid(exc, instance)
    except ImputerError as exc:  # an option's column at fault (api/schemas/panel.py): the problem names its field
        at = {"errors": [{"loc": list(exc.loc), "msg": str(exc), "type": "value_error"}]} if hasattr(exc, "loc") else {}
        return _problem(422, str(exc), instance, title="Invalid data or options", **at)
    except MemoryError:
        return _problem(422, _TOO_BIG, instance, title="Invalid data or options")
    except Infeasible:  # the library's internal signal escaped it (e.g. impute(ridge=1e308)): still the data's
        return _problem(422, _NO_FEASIBLE, instance, title="Invalid data or options")


_NO_FEASIBLE = (
    "options: the fit found no valid estimate (no positive-definite covariance at any iterate); "
    "an extreme option (ridge near the largest float) or extreme data values cause this: rescale them"
)


def _matrix(rows: list[list[float]] | None) -> np.ndarray | None:
    return None if rows is None else np.asarray(rows, dtype=float)


def _zeta_term(t: Any) -> dict[str, Any]:
    multi = bool(t.Z) and bool(t.Z[0]) and isinstance(t.Z[0][0], list)  # a list of matrices: several effects per level
    out: dict[str, Any] = {"Z": [_matrix(z) for z in t.Z] if multi else _matrix(t.Z)}
    if t.K is not None:
        out["K"] = _matrix(t.K)
    for key in ("effects", "structure"):
        if getattr(t, key) is not None:
            out[key] = getattr(t, key)
    return out


@dataclass(frozen=True)
class MixedTask(_Task):
    """``POST /v1/mixed``: matrix form, run :func:`imputer.fit_mixed`.

    Attributes
    ----------
    body : bytes
        The JSON request body (:class:`~api.schemas.mixed.MixedRequest`).
    instance : str
        Request path, the ``instance`` of problem details.
    """

    body: bytes
    instance: str = "/v1/mixed"

    def _compute(self, raised: Sequence[str]) -> JobOutput:
        request = _parse(MixedRequest, self.body)
        y = request.response_values()  # None -> NaN; a matrix y: a DataFrame of traits
        if isinstance(request.ZETA, dict):
            zeta: Any = {name: _zeta_term(t) for name, t in request.ZETA.items()}
        else:
            zeta = [_zeta_term(t) for t in request.ZETA]
        reject_repeated_terms(zeta)
        result = imputer.fit_mixed(y, _matrix(request.X), zeta, **request.options.engine_kwargs(), **callback_kwargs())
        return _json_ok(response_model_for(result), result.to_dict(), self.instance, raised)


@dataclass(frozen=True)
class MixedFrameTask(_Task):
    """``POST /v1/mixed/frame``: table form, run :func:`imputer.fit_mixed_frame`.

    Attributes
    ----------
    body : bytes
        The request body: JSON (:class:`~api.schemas.mixed.MixedFrameRequest`), CSV or Parquet.
    instance : str
        Request path, the ``instance`` of problem details.
    kind : {"json", "csv", "parquet"}
        Format of ``body``.
    query : Mapping[str, Any]
        The query parameters (``MixedFrameQuery.model_dump()``): for CSV and Parquet
        bodies, the model and options (:mod:`api.schemas.mixed_query`) and CSV parsing.
    """

    body: bytes
    instance: str = "/v1/mixed/frame"
    kind: InputKind = "json"
    query: Mapping[str, Any] = field(default_factory=dict)

    def _compute(self, raised: Sequence[str]) -> JobOutput:
        if self.kind == "json":
            request: Any = _parse(MixedFrameRequest, self.body)
            frame = frame_from_split(request.data)
        else:
            q = MixedFrameQuery.model_validate(dict(self.query))
            _check_memory(self.body, self.kind)
            if self.kind == "csv":
                frame, _ = read_csv_table_body(
                    self.body, sep=q.sep, decimal=q.decimal, na_values=q.na_values, index_col=q.index_col,
                    passthrough=q.passthrough,
                )
            else:
                frame, _ = parquet_query_table(
                    read_parquet_body(self.body), index_col=q.index_col, passthrough=q.passthrough
                )
            request = SimpleNamespace(**q.model())
        kernels = (
            None
            if request.kernels is None
            else {
                name: pd.DataFrame(_matrix(k.data), index=k.levels, columns=k.levels)
                for name, k in request.kernels.items()
            }
        )
        frame = contrast_factors(frame, request.contrasts)  # numeric levels: a factor, ordered by value
        check_fixed_design(frame, request.fixed, request.formula)
        reject_repeated_frame_terms(frame, request.random, request.formula, request.kernels)
        model = (
            {"response": request.formula}
            if request.formula is not None
            else {"response": request.response, "fixed": request.fixed, "random": request.random,
                  "intercept": request.intercept}
        )
        result = imputer.fit_mixed_frame(
            frame,
            **model,
            kernels=kernels,
            contrasts=request.contrasts,
            na_action=request.na_action,
            **request.options.engine_kwargs(),
            **callback_kwargs(),
        )
        return _json_ok(response_model_for(result), result.to_dict(), self.instance, raised)


@dataclass(frozen=True)
class PoolTask(_Task):
    """``POST /v1/pool``: Rubin's rules, :func:`imputer.pool`.

    Attributes
    ----------
    body : bytes
        The JSON request body (:class:`~api.schemas.pool.PoolRequest`).
    instance : str
        Request path, the ``instance`` of problem details.
    """

    body: bytes
    instance: str = "/v1/pool"

    def _compute(self, raised: Sequence[str]) -> JobOutput:
        request = _parse(PoolRequest, self.body)
        estimates = np.asarray(request.estimates, dtype=float)
        terms = request.terms if request.terms is not None else [str(j) for j in range(estimates.shape[1])]
        spread = request.covariances if request.covariances is not None else request.variances
        result = imputer.pool(
            pd.DataFrame(estimates, columns=terms),
            np.asarray(spread, dtype=float),
            dfcom=request.dfcom,
            conf_level=request.conf_level,
        )
        return _json_ok(PoolResponse, result.to_dict(), self.instance)
