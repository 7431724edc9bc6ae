"""tasks/decompress.py: one bounded decompressor, one typed error."""

from __future__ import annotations

import gzip
import zlib

import pytest

from newsdag.tasks.decompress import GZIP, BoundedDecompressor, decompress_bounded
from newsdag.tasks.errors import DecompressError


def test_gzip_and_zlib_round_trip() -> None:
    data = b"<p>news</p>" * 10_000
    assert decompress_bounded(gzip.compress(data), len(data)) == data
    assert decompress_bounded(zlib.compress(data), len(data)) == data


@pytest.mark.parametrize(
    ("content", "limit", "wbits", "rule"),
    [
        (gzip.compress(b"\0" * 1_000_000), 1000, GZIP, "too-large"),
        (gzip.compress(b"<p>news</p>" * 1000)[:-12], 10**6, GZIP, "truncated"),
        (b"plain text, not gzip", 10**6, GZIP, "corrupt"),
        (zlib.compress(b"zlib, not gzip"), 10**6, GZIP, "corrupt"),
    ],
)
def test_refusals_raise_one_typed_error(content: bytes, limit: int, wbits: int, rule: str) -> None:
    with pytest.raises(DecompressError) as raised:
        decompress_bounded(content, limit, wbits)
    assert raised.value.rule == rule


def test_stored_data_is_only_capped() -> None:
    stored = BoundedDecompressor(10, wbits=None)
    stored.feed(b"0123456789")
    assert stored.finish() == b"0123456789"
    with pytest.raises(DecompressError):
        stored.feed(b"x")
