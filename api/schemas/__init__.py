"""Pydantic request/response models of the service (apart from the numeric code)."""

from api.schemas.common import (
    CsvQuery,
    FieldError,
    Health,
    LabelledMatrix,
    Problem,
    Readiness,
    SplitFrame,
    SplitFrameOut,
    Trace,
)
from api.schemas.diagnostics import (
    DiagnosticsOptions,
    DiagnosticsQuery,
    DiagnosticsRequest,
    DiagnosticsResponse,
    MCARTestOut,
    PatternTableOut,
)
from api.schemas.disperse import DisperseOptions, DisperseQuery, DisperseRequest, DisperseResponse
from api.schemas.impute import ImputeOptions, ImputeQuery, ImputeRequest, ImputeResponse
from api.schemas.impute_mi import EstimatesOut, ImputeMIResponse
from api.schemas.mixed import (
    MixedFrameRequest,
    MixedOptions,
    MixedRequest,
    MixedResponse,
    RandomTerm,
)
from api.schemas.pool import PoolRequest, PoolResponse, PoolTable

__all__ = [
    "FieldError",
    "Health",
    "LabelledMatrix",
    "Problem",
    "Readiness",
    "SplitFrame",
    "SplitFrameOut",
    "Trace",
    "CsvQuery",
    "DiagnosticsOptions",
    "DiagnosticsQuery",
    "DiagnosticsRequest",
    "DiagnosticsResponse",
    "MCARTestOut",
    "PatternTableOut",
    "DisperseOptions",
    "DisperseQuery",
    "DisperseRequest",
    "DisperseResponse",
    "ImputeOptions",
    "ImputeQuery",
    "ImputeRequest",
    "ImputeResponse",
    "ImputeMIResponse",
    "EstimatesOut",
    "MixedFrameRequest",
    "MixedOptions",
    "MixedRequest",
    "MixedResponse",
    "RandomTerm",
    "PoolRequest",
    "PoolResponse",
    "PoolTable",
]
