"""Decompress gzip/zlib data without ever holding more than a cap of bytes (a gzip bomb stops at the cap).

One decompressor for every place that undoes compression: fetched bodies (tasks/fetch.py), .gz files
(tasks/loaders.py), gzipped feeds and sitemaps (tasks/discover.py) and archived bodies (tasks/warc.py).
It raises DecompressError; each caller turns that into its own rule or error (a Reject, a FetchError).
"""

from __future__ import annotations

import zlib

from newsdag.tasks.errors import DecompressError

CHUNK_BYTES = 64 * 1024
# zlib window bits: gzip only (a .gz file), or gzip and zlib headers alike (servers mislabel deflate often).
GZIP = zlib.MAX_WBITS | 16
GZIP_OR_ZLIB = zlib.MAX_WBITS | 32


class BoundedDecompressor:
    """Decompresses a stream chunk by chunk, never producing more than `limit` bytes.

    `wbits` None takes the data as stored: only the cap applies (a Content-Encoding of identity).
    """

    def __init__(self, limit: int, wbits: int | None = GZIP_OR_ZLIB) -> None:
        self.limit = limit
        self.total = 0
        self.parts: list[bytes] = []
        self.decompressor = None if wbits is None else zlib.decompressobj(wbits)

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.decompressor is None:
            self.add(bytes(chunk))
            return
        data: bytes | memoryview = chunk
        try:
            while data:
                self.add(self.decompressor.decompress(data, self.limit + 1 - self.total))
                data = self.decompressor.unconsumed_tail
        except zlib.error as error:
            raise DecompressError(f"corrupt compressed data: {error}", "corrupt") from None

    def add(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.limit:
            raise DecompressError(f"more than {self.limit} bytes after decompression", "too-large")
        self.parts.append(data)

    def finish(self) -> bytes:
        if self.decompressor is not None and not self.decompressor.eof:
            raise DecompressError("the compressed data ends early", "truncated")
        return b"".join(self.parts)


def decompress_bounded(content: bytes, limit: int, wbits: int = GZIP_OR_ZLIB) -> bytes:
    """`content` decompressed whole, within `limit` bytes; DecompressError otherwise."""
    decompressor = BoundedDecompressor(limit, wbits)
    view = memoryview(content)
    for start in range(0, len(content), CHUNK_BYTES):
        decompressor.feed(view[start : start + CHUNK_BYTES])
    return decompressor.finish()
