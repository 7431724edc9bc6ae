"""Property tests: loading and extracting arbitrary bytes never raises; every input ends as a
RawDocument/Article or a Reject."""

from __future__ import annotations

import gzip
import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsdag.tasks import discover
from newsdag.tasks.discover import count_jsonl_lines, discover_paths, jsonl_lines
from newsdag.tasks.extract import extract_document
from newsdag.tasks.loaders import file_stamp, load_documents
from newsdag.tasks.models import Article, LineSpan, RawDocument, Reject
from tests.conftest import make_document

SUFFIXES = (".html", ".txt", ".jsonl", ".html.gz", ".txt.gz", ".jsonl.gz")
# Markup-ish text: tags, entities, JSON-LD and meta fragments mixed with words, so the examples reach
# the parsers' rules instead of stopping at "not HTML".
FRAGMENTS = st.sampled_from(
    [
        "<html>",
        "</html>",
        "<head>",
        "<body>",
        "<p>",
        "</p>",
        "<h1>",
        "<title>",
        "</title>",
        "<div class='author'>",
        '<meta property="og:title" content="',
        '<meta name="keywords" content="a, b;',
        '">',
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": ',
        "}</script>",
        "&amp;",
        "&#0;",
        "\x00",
        "\ufeff",
        "2024-05-31T08:36+02:00",
        "By Jane Doe",
        "\n\n",
        " word ",
        '{"url": "https://example.com/a", "html": "<p>x</p>"}',
        "\xad",
        "<!--",
        "-->",
        "<![CDATA[",
    ]
)
HTMLISH = st.lists(st.one_of(FRAGMENTS, st.text(max_size=40)), max_size=40).map("".join)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    content=st.one_of(st.binary(max_size=2000), HTMLISH.map(lambda text: text.encode("utf-8", "surrogatepass"))),
    suffix=st.sampled_from(SUFFIXES),
    compress=st.booleans(),
)
def test_loading_any_file_never_raises(content: bytes, suffix: str, compress: bool) -> None:
    if suffix.endswith(".gz") and compress:
        content = gzip.compress(content)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"input{suffix}"
        path.write_bytes(content)
        limits = {"max_file_bytes": 10_000, "max_decompressed_bytes": 20_000}
        results = [result for item in discover_paths([str(path)]) for result in load_documents(item, **limits)]
    assert results
    assert all(isinstance(result, RawDocument | Reject) for result in results)


@SETTINGS
@given(
    content=st.one_of(st.binary(max_size=2000), HTMLISH.map(lambda text: text.encode("utf-8", "surrogatepass"))),
    kind=st.sampled_from(["html", "text"]),
)
def test_extracting_any_document_never_raises(content: bytes, kind: str) -> None:
    document = make_document(content)
    if kind == "text":
        document = replace(document, kind="text")
    assert isinstance(extract_document(document), Article | Reject)


@SETTINGS
@given(
    lines=st.lists(st.sampled_from(["", " ", "\r", '{"text": "a b"}', "{x", "é" * 5, "\t{}\r", "\x0c"]), max_size=12),
    final_newline=st.booleans(),
    scan_bytes=st.integers(min_value=1, max_value=16),
)
def test_jsonl_lines_are_found_whatever_the_scan_block_size(
    lines: list[str], final_newline: bool, scan_bytes: int
) -> None:
    content = "\n".join(lines).encode() + (b"\n" if final_newline and lines else b"")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "input.jsonl"
        path.write_bytes(content)
        expected, offset = [], 0
        for number, line in enumerate(content.split(b"\n"), start=1):
            if line.strip():
                expected.append(LineSpan(number, offset, len(line), file_stamp(path)))
            offset += len(line) + 1
        saved, discover.JSONL_SCAN_BYTES = discover.JSONL_SCAN_BYTES, scan_bytes
        try:
            spans = list(jsonl_lines(path) or [])
            counted = count_jsonl_lines(path)  # the progress total's count, by whole blocks
        finally:
            discover.JSONL_SCAN_BYTES = saved
        assert spans == expected
        assert counted == len(expected)
        assert all(content[span.offset : span.offset + span.length].strip() for span in spans)
