"""Export: the raw pages of runs as WARC files, response records gzipped one by one, as archivists read them."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser
from warcio.warcwriter import WARCWriter

from newsdag.tasks import warc
from newsdag.tasks.errors import ConfigError
from newsdag.tasks.fetch import Fetcher, FetchPolicy
from newsdag.tasks.models import WarcOrigin, WarcRules
from newsdag.warehouse.db import named_queries

HTTP_VERSIONS = ["HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0"]
STATUS_REASONS = {200: "OK"}
# A page re-read from its WARC file is not judged again: the export copies what the file holds.
ANY_RECORD = WarcRules(max_record_bytes=2**62, max_decompressed_bytes=2**62)


@dataclass(frozen=True)
class WarcExport:
    """What an export wrote: one file per run, how many records, and the pages whose bytes are gone (an
    archive pruned by hand, a WARC file moved or changed since it was read)."""

    files: tuple[Path, ...]
    records: int
    missing: int


def export_warc(
    connection: duckdb.DuckDBPyConnection,
    target: Path,
    *,
    runs: Sequence[str] = (),
    archive_dir: Path,
    fetch_policy: FetchPolicy,
) -> WarcExport:
    """Write the HTML pages each of `runs` recorded (every run when empty) to `target`/newsdag-RUN.warc.gz.

    A page read from a WARC file is its original record again (its HTTP headers and body as stored there,
    its WARC-Date and URI); any other page is a response record with the HTTP headers newsdag kept (status,
    Content-Type with the charset it was read in, ETag, Last-Modified) and its bytes from the archive.
    Each file is written under a temporary name and renamed when complete. ConfigError names a run that
    does not exist.
    """
    queries = named_queries("warc_export.sql")
    found = [row[0] for row in connection.execute(queries["export_runs"], {"runs": list(runs)}).fetchall()]
    if missing_runs := sorted(set(runs) - set(found)):
        raise ConfigError(f"no such run: {', '.join(missing_runs)} (newsdag runs lists them)", subject="--run")
    target.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    records = missing = 0
    fetcher: Fetcher | None = None
    try:
        for run_id in found:
            rows = connection.execute(queries["export_documents"], {"run_id": run_id}).fetchall()
            if not rows:
                continue
            path = target / f"newsdag-{run_id}.warc.gz"
            temporary = target / f".{path.name}.tmp"
            with temporary.open("wb") as handle:
                writer = WARCWriter(handle, gzip=True)
                for row in rows:
                    if row[8] is not None and "://" in row[8] and fetcher is None:
                        fetcher = Fetcher(fetch_policy)
                    record = page_record(writer, row, archive_dir, fetcher)
                    if record is None:
                        missing += 1
                        continue
                    writer.write_record(record)
                    records += 1
            os.replace(temporary, path)
            files.append(path)
    finally:
        if fetcher is not None:
            fetcher.close()
    return WarcExport(tuple(files), records, missing)


def page_record(writer: WARCWriter, row: tuple, archive_dir: Path, fetcher: Fetcher | None) -> object | None:
    """The response record of one documents row, or None when its bytes are gone."""
    doc_id, url, status, content_type, encoding, etag, last_modified, fetched_at = row[:8]
    warc_file, warc_offset, record_id = row[8:]
    date = warc_date(fetched_at)
    if warc_file is not None:
        archive = warc.RemoteArchive(warc_file, fetcher) if "://" in warc_file and fetcher else None
        archive = archive or warc.LocalArchive(Path(warc_file))
        block = warc.read_record_block(archive, WarcOrigin(warc_file, warc_offset, record_id))
        if block is None:
            return None
        stream = io.BytesIO(block)
        http_headers = StatusAndHeadersParser(HTTP_VERSIONS, verify=False).parse(stream)
        body = stream.read()
    else:
        path = archive_dir / doc_id[:2] / doc_id
        try:
            body = path.read_bytes()
        except OSError:
            return None
        fields = [("Content-Type", f"{content_type or 'text/html'}" + (f"; charset={encoding}" if encoding else ""))]
        fields += [("Content-Length", str(len(body)))]
        fields += [(name, value) for name, value in (("ETag", etag), ("Last-Modified", last_modified)) if value]
        code = status or 200
        http_headers = StatusAndHeaders(f"{code} {STATUS_REASONS.get(code, '')}".strip(), fields, protocol="HTTP/1.1")
    return writer.create_warc_record(
        url, "response", payload=io.BytesIO(body), http_headers=http_headers, warc_headers_dict={"WARC-Date": date}
    )


def warc_date(moment: datetime | None) -> str:
    """WARC-Date: UTC, to the second (WARC/1.0's form, which every reader takes)."""
    value = (moment or datetime.now(UTC)).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
