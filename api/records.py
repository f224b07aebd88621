"""JSON tables in pandas' "records" orientation, accepted where a "split" table is expected.

``df.to_json(orient="records")`` gives ``[{"a": 1, "b": null}, {"a": 2, "b": 3.5}]``; a
body whose ``data`` is such a list is turned into the split form ``{"columns": [...],
"data": [[...], ...]}`` (columns in the first record's order) and validated as one. Only
a body that failed validation with a list of objects at ``data`` takes this path (a second
parse of the body, in Python objects): split bodies are parsed once, as before.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from imputer.errors import ImputerValueError

__all__ = ["records_body"]


def _is_records_error(exc: ValidationError) -> bool:
    first = exc.errors(include_url=False)[0]
    return tuple(first["loc"][:1]) == ("data",) and isinstance(first.get("input"), list)


def records_body(body: bytes, exc: ValidationError) -> dict[str, Any] | None:
    """The body with a records ``data`` rewritten in split form, or None when ``exc`` is another error.

    Raises
    ------
    ImputerValueError
        A record that is not an object, or whose keys differ from the first record's,
        naming the row and the keys.
    """
    if not _is_records_error(exc):
        return None
    parsed = json.loads(body)
    if not isinstance(parsed, dict):
        return None
    records = parsed.get("data")
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        return None
    columns = list(records[0])
    expected = set(columns)
    rows = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ImputerValueError(f"data: row {i} is not an object; in records orientation every row is one")
        if record.keys() != expected:
            missing = sorted(expected - record.keys())
            extra = sorted(record.keys() - expected)
            raise ImputerValueError(
                f"data: row {i} of the records has other keys than row 0 (missing {missing}, extra {extra}); "
                "every record names the same columns (use null for a missing value)"
            )
        rows.append([record[c] for c in columns])
    return {**parsed, "data": {"columns": columns, "data": rows}}
