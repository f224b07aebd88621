"""File uploads as ``multipart/form-data`` (``curl -F file=@data.csv``): the one file part
becomes the request body, with its format from the part's media type or file name.

The body is split at its boundary as bytes (RFC 7578), so a binary part (Parquet) comes
through exactly; each part's headers are read with the standard library's header parser.
Exactly one part must carry a file (a ``filename``); form fields are not options (the
options of a CSV or Parquet upload are query parameters, as for a raw body), and one sent
is a 422 naming it rather than ignored.
"""

from __future__ import annotations

from email import policy
from email.message import Message
from email.parser import BytesHeaderParser

from fastapi import HTTPException

from api.formats import _PARQUET_ALIASES, CSV, JSON, InputKind, _media_type, request_kind

__all__ = ["MULTIPART", "UPLOAD_CONTENT", "kind_or_upload", "unwrap_upload"]

MULTIPART = "multipart/form-data"

#: the ``multipart/form-data`` entry of a table endpoint's ``requestBody`` in the OpenAPI document
UPLOAD_CONTENT = {
    MULTIPART: {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {
                    "type": "string",
                    "format": "binary",
                    "description": "The table as a file (`curl -F file=@data.csv`): CSV, JSON or Parquet, by the "
                    "part's media type or else its name (.csv, .json, .parquet); options as query parameters.",
                },
            },
        },
        "encoding": {"file": {"contentType": f"{CSV}, {JSON}, application/vnd.apache.parquet, application/octet-stream"}},
    }
}

_BY_SUFFIX: dict[str, InputKind] = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def kind_or_upload(content_type: str | None) -> InputKind | str:
    """The body's format (JSON, CSV or Parquet), or :data:`MULTIPART` for a file upload (its
    part's format is known once the body is read: :func:`unwrap_upload`); 415 otherwise."""
    if _media_type(content_type or "") == MULTIPART:
        return MULTIPART
    return request_kind(content_type, ("json", "csv", "parquet"))


def _boundary(content_type: str) -> bytes:
    msg = Message()
    msg["content-type"] = content_type
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise HTTPException(status_code=400, detail="multipart/form-data without a boundary parameter")
    return boundary.encode("latin-1")


def _parts(body: bytes, boundary: bytes) -> list[tuple[Message, bytes]]:
    """``(headers, content)`` of each part, in order (the preamble and epilogue dropped)."""
    delimiter = b"--" + boundary
    pieces = body.split(delimiter)
    if len(pieces) < 3:
        raise HTTPException(status_code=400, detail="multipart/form-data body without parts (check the boundary)")
    out = []
    for raw in pieces[1:]:
        if raw.startswith(b"--"):  # the close delimiter
            break
        head, sep, content = raw.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise HTTPException(status_code=400, detail="a multipart part without a blank line after its headers")
        headers = BytesHeaderParser(policy=policy.HTTP).parsebytes(head + b"\r\n\r\n")
        out.append((headers, content.removesuffix(b"\r\n")))
    return out


def unwrap_upload(content_type: str, body: bytes) -> tuple[InputKind, bytes]:
    """The format and bytes of the uploaded file of a ``multipart/form-data`` body.

    Raises
    ------
    HTTPException
        400 for a malformed body; 422 for a form field (a part without a file name: it
        would not be read) or unless exactly one part is a file; 415 for a file
        that is not CSV, JSON or Parquet (by its media type, else its name).
    """
    parts = _parts(body, _boundary(content_type))
    fields = [str(h.get_param("name", header="content-disposition")) for h, _ in parts if h.get_filename() is None]
    if fields:  # read as options, they would be ignored in silence
        raise HTTPException(
            status_code=422,
            detail=f"form field{'s' if len(fields) > 1 else ''} {', '.join(map(repr, fields))} not read: a multipart "
            "upload carries the file only; send the options as query parameters (?ridge=1)",
        )
    files = parts  # each carries a file name
    if len(files) != 1:
        raise HTTPException(
            status_code=422,
            detail=f"a multipart/form-data upload carries exactly one file (curl -F file=@data.csv), got {len(files)}",
        )
    headers, content = files[0]
    media = _media_type(headers.get("content-type", ""))
    name = str(headers.get_filename())
    kind: InputKind | None = None
    if media in (CSV, "application/csv"):
        kind = "csv"
    elif media == JSON:
        kind = "json"
    elif media in _PARQUET_ALIASES:
        kind = "parquet"
    else:
        kind = next((k for suffix, k in _BY_SUFFIX.items() if name.lower().endswith(suffix)), None)
    if kind is None:
        raise HTTPException(
            status_code=415,
            detail=f"uploaded file {name!r} ({media or 'no media type'}): send a .csv, .json or .parquet file",
        )
    return kind, content
