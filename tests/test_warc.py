"""tasks/warc.py: WARC and ARC records -> documents, skips and rejects, on the shared sample archives (broken
ones included) and on archives written here with warcio's writer."""

from __future__ import annotations

import gzip
import io
import zlib
from collections import Counter
from datetime import date
from itertools import pairwise
from pathlib import Path

import pytest

from newsdag.tasks import warc
from newsdag.tasks.models import RawDocument, Reject, WarcRules, WarcStep
from tests.conftest import SHARED_WARC, article_page, warc_response, write_warc

RULES = WarcRules()


def steps_of(path: Path, rules: WarcRules = RULES, **start: int | str | None) -> list[WarcStep]:
    return list(warc.read_archive(warc.LocalArchive(path), rules, **start))  # type: ignore[arg-type]


def documents_of(steps: list[WarcStep]) -> list[RawDocument | Reject]:
    return [
        warc.payload_document(item.payload, source="test", max_decompressed_bytes=50 << 20)
        for item in steps
        if item.payload is not None
    ]


def skips(steps: list[WarcStep]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for item in steps:
        counted.update(dict(item.skipped))
    return counted


# What each shared sample becomes: (documents, rejects by rule, skipped by reason). Every file ends, none raises.
SHARED_OUTCOMES = {
    "resiliparse-block-sized-records.warc.lz4": (0, {}, {"not-response": 3}),
    "resiliparse-clipped.warc.gz": (0, {"warc-truncated": 1}, {}),
    "resiliparse-clueweb-quirk.warc.gz": (29, {}, {"not-response": 1}),
    "resiliparse-warcfile.warc.gz": (15, {"undecodable": 1}, {"not-response": 34}),
    "warcio-example-bad-non-chunked.warc.gz": (1, {}, {"not-response": 4, "revisit": 1}),
    "warcio-example-iana.org-chunked.warc": (1, {}, {"not-response": 2}),
    "warcio-example-resource.warc.gz": (0, {}, {"not-response": 3}),
    "warcio-example-space-in-target-uri.warc.gz": (0, {}, {"not-response": 2}),
    # A response whose WARC Content-Length is 2 bytes short: its gzip body lacks its end, and the 2 bytes
    # left over are no record.
    "warcio-example-trunc.warc": (0, {"warc-truncated": 1, "warc-bad-record": 1}, {"not-response": 3}),
    "warcio-example-wrong-chunks.warc.gz": (1, {}, {"not-response": 1}),
    "warcio-example.arc.gz": (1, {}, {"not-response": 1}),
    "warcio-example.warc": (1, {}, {"not-response": 4, "revisit": 1}),
    "warcio-example.warc.gz": (1, {}, {"not-response": 4, "revisit": 1}),
}


def test_every_shared_sample_is_listed() -> None:
    assert {path.name for path in SHARED_WARC.iterdir() if warc.is_archive(path.name)} == set(SHARED_OUTCOMES)


@pytest.mark.parametrize("name", sorted(SHARED_OUTCOMES))
def test_a_shared_sample_gives_documents_rejects_and_counted_skips_never_an_error(name: str) -> None:
    steps = steps_of(SHARED_WARC / name)
    results = documents_of(steps)
    documents = [result for result in results if isinstance(result, RawDocument)]
    rejects = [result for result in results if isinstance(result, Reject)]
    rejects += [item.reject for item in steps if item.reject is not None]
    expected_documents, expected_rejects, expected_skips = SHARED_OUTCOMES[name]
    assert len(documents) == expected_documents
    assert Counter(reject.rule for reject in rejects) == expected_rejects
    assert skips(steps) == expected_skips
    assert steps[-1].ended and not any(item.ended for item in steps[:-1])
    for document in documents:
        assert document.warc is not None and document.warc.file == str((SHARED_WARC / name).resolve())
        assert document.input.startswith(f"{document.warc.file}@{document.warc.offset}")
        assert document.url.startswith("http") and " " not in document.url


def test_bodies_come_dechunked_and_decompressed_and_an_arc_record_reads_as_its_warc_twin() -> None:
    (iana,) = documents_of(steps_of(SHARED_WARC / "warcio-example-iana.org-chunked.warc"))
    assert isinstance(iana, RawDocument) and iana.content.startswith(b"<!doctype html>") and len(iana.content) == 7223
    (from_warc,) = documents_of(steps_of(SHARED_WARC / "warcio-example.warc.gz"))  # Content-Encoding: gzip
    (from_arc,) = documents_of(steps_of(SHARED_WARC / "warcio-example.arc.gz"))
    assert isinstance(from_warc, RawDocument) and isinstance(from_arc, RawDocument)
    assert from_warc.content == from_arc.content and from_warc.content.startswith(b"<!doctype html>")
    assert from_warc.fetched_at.isoformat() == "2017-03-06T04:02:06+00:00"
    # ClueWeb stores decoded bodies under "Content-Encoding: gzip" and writes its own WARC-Date: the body is
    # taken as it is, the HTTP Date dates the fetch.
    clueweb = documents_of(steps_of(SHARED_WARC / "resiliparse-clueweb-quirk.warc.gz"))
    assert all(isinstance(document, RawDocument) and b"<html" in document.content[:200] for document in clueweb)
    assert clueweb[0].fetched_at.year == 2009 and clueweb[0].encoding == "euc-jp"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name", ["resiliparse-warcfile.warc.gz", "warcio-example-bad-non-chunked.warc.gz", "warcio-example.warc"]
)
def test_reading_resumes_after_any_step_with_exactly_the_steps_that_follow(name: str) -> None:
    path = SHARED_WARC / name
    steps = steps_of(path)
    for number, done in enumerate(steps[:-1]):
        resumed = steps_of(path, offset=done.offset, skip=done.skip, stamp=done.stamp)
        assert [item.payload.input if item.payload else item.ended for item in resumed] == [
            item.payload.input if item.payload else item.ended for item in steps[number + 1 :]
        ]
        assert skips(resumed) == skips(steps[number + 1 :])


