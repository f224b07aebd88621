"""Stored answers are compressed with zstd (pyarrow's codec: no further dependency).

An answer is JSON (the synchronous endpoint's body) or CSV text; both compress well
(a completed table of numbers to about a third, estimates much more). The size before
compression is stored beside the bytes (zstd through pyarrow needs it to decompress).
"""

from __future__ import annotations

__all__ = ["compress", "decompress"]

CODEC = "zstd"


def compress(data: bytes) -> bytes:
    """``data`` compressed with zstd (default level)."""
    import pyarrow as pa

    return pa.compress(data, codec=CODEC, asbytes=True)  # type: ignore[no-any-return]


def decompress(data: bytes, size: int) -> bytes:
    """The ``size`` bytes that :func:`compress` turned into ``data``."""
    import pyarrow as pa

    return pa.decompress(data, decompressed_size=size, codec=CODEC, asbytes=True)  # type: ignore[no-any-return]
