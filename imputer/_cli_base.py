"""What every command-line module needs before a table is read: the standard-stream name
and the error type.

Kept free of NumPy and pandas so that building the parser (``imputer --help``,
``imputer --version``) imports neither; :mod:`imputer._cli_io` re-exports both.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STDIO", "CliError"]

#: the file name that means standard input (for IN) or standard output (for OUT)
STDIO = "-"


class CliError(Exception):
    """A problem reported as one line on stderr with an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


_COMPRESSION = ("", ".gz", ".bz2", ".xz", ".zip", ".zst")
#: delimited text: comma (or the input's separator), tab, sniffed
_TEXT_FORMATS = {"csv": ",", "tsv": "\t", "txt": None}
_PARQUET_SUFFIXES = (".parquet", ".pq")


def _format(path: Path, role: str) -> str:
    """``csv``, ``tsv``, ``txt`` (delimited text, optionally compressed) or ``parquet``."""
    name = path.name.lower()
    for fmt in _TEXT_FORMATS:
        if name.endswith(tuple(f".{fmt}{z}" for z in _COMPRESSION)):
            return fmt
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    raise CliError(
        f"{role} file {str(path)!r}: unknown extension; use .csv, .tsv or .txt (optionally "
        f"compressed: .gz, .bz2, .xz, .zip) or .parquet, or - for standard "
        f"{'input' if role == 'input' else 'output'}",
        status=2,
    )
