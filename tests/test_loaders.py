"""tasks/discover.py and tasks/loaders.py: every local input becomes documents or a reject with a reason."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsdag.tasks.discover import count_work_items, discover_paths
from newsdag.tasks.errors import InputError
from newsdag.tasks.loaders import declared_charset, decode_content, load_documents
from newsdag.tasks.models import RawDocument, Reject, WorkItem
from tests.conftest import PROJECT

LIMITS = {"max_file_bytes": 100_000, "max_decompressed_bytes": 200_000}
PAGE = b"<html><head><title>T</title></head><body><p>Hello world.</p></body></html>"


def load(path: Path) -> list[RawDocument | Reject]:
    return list(load_documents(WorkItem(location=str(path)), **LIMITS))


def only_reject(path: Path) -> Reject:
    results = load(path)
    assert len(results) == 1 and isinstance(results[0], Reject), results
    return results[0]


def test_directory_is_walked_recursively_in_order_and_hidden_files_skipped(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.html").write_bytes(PAGE)
    (tmp_path / "1.txt").write_text("x")
    (tmp_path / ".hidden.html").write_bytes(PAGE)
    found = [Path(item.location).relative_to(tmp_path).as_posix() for item in discover_paths([str(tmp_path)])]
    assert found == ["1.txt", "b/2.html"]


def test_glob_and_duplicates(tmp_path: Path) -> None:
    for name in ("a.html", "b.html", "c.txt"):
        (tmp_path / name).write_bytes(PAGE)
    items = list(discover_paths([str(tmp_path / "*.html"), str(tmp_path / "a.html")]))
    assert [Path(item.location).name for item in items] == ["a.html", "b.html"]


def test_a_file_reached_twice_is_listed_once_where_first_reached(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.html", "sub/b.html", "sub/.hidden.html"):
        (tmp_path / name).write_bytes(PAGE)
    (tmp_path / "link-to-b.html").symlink_to(tmp_path / "sub" / "b.html")  # walked before sub/b.html
    (tmp_path / "sub" / "z-link.html").symlink_to(tmp_path / "a.html")  # walked after a.html
    inputs = [tmp_path, tmp_path / "sub", tmp_path / "sub" / ".hidden.html", tmp_path / "a.html", tmp_path / "sub"]
    found = [Path(item.location).relative_to(tmp_path).as_posix() for item in discover_paths(map(str, inputs))]
    # A hidden file is not walked, but named it is read; the rest was listed by the first directory.
    assert found == ["a.html", "link-to-b.html", "sub/.hidden.html"]
    assert count_work_items(list(map(str, inputs))) == 3


def test_listing_is_a_stream_that_holds_a_jsonl_file_open_only_while_it_lists_its_lines(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps({"text": f"line {n}"}) + "\n" for n in range(5)))
    items = discover_paths([str(dump)])
    first = next(items)
    dump.unlink()  # listed from the open file: the lines still come, each to be read (or rejected) later
    assert [item.line.number for item in [first, *items] if item.line] == [1, 2, 3, 4, 5]


LINK_NAMES = ("l1.html", "d/l2.html", "d/e/l3.html", "dl", "d/e/dl2")
LINK_TARGETS = ("a.html", "d/c.html", "d/.x.html", "d/e/f.html", ".h/g.html", "skip/s.html", "d", "missing.html")
ROOTS = (".", "d", "d/e", ".h", "a.html", "d/c.html", "l1.html", "dl", "d/.x.html", "skip/s.html", "d/e/dl2")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.sets(st.sampled_from(("a.html", "b.html", "d/c.html", "d/.x.html", "d/e/f.html", ".h/g.html"))),
    links=st.dictionaries(st.sampled_from(LINK_NAMES), st.sampled_from(LINK_TARGETS)),
    roots=st.lists(st.sampled_from(ROOTS), min_size=1, max_size=4),
)
def test_each_file_is_listed_once_where_a_walk_of_every_input_first_reaches_it(
    files: set[str], links: dict[str, str], roots: list[str]
) -> None:
    """Against the plain way: walk every input, resolve every file, keep a set of them all."""
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory).resolve()
        for name in ("d/e", ".h", "skip"):
            (base / name).mkdir(parents=True)
        for name in (*files, "skip/s.html"):
            (base / name).write_bytes(PAGE)
        for name, target in links.items():
            (base / name).symlink_to(base / target)
        inputs = [str(base / root) for root in roots if os.path.lexists(base / root)]
        if not inputs:
            return
        skip = [base / "skip"]
        expected = plainly_listed(inputs, skip)
        assert [item.location for item in discover_paths(inputs, skip=skip)] == expected
        assert count_work_items(inputs, skip=skip) == len(expected)


def plainly_listed(inputs: list[str], skip: list[Path]) -> list[str]:
    seen = {str(path.resolve()) for path in skip}
    skipped = set(seen)
    listed = []
    for raw in inputs:
        path = Path(raw)
        walked = [path]
        if path.is_dir():
            walked = []
            for parent, subdirectories, names in os.walk(path):
                subdirectories[:] = sorted(
                    name
                    for name in subdirectories
                    if not name.startswith(".") and str((Path(parent) / name).resolve()) not in skipped
                )
                walked.extend(Path(parent) / name for name in sorted(names) if not name.startswith("."))
        for file in walked:
            key = str(file.resolve()) if file.exists() else str(file.parent.resolve() / file.name)
            if key not in seen:
                seen.add(key)
                listed.append(str(file))
    return listed


def test_missing_path_and_empty_glob_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(discover_paths([str(tmp_path / "nope")]))
    with pytest.raises(InputError, match="matches no file"):
        list(discover_paths([str(tmp_path / "*.html")]))


def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_bytes(PAGE)
    os.symlink(tmp_path, tmp_path / "loop")
    assert [Path(item.location).name for item in discover_paths([str(tmp_path)])] == [
        "a.html"
    ]  # a linked directory is not followed


def test_html_file_becomes_a_document(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(PAGE)
    [document] = load(page)
    assert isinstance(document, RawDocument)
    assert document.kind == "html" and document.url == page.resolve().as_uri()
    assert document.encoding == "utf-8" and len(document.doc_id) == 64


def test_gzipped_html(tmp_path: Path) -> None:
    page = tmp_path / "page.html.gz"
    page.write_bytes(gzip.compress(PAGE))
    [document] = load(page)
    assert isinstance(document, RawDocument) and document.content == PAGE


@pytest.mark.parametrize(
    ("name", "content", "rule"),
    [
        ("empty.html", b"", "empty"),
        ("blank.txt", b"  \n\n ", "empty"),
        ("binary.html", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(range(256)), "binary"),
        ("big.html", b"<p>" + b"x" * 200_000, "too-large"),
        ("truncated.html.gz", gzip.compress(PAGE)[:-12], "bad-gzip"),
        ("notgzip.html.gz", b"plain text, not gzip", "bad-gzip"),
        ("bomb.html.gz", gzip.compress(b"a" * 5_000_000), "too-large"),
        ("photo.jpg", b"\xff\xd8\xff", "unsupported-type"),
    ],
)
def test_bad_files_become_rejects(tmp_path: Path, name: str, content: bytes, rule: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    reject = only_reject(path)
    assert reject.rule == rule
    assert reject.input == str(path) and "\n" not in reject.detail and reject.detail


def test_undecodable_text_is_a_reject(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    random_high_bytes = bytes((n * 7919 + 131) % 128 + 128 for n in range(3000))  # no NUL, no valid encoding
    path.write_bytes(random_high_bytes)
    reject = only_reject(path)
    assert (reject.stage, reject.rule) == ("fetch", "undecodable")


def test_unreadable_file_is_a_reject(tmp_path: Path) -> None:
    # A dangling link cannot be read by anyone, root included (CI runs as root, so chmod would not do).
    path = tmp_path / "gone.html"
    path.symlink_to(tmp_path / "deleted.html")
    [item] = discover_paths([str(tmp_path)])
    reject = only_reject(Path(item.location))
    assert reject.rule == "unreadable" and "No such file" in reject.detail


def test_a_file_the_reader_may_not_read_is_an_unreadable_reject() -> None:
    """A real EACCES. Root reads any file whatever its mode (CAP_DAC_OVERRIDE), so when the tests run
    as root (as CI does) the loader runs in a process that has given up root for `nobody` first."""
    # Not under tmp_path: pytest's base directory is root-only, which `nobody` could not even enter.
    directory = Path(tempfile.mkdtemp(prefix="newsdag-denied-"))
    try:
        directory.chmod(0o755)
        page = directory / "locked.html"
        page.write_bytes(PAGE)
        page.chmod(0)
        drop_root = "os.setgid(65534); os.setuid(65534)" if os.geteuid() == 0 else "pass"
        code = (
            "import os, sys\n"
            "from tasks.loaders import load_documents\n"
            "from tasks.models import WorkItem\n"
            f"{drop_root}\n"
            "limits = {'max_file_bytes': 10**6, 'max_decompressed_bytes': 10**6}\n"
            "[reject] = load_documents(WorkItem(location=sys.argv[1]), **limits)\n"
            "print(reject.rule, reject.detail, sep='|')\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(page)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
        )
    finally:
        shutil.rmtree(directory)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "unreadable|cannot read the file: Permission denied"


def test_pipes_sockets_and_devices_named_like_pages_are_rejected_unread(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.html")  # opened for reading, it would block until a writer comes: forever
    (tmp_path / "zero.html").symlink_to("/dev/zero")  # read, it would never end
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "socket.txt"))
    (tmp_path / "page.html").write_bytes(PAGE)
    results: dict[str, list[RawDocument | Reject]] = {}

    def load_all() -> None:
        for item in discover_paths([str(tmp_path)]):
            results[Path(item.location).name] = load(Path(item.location))

    loading = threading.Thread(target=load_all, daemon=True)
    loading.start()
    loading.join(timeout=30)
    listener.close()
    assert not loading.is_alive(), "loading blocked on a non-regular file"
    assert sorted(results) == ["page.html", "pipe.html", "socket.txt", "zero.html"]
    assert isinstance(results["page.html"][0], RawDocument)
    details = {}
    for name in ("pipe.html", "socket.txt", "zero.html"):
        [reject] = results[name]
        assert isinstance(reject, Reject) and (reject.stage, reject.rule) == ("fetch", "not-a-file"), name
        details[name] = reject.detail
    assert details == {
        "pipe.html": "a named pipe, not a regular file; not read",
        "socket.txt": "a socket, not a regular file; not read",
        "zero.html": "a character device, not a regular file; not read",
    }


def test_a_few_stray_nul_bytes_are_text_and_dense_control_bytes_binary(tmp_path: Path) -> None:
    with_stray_nuls = PAGE.replace(b"Hello", b"Hel\0lo", 1) + PAGE * 20 + b"\0"
    stray = tmp_path / "stray.html"
    stray.write_bytes(with_stray_nuls)
    [document] = load(stray)
    assert isinstance(document, RawDocument) and document.encoding == "utf-8"
    dense = tmp_path / "dense.html"
    dense.write_bytes(PAGE + b"\0\x01\x02\x03" * 10)
    assert only_reject(dense).rule == "binary"
    # The same rule when the bytes come from the web (fetching decodes with decode_content too).
    assert decode_content(with_stray_nuls) is not None
    assert decode_content(PAGE + b"\0\x01\x02\x03" * 10) is None


def test_legacy_encoding_is_detected_and_recorded(tmp_path: Path) -> None:
    page = tmp_path / "latin.html"
    page.write_bytes('<html><meta charset="iso-8859-1"><p>Übermäßig schön, déjà vu.</p></html>'.encode("latin-1"))
    [document] = load(page)
    assert isinstance(document, RawDocument)
    assert document.encoding_declared == "iso-8859-1" and document.encoding == "iso-8859-1"


def test_utf8_wins_over_a_wrong_declaration() -> None:
    content = '<meta charset="windows-1252"><p>Zürich – naïve</p>'.encode()
    assert decode_content(content, "windows-1252") == (content.decode(), "utf-8")


def test_jsonl_lines_become_documents_and_bad_lines_rejects(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    lines = [
        json.dumps({"html": PAGE.decode(), "url": "https://example.com/a", "title": "A", "date": "2024-01-02"}),
        json.dumps({"text": "plain text body", "title": "B"}),
        "{not json",
        json.dumps({"url": "https://example.com/no-body"}),
        json.dumps(["a", "list"]),
        "",
    ]
    path.write_text("\n".join(lines))
    results = load(path)
    documents = [r for r in results if isinstance(r, RawDocument)]
    rejects = {r.input.rsplit(":", 1)[1]: r.rule for r in results if isinstance(r, Reject)}
    assert [(d.kind, d.url, d.hints.title) for d in documents] == [
        ("html", "https://example.com/a", "A"),
        ("text", f"{path.resolve().as_uri()}#line=2", "B"),
    ]
    assert documents[0].hints.date == "2024-01-02"
    assert rejects == {"3": "bad-json", "4": "missing-content", "5": "bad-json"}


def test_a_jsonl_file_is_listed_and_read_a_line_at_a_time_like_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    lines = [
        json.dumps({"html": PAGE.decode(), "url": "https://example.com/a"}),
        "   ",
        json.dumps({"text": "plain text body, café", "title": "B"}, ensure_ascii=False) + "\r",
        "{not json",
        json.dumps({"text": "last line, no newline"}),
    ]
    path.write_bytes("\n".join(lines).encode())
    items = list(discover_paths([str(path)]))
    assert [item.line.number for item in items if item.line] == [1, 3, 4, 5] and len(items) == 4
    by_line = [result for item in items for result in load_documents(item, **LIMITS)]
    assert [(type(r).__name__, r.input) for r in by_line] == [(type(r).__name__, r.input) for r in load(path)]
    assert [r.doc_id for r in by_line if isinstance(r, RawDocument)] == [
        r.doc_id for r in load(path) if isinstance(r, RawDocument)
    ]


def test_a_bad_jsonl_line_is_rejected_alone_in_a_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    small = json.dumps({"text": "a short body"})
    large = json.dumps({"text": "word " * 30_000})  # 150 kB: over max_file_bytes, the file as a whole too
    surrogate = '{"text": "half a pair \\ud800 here"}'  # valid JSON, no text
    stray_nul = '{"text": "a stray \x00 byte"}'  # one NUL is no binary file
    path.write_text("\n".join([small, large, surrogate, stray_nul, small]) + "\n")
    items = list(discover_paths([str(path)]))
    results = [result for item in items for result in load_documents(item, **LIMITS)]
    assert [type(r).__name__ for r in results] == ["RawDocument", "Reject", "Reject", "Reject", "RawDocument"]
    assert [(r.input, r.rule) for r in results if isinstance(r, Reject)] == [
        (f"{path}:2", "too-large"),
        (f"{path}:3", "bad-json"),
        (f"{path}:4", "bad-json"),
    ]


def test_jsonl_lines_of_a_file_rewritten_after_listing_are_rejected_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    records = [json.dumps({"text": f"body {letter}"}) for letter in "ABCD"]
    path.write_text("\n".join(records) + "\n")
    items = list(discover_paths([str(path)]))
    path.write_text("\n".join([json.dumps({"text": "body Z"}), *records]) + "\n")  # same-length line first
    results = [result for item in items for result in load_documents(item, **LIMITS)]
    assert [(r.input, r.rule) for r in results if isinstance(r, Reject)] == [
        (f"{path}:{n}", "changed") for n in range(1, 5)
    ]


def test_a_binary_or_empty_jsonl_file_is_one_item_rejected_whole(tmp_path: Path) -> None:
    (tmp_path / "binary.jsonl").write_bytes(b"\x00\x01\n" * 50)
    (tmp_path / "empty.jsonl").write_bytes(b"\n \n")
    items = list(discover_paths([str(tmp_path)]))
    assert [item.line for item in items] == [None, None]
    assert [only_reject(Path(item.location)).rule for item in items] == ["binary", "empty"]


def test_a_utf8_page_with_a_few_broken_bytes_is_read_as_utf8() -> None:
    page = ("<html><head><meta charset='utf-8'></head><body>" + "<p>Zürich café naïve 日本</p>" * 200).encode()
    broken = page[:5000] + b"\xff\xfe" + page[5000:]
    text, encoding = decode_content(broken, declared_charset(broken))
    assert encoding == "utf-8" and text.count("\ufffd") == 2 and "Zürich café naïve 日本" in text


def test_an_undeclared_latin1_page_keeps_its_accents() -> None:
    page = ("<html><body>" + "<p>Der Zürcher Gemeinderat berät über die Straße am Seeufer.</p>" * 50).encode("latin-1")
    text, _encoding = decode_content(page, declared_charset(page))
    assert "Zürcher" in text and "Straße" in text and "\ufffd" not in text