def test_a_file_rewritten_since_its_stamp_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "news.warc"
    write_warc(path, [warc_response(f"https://example.com/{n}", article_page(n).encode()) for n in range(3)])
    first = steps_of(path)
    resumed = steps_of(path, offset=first[0].offset, skip=first[0].skip, stamp="another version")
    assert len([item for item in resumed if item.payload]) == 3


def news_archive(path: Path, count: int = 5) -> list[int]:
    return write_warc(path, [warc_response(f"https://example.com/{n}", article_page(n).encode()) for n in range(count)])


def test_corrupt_compressed_data_in_the_middle_is_a_reject_and_the_records_after_it_still_load(tmp_path: Path) -> None:
    path = tmp_path / "news.warc.gz"
    offsets = news_archive(path)
    data = bytearray(path.read_bytes())
    middle = (offsets[2] + offsets[3]) // 2
    data[middle : middle + 40] = bytes(40)
    path.write_bytes(bytes(data))
    steps = steps_of(path)
    assert [item.payload.url for item in steps if item.payload] == [
        "https://example.com/0",
        "https://example.com/1",
        "https://example.com/3",
        "https://example.com/4",
    ]
    (broken,) = [item for item in steps if item.reject]
    assert broken.reject.rule == "warc-bad-record" and f"resumed at offset {offsets[3]}" in broken.reject.detail
    assert (broken.offset, broken.skip) == (offsets[3], 0)  # a run killed here resumes past the broken part


def test_a_malformed_header_in_a_plain_warc_is_a_reject_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "news.warc"
    offsets = news_archive(path)
    data = bytearray(path.read_bytes())
    data[offsets[1] : offsets[1] + 8] = b"GARBAGE!"
    path.write_bytes(bytes(data))
    steps = steps_of(path)
    assert [item.payload.url for item in steps if item.payload] == [f"https://example.com/{n}" for n in (0, 2, 3, 4)]
    assert [item.reject.rule for item in steps if item.reject] == ["warc-bad-record"]


def test_a_record_longer_than_the_file_is_truncated_and_records_it_swallowed_are_found(tmp_path: Path) -> None:
    path = tmp_path / "news.warc"
    offsets = news_archive(path)
    data = path.read_bytes()
    length_at = data.index(b"Content-Length: ", offsets[1]) + len(b"Content-Length: ")
    length_end = data.index(b"\r\n", length_at)
    path.write_bytes(data[:length_at] + b"999999" + data[length_end:])
    steps = steps_of(path)
    assert [item.reject.rule for item in steps if item.reject] == ["warc-truncated"]
    assert [item.payload.url for item in steps if item.payload] == [f"https://example.com/{n}" for n in (0, 2, 3, 4)]
    assert steps[-1].ended


def test_records_after_a_last_record_too_large_to_read_are_found(tmp_path: Path) -> None:
    path = tmp_path / "news.warc"
    offsets = news_archive(path)
    data = path.read_bytes()
    length_at = data.index(b"Content-Length: ", offsets[1]) + len(b"Content-Length: ")
    length_end = data.index(b"\r\n", length_at)
    path.write_bytes(data[:length_at] + b"99999999" + data[length_end:])  # over the cap: not read, only skipped
    steps = steps_of(path)
    assert [item.reject.rule for item in steps if item.reject] == ["too-large"]
    assert [item.payload.url for item in steps if item.payload] == [f"https://example.com/{n}" for n in (0, 2, 3, 4)]


def test_a_file_cut_off_mid_record_rejects_that_record_and_ends(tmp_path: Path) -> None:
    path = tmp_path / "news.warc.gz"
    offsets = news_archive(path)
    path.write_bytes(path.read_bytes()[: (offsets[3] + offsets[4]) // 2])
    steps = steps_of(path)
    assert len([item for item in steps if item.payload]) == 3
    assert [item.reject.rule for item in steps if item.reject] == ["warc-truncated"]
    assert steps[-1].ended


def test_cheap_filters_skip_records_on_their_headers_and_count_them(tmp_path: Path) -> None:
    page = article_page(1).encode()
    path = tmp_path / "mixed.warc.gz"
    write_warc(
        path,
        [
            warc_response("https://www.example.com/kept", page, date="2026-05-02T10:00:00Z"),
            warc_response("https://other.org/off", page, date="2026-05-02T10:00:00Z"),
            warc_response("https://example.com/early", page, date="2026-04-30T23:59:59Z"),
            warc_response("https://example.com/pdf", b"%PDF-1.4", content_type="application/pdf"),
            warc_response("https://example.com/gone", b"", status="404 Not Found"),
            warc_response("https://example.com/big", page * 100, date="2026-05-02T10:00:00Z"),
        ],
        with_requests=True,
    )
    rules = WarcRules(domains=("example.com",), since=date(2026, 5, 1), until=date(2026, 5, 3), max_record_bytes=50_000)
    steps = steps_of(path, rules)
    assert [item.payload.url for item in steps if item.payload] == ["https://www.example.com/kept"]
    assert [(item.reject.rule, item.reject.url) for item in steps if item.reject] == [
        ("too-large", "https://example.com/big")
    ]
    assert skips(steps) == {"not-response": 6, "off-domain": 1, "outside-window": 3}
    # Without a window or domains only the type and status count.
    assert skips(steps_of(path)) == {"not-response": 6, "not-html": 1, "not-200": 1}


def test_a_record_is_read_again_at_its_offset_with_the_same_bytes() -> None:
    path = SHARED_WARC / "resiliparse-warcfile.warc.gz"
    for document in documents_of(steps_of(path)):
        if isinstance(document, RawDocument):
            assert document.warc is not None
            again = warc.read_record_at(warc.LocalArchive(path), document.warc, RULES)
            assert again is not None and not isinstance(again, Reject)
            decoded = warc.payload_document(again, source="test", max_decompressed_bytes=50 << 20)
            assert isinstance(decoded, RawDocument) and decoded.doc_id == document.doc_id


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", {"transfer-encoding": "chunked"}, b"hello world"),
        (b"<html>stored de-chunked</html>", {"transfer-encoding": "chunked"}, b"<html>stored de-chunked</html>"),
        (gzip.compress(b"<html>zipped</html>"), {"content-encoding": "gzip"}, b"<html>zipped</html>"),
        (zlib.compress(b"<html>deflated</html>"), {"content-encoding": "deflate"}, b"<html>deflated</html>"),
        (b"<html>stored decoded</html>", {"content-encoding": "gzip"}, b"<html>stored decoded</html>"),
    ],
)
def test_http_bodies_are_decoded(body: bytes, headers: dict[str, str], expected: bytes) -> None:
    assert warc.http_body(body, headers, 1000) == expected


@pytest.mark.parametrize(
    ("body", "headers", "rule"),
    [
        (b"5\r\nhello\r\nff\r\nshort\r\n", {"transfer-encoding": "chunked"}, "warc-bad-chunking"),
        (b"5\r\nhello", {"transfer-encoding": "chunked"}, "warc-bad-chunking"),
        (gzip.compress(b"x" * 100)[:-12], {"content-encoding": "gzip"}, "warc-truncated"),
        (b"\x1f\x8b\x08\x00garbage-not-gzip", {"content-encoding": "gzip"}, "warc-bad-encoding"),
        (gzip.compress(b"x" * 5000), {"content-encoding": "gzip"}, "too-large"),
        (b"<html></html>", {"content-encoding": "compress"}, "warc-bad-encoding"),
    ],
)
def test_http_bodies_that_cannot_be_decoded_name_why(body: bytes, headers: dict[str, str], rule: str) -> None:
    with pytest.raises(warc.BodyError) as raised:
        warc.http_body(body, headers, 1000)
    assert raised.value.rule == rule


def test_a_warc_list_names_urls_paths_and_common_crawl_paths(tmp_path: Path) -> None:
    (tmp_path / "local.warc.gz").write_bytes(b"")
    text = "\n".join(
        [
            "# CC-NEWS, August 2016",
            "crawl-data/CC-NEWS/2016/08/CC-NEWS-20160826124520-00000.warc.gz",
            "https://user:secret@example.org/files/a.warc.gz",
            "local.warc.gz",
            "local.warc.gz",
            "missing.warc.gz",
            "https://example.org/notes.txt",
        ]
    )
    entries, rejects = warc.parse_warc_list(text, "list.txt", tmp_path)
    assert entries == [
        "https://data.commoncrawl.org/crawl-data/CC-NEWS/2016/08/CC-NEWS-20160826124520-00000.warc.gz",
        "https://example.org/files/a.warc.gz",
        str((tmp_path / "local.warc.gz").resolve()),
    ]
    assert [(reject.input, reject.rule) for reject in rejects] == [
        ("list.txt:6", "bad-warc-path"),
        ("list.txt:7", "bad-warc-path"),
    ]


def recompress_records(plain: Path, offsets: list[int], target: Path, writer: str) -> list[int]:
    """`plain` (an uncompressed WARC of responses at `offsets`) again as one zstd frame or LZ4 frame per record,
    as Common Crawl gzips one member per record: the offset of each record's frame in `target`."""
    from fastwarc import stream_io

    data = plain.read_bytes()
    bounds = [*offsets, len(data)]
    starts = []
    with target.open("wb") as handle:
        for start, end in pairwise(bounds):
            starts.append(handle.tell())
            frame = io.BytesIO()
            compressor = getattr(stream_io, writer)(frame)
            compressor.write(data[start:end])
            compressor.close()  # flushes the frame (finish() alone leaves it buffered)
            handle.write(frame.getvalue())
    return starts


@pytest.mark.parametrize(("suffix", "writer"), [(".warc.zst", "ZstdWriter"), (".warc.lz4", "Lz4Writer")])
def test_zstd_and_lz4_archives_read_and_resume_per_record_like_gzip(tmp_path: Path, suffix: str, writer: str) -> None:
    plain = tmp_path / "news.warc"
    target = tmp_path / f"news{suffix}"
    starts = recompress_records(plain, news_archive(plain), target, writer)
    steps = steps_of(target)
    assert [item.payload.url for item in steps if item.payload] == [f"https://example.com/{n}" for n in range(5)]
    assert [item.payload.origin.offset for item in steps if item.payload] == starts  # type: ignore[union-attr]
    resumed = steps_of(target, offset=steps[1].offset, skip=steps[1].skip, stamp=steps[1].stamp)
    assert [item.payload.url for item in resumed if item.payload] == [f"https://example.com/{n}" for n in (2, 3, 4)]
    (document, *_) = documents_of(steps)
    assert isinstance(document, RawDocument) and document.content == article_page(0).encode()


@pytest.mark.parametrize(
    "name", ["empty.warc.gz", "noise.warc.gz", "noise.warc", "noise.warc.zst", "noise.warc.lz4", "noise.arc.gz"]
)
def test_a_file_that_is_no_archive_at_all_is_one_reject_with_a_readable_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else bytes(range(256)) * 8 + b"\x00\xff" * 100)
    steps = steps_of(path)
    assert steps[-1].ended and not any(item.payload for item in steps)
    rejects = [item.reject for item in steps if item.reject]
    if name.startswith("empty"):
        assert rejects == []  # nothing in it: read to its end
        return
    (reject,) = rejects
    assert reject.rule == "warc-bad-record" and reject.input == f"{path.resolve()}@0"
    assert "\n" not in reject.detail and reject.detail.isprintable() and reject.detail.isascii()


def test_a_file_that_cannot_be_opened_is_a_reject_that_the_next_run_tries_again(tmp_path: Path) -> None:
    (only,) = steps_of(tmp_path / "gone.warc.gz")
    assert only.reject is not None and only.reject.rule == "warc-unreadable"
    assert "No such file or directory" in only.reject.detail and not only.ended
