"""Load: Arrow batches -> DuckDB in one transaction per batch (merge on article_id), plus the raw archive.

Over 500 lines on purpose: one batch's Arrow tables, merge statements, run records and archive writes
share one transaction, and this module is the one place that knows its order.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from newsdag.tasks import faults
from newsdag.tasks.gcpause import cyclic_gc_paused
from newsdag.tasks.loaders import archived_path
from newsdag.tasks.models import (
    Article,
    ArticleDate,
    BatchCounts,
    ExpectationResult,
    FetchRecord,
    Flag,
    NotModified,
    RawDocument,
    Reject,
    SiteRights,
    Validators,
    WarcProgress,
    WarcResume,
)
from newsdag.warehouse.db import named_queries
from newsdag.warehouse.keys import ARTICLE, DOCUMENT, URL, KeyIndex, key_of

logger = logging.getLogger("newsdag")
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

ARTICLE_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("doc_id", pa.string()),
        ("input", pa.string()),
        ("url", pa.string()),
        ("canonical_url", pa.string()),
        ("source", pa.string()),
        ("site_name", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("text", pa.string()),
        ("author", pa.string()),
        ("authors", pa.list_(pa.string())),
        ("language", pa.string()),
        ("published_at", UTC_TIMESTAMP),
        ("published_local", pa.string()),
        ("published_date", pa.date32()),
        ("modified_at", UTC_TIMESTAMP),
        ("modified_local", pa.string()),
        ("date_source", pa.string()),
        ("date_precision", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("genre", pa.string()),
        ("word_count", pa.int32()),
        ("text_sha256", pa.string()),
        ("first_seen_run", pa.string()),
        ("last_seen_run", pa.string()),
        ("version", pa.int32()),
        ("updated_at", UTC_TIMESTAMP),
        ("tdm_reserved", pa.bool_()),
        ("tdm_policy", pa.string()),
        ("ai_optout", pa.list_(pa.string())),
        ("license_url", pa.string()),
        ("accessible_for_free", pa.bool_()),
        ("rights_source", pa.string()),
    ]
)

SITE_RIGHTS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("host", pa.string()),
        ("tdmrep_found", pa.bool_()),
        ("tdmrep_rules", pa.string()),
        ("ai_disallowed", pa.list_(pa.string())),
        ("seen_at", UTC_TIMESTAMP),
    ]
)

DOCUMENT_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("url", pa.string()),
        ("input", pa.string()),
        ("final_url", pa.string()),
        ("http_status", pa.int32()),
        ("content_type", pa.string()),
        ("encoding_declared", pa.string()),
        ("encoding_detected", pa.string()),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("bytes", pa.int64()),
        ("fetched_at", UTC_TIMESTAMP),
        ("run_id", pa.string()),
        ("article_id", pa.string()),
        ("article_text_sha256", pa.string()),
        ("file_stamp", pa.string()),
        ("warc_file", pa.string()),
        ("warc_offset", pa.int64()),
        ("warc_record_id", pa.string()),
    ]
)

WARC_FILE_SCHEMA = pa.schema(
    [
        ("warc_file", pa.string()),
        ("next_offset", pa.int64()),
        ("next_skip", pa.int32()),
        ("file_stamp", pa.string()),
        ("finished", pa.bool_()),
        ("documents", pa.int64()),
        ("rejected", pa.int64()),
        ("skipped", pa.int64()),
        ("first_run", pa.string()),
        ("last_run", pa.string()),
        ("updated_at", UTC_TIMESTAMP),
    ]
)

WARC_SKIP_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("warc_file", pa.string()),
        ("reason", pa.string()),
        ("records", pa.int64()),
        ("counted_at", UTC_TIMESTAMP),
    ]
)
WARC_NAME_SCHEMA = pa.schema([("warc_file", pa.string())])

REJECT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("input", pa.string()),
        ("url", pa.string()),
        ("stage", pa.string()),
        ("rule", pa.string()),
        ("detail", pa.string()),
        ("doc_id", pa.string()),
        ("rejected_at", UTC_TIMESTAMP),
    ]
)

FLAG_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("run_id", pa.string()),
        ("doc_id", pa.string()),
        ("rule", pa.string()),
        ("detail", pa.string()),
        ("left_out", pa.string()),
        ("value", pa.string()),
        ("flagged_at", UTC_TIMESTAMP),
    ]
)

KEY_SCHEMA = pa.schema([("doc_id", pa.string()), ("url", pa.string()), ("input", pa.string())])

FETCH_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("url", pa.string()),
        ("host", pa.string()),
        ("outcome", pa.string()),
        ("final_url", pa.string()),
        ("http_status", pa.int32()),
        ("attempts", pa.int32()),
        ("conditional", pa.bool_()),
        ("rule", pa.string()),
        ("doc_id", pa.string()),
        ("seconds", pa.float64()),
        ("fetched_at", UTC_TIMESTAMP),
    ]
)
URL_SCHEMA = pa.schema([("url", pa.string())])
STAMP_SCHEMA = pa.schema([("url", pa.string()), ("file_stamp", pa.string())])


@dataclass(frozen=True)
class RunRecord:
    """The identity of a run as stored in the `runs` table."""

    run_id: str
    trigger: str
    source: str | None
    inputs: tuple[str, ...]
    started_at: datetime
    flow_run_id: str | None = None


def instant(article_date: ArticleDate | None) -> datetime | None:
    """The UTC instant of a date, only when the page gave a time with an offset."""
    if article_date is None or article_date.value is None or article_date.value.tzinfo is None:
        return None
    return article_date.value.astimezone(UTC)


VALIDATION_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("rule", pa.string()),
        ("severity", pa.string()),
        ("batches", pa.int32()),
        ("evaluated", pa.int64()),
        ("unexpected", pa.int64()),
    ]
)


def repeated(values: dict[str, Any], rows: int, schema: pa.Schema) -> dict[str, pa.Array]:
    """Columns of one value each, made in Arrow: converting a list of the same datetime row by row
    costs ~0.4 us a row (bench/load_rate.py)."""
    return {name: pa.repeat(pa.scalar(value, schema.field(name).type), rows) for name, value in values.items()}


def articles_table(articles: Sequence[Article], run_id: str, now: datetime) -> pa.Table:
    """Articles as an Arrow table in the `articles` column layout (last one wins per article_id).

    Built column by column: a dict per row costs twice as much in pyarrow at batch sizes.
    """
    unique = list({article.article_id: article for article in articles}.values())
    published = [article.published for article in unique]
    modified = [article.modified for article in unique]
    columns: dict[str, list[Any]] = {
        "article_id": [article.article_id for article in unique],
        "doc_id": [article.doc_id for article in unique],
        "input": [article.input for article in unique],
        "url": [article.url for article in unique],
        "canonical_url": [article.canonical_url for article in unique],
        "source": [article.source for article in unique],
        "site_name": [article.site_name for article in unique],
        "title": [article.title for article in unique],
        "description": [article.description for article in unique],
        "text": [article.text for article in unique],
        "author": [", ".join(article.authors) or None for article in unique],
        "authors": [article.authors for article in unique],
        "language": [article.language for article in unique],
        "published_at": [instant(date) for date in published],
        "published_local": [date.local if date else None for date in published],
        "published_date": [date.day if date else None for date in published],
        "modified_at": [instant(date) for date in modified],
        "modified_local": [date.local if date else None for date in modified],
        "date_source": [date.source if date else None for date in published],
        "date_precision": [date.precision if date else None for date in published],
        "tags": [article.tags for article in unique],
        "genre": [article.genre for article in unique],
        "word_count": [article.word_count for article in unique],
        "text_sha256": [article.text_sha256 for article in unique],
        "tdm_reserved": [article.rights.tdm_reserved for article in unique],
        "tdm_policy": [article.rights.tdm_policy for article in unique],
        "ai_optout": [article.rights.ai_optout for article in unique],
        "license_url": [article.rights.license_url for article in unique],
        "accessible_for_free": [article.rights.accessible_for_free for article in unique],
        "rights_source": [article.rights.rights_source for article in unique],
    }
    constants = {"first_seen_run": run_id, "last_seen_run": run_id, "version": 1, "updated_at": now}
    return pa.Table.from_pydict(columns | repeated(constants, len(unique), ARTICLE_SCHEMA), schema=ARTICLE_SCHEMA)


def documents_table(documents: Sequence[RawDocument], articles: Sequence[Article], run_id: str) -> pa.Table:
    """Documents as an Arrow table, each with the article (and text) it produced, if any; built by columns."""
    produced = {(article.doc_id, article.input): article for article in articles}
    unique = list({(d.doc_id, d.url): d for d in documents}.values())
    made = [produced.get((document.doc_id, document.input)) for document in unique]
    columns: dict[str, list[Any]] = {
        "doc_id": [document.doc_id for document in unique],
        "url": [document.url for document in unique],
        "input": [document.input for document in unique],
        "final_url": [document.final_url for document in unique],
        "http_status": [document.http_status for document in unique],
        "content_type": [document.content_type for document in unique],
        "encoding_declared": [document.encoding_declared for document in unique],
        "encoding_detected": [document.encoding for document in unique],
        "etag": [document.etag for document in unique],
        "last_modified": [document.last_modified for document in unique],
        "bytes": [document.size for document in unique],
        "fetched_at": [document.fetched_at for document in unique],
        "article_id": [article.article_id if article else None for article in made],
        "article_text_sha256": [article.text_sha256 if article else None for article in made],
        "file_stamp": [document.file_stamp for document in unique],
        "warc_file": [document.warc.file if document.warc else None for document in unique],
        "warc_offset": [document.warc.offset if document.warc else None for document in unique],
        "warc_record_id": [document.warc.record_id if document.warc else None for document in unique],
    }
    return pa.Table.from_pydict(
        columns | repeated({"run_id": run_id}, len(unique), DOCUMENT_SCHEMA), schema=DOCUMENT_SCHEMA
    )


def rejects_table(rejects: Sequence[Reject], run_id: str, now: datetime) -> pa.Table:
    rows = [
        {
            "run_id": run_id,
            "input": reject.input,
            "url": reject.url,
            "stage": reject.stage,
            "rule": reject.rule,
            "detail": reject.detail,
            "doc_id": reject.doc_id,
            "rejected_at": now,
        }
        for reject in rejects
    ]
    return pa.Table.from_pylist(rows, schema=REJECT_SCHEMA)


def flags_table(flags: Sequence[Flag], run_id: str, now: datetime) -> pa.Table:
    """Flags as an Arrow table in the `article_flags` column layout, built by columns."""
    columns: dict[str, list[Any]] = {
        "article_id": [flag.article_id for flag in flags],
        "doc_id": [flag.doc_id for flag in flags],
        "rule": [flag.rule for flag in flags],
        "detail": [flag.detail for flag in flags],
        "left_out": [flag.left_out for flag in flags],
        "value": [flag.value for flag in flags],
    }
    constants = {"run_id": run_id, "flagged_at": now}
    return pa.Table.from_pydict(columns | repeated(constants, len(flags), FLAG_SCHEMA), schema=FLAG_SCHEMA)


def validation_table(results: Sequence[ExpectationResult], run_id: str) -> pa.Table:
    """A batch's expectation counts in the `validation_results` layout (one batch each)."""
    rows = [
        {
            "run_id": run_id,
            "rule": result.rule,
            "severity": result.severity,
            "batches": 1,
            "evaluated": result.evaluated,
            "unexpected": result.unexpected,
        }
        for result in results
    ]
    return pa.Table.from_pylist(rows, schema=VALIDATION_SCHEMA)


def site_rights_table(sites: Sequence[SiteRights], run_id: str, now: datetime) -> pa.Table:
    """Hosts' site-wide declarations as an Arrow table in the `site_rights` column layout."""
    columns: dict[str, list[Any]] = {
        "host": [site.host for site in sites],
        "tdmrep_found": [site.tdmrep_found for site in sites],
        "tdmrep_rules": [site.tdmrep_rules for site in sites],
        "ai_disallowed": [site.ai_disallowed for site in sites],
    }
    constants = {"run_id": run_id, "seen_at": now}
    return pa.Table.from_pydict(
        columns | repeated(constants, len(sites), SITE_RIGHTS_SCHEMA), schema=SITE_RIGHTS_SCHEMA
    )


def warc_files_table(progress: Sequence[WarcProgress], run_id: str, now: datetime) -> pa.Table:
    """Each WARC file's resume point and counts after a batch, in the `warc_files` layout (one row a file)."""
    columns: dict[str, list[Any]] = {
        "warc_file": [item.file for item in progress],
        "next_offset": [item.offset for item in progress],
        "next_skip": [item.skip for item in progress],
        "file_stamp": [item.stamp for item in progress],
        "finished": [item.ended for item in progress],
        "documents": [item.documents for item in progress],
        "rejected": [item.rejected for item in progress],
        "skipped": [sum(count for _, count in item.skipped) for item in progress],
    }
    constants = {"first_run": run_id, "last_run": run_id, "updated_at": now}
    return pa.Table.from_pydict(columns | repeated(constants, len(progress), WARC_FILE_SCHEMA), schema=WARC_FILE_SCHEMA)


def warc_skips_table(progress: Sequence[WarcProgress], run_id: str, now: datetime) -> pa.Table:
    rows = [
        {"run_id": run_id, "warc_file": item.file, "reason": reason, "records": count, "counted_at": now}
        for item in progress
        for reason, count in item.skipped
    ]
    return pa.Table.from_pylist(rows, schema=WARC_SKIP_SCHEMA)


def find_warc_resume(connection: duckdb.DuckDBPyConnection, files: Sequence[str]) -> dict[str, WarcResume]:
    """The resume points the warehouse holds for these WARC files (by resolved path or URL)."""
    names = pa.Table.from_pylist([{"warc_file": name} for name in files], schema=WARC_NAME_SCHEMA)
    connection.register("batch_warc_names", names)
    try:
        rows = connection.execute(named_queries()["warc_resume_points"]).fetchall()
    finally:
        connection.unregister("batch_warc_names")
    return {name: WarcResume(offset, skip, stamp, finished) for name, offset, skip, stamp, finished in rows}


def fetches_table(records: Sequence[FetchRecord], run_id: str) -> pa.Table:
    rows = [
        {
            "run_id": run_id,
            "url": record.url,
            "host": urlsplit(record.url).netloc.lower(),
            "outcome": record.outcome,
            "final_url": record.final_url,
            "http_status": record.http_status,
            "attempts": record.attempts,
            "conditional": record.conditional,
            "rule": record.rule,
            "doc_id": record.doc_id,
            "seconds": record.seconds,
            "fetched_at": record.fetched_at,
        }
        for record in records
    ]
    return pa.Table.from_pylist(rows, schema=FETCH_SCHEMA)


def find_validators(
    connection: duckdb.DuckDBPyConnection, urls: Sequence[str], keys: KeyIndex | None = None
) -> dict[str, Validators]:
    """Per URL, the ETag/Last-Modified of its latest document that is still its article's text.

    Only those: a 304 then means "still that article", so the URL needs neither download nor extraction.
    With the key index, only URLs it may hold are looked up (none: no query).
    """
    urls = held_values(connection, keys, URL, urls)
    if not urls:
        return {}
    connection.register("batch_urls", pa.Table.from_pylist([{"url": url} for url in urls], schema=URL_SCHEMA))
    try:
        rows = connection.execute(named_queries()["url_validators"]).fetchall()
    finally:
        connection.unregister("batch_urls")
    return {url: Validators(doc_id, etag, last_modified) for url, doc_id, etag, last_modified in rows}


def find_unchanged_files(
    connection: duckdb.DuckDBPyConnection, stamps: dict[str, str], keys: KeyIndex | None = None
) -> dict[str, str]:
    """Of files by URI with their current stamp: the doc_id of those whose latest document has that
    stamp and is still its article's text (they need no reading). With the key index, only files whose
    URI it may hold are looked up (none: no query)."""
    known = set(held_values(connection, keys, URL, list(stamps)))
    stamps = {url: stamp for url, stamp in stamps.items() if url in known}
    if not stamps:
        return {}
    rows = [{"url": url, "file_stamp": stamp} for url, stamp in stamps.items()]
    connection.register("batch_stamps", pa.Table.from_pylist(rows, schema=STAMP_SCHEMA))
    try:
        return dict(connection.execute(named_queries()["unchanged_files"]).fetchall())
    finally:
        connection.unregister("batch_stamps")


def keys_table(documents: Sequence[RawDocument | NotModified]) -> pa.Table:
    rows = [{"doc_id": d.doc_id, "url": d.url, "input": d.input} for d in documents]
    return pa.Table.from_pylist(rows, schema=KEY_SCHEMA)


@dataclass(frozen=True)
class SeenDocuments:
    """What earlier runs made of a batch's documents, by identical bytes from the same place.

    `loaded`: (doc_id, url) already loaded as an article; `rejects`: earlier extract/validate
    rejects of (doc_id, input), repeated for this run instead of extracting again.
    """

    loaded: frozenset[tuple[str, str]]
    rejects: dict[tuple[str, str], Reject]


def find_seen(
    connection: duckdb.DuckDBPyConnection, documents: Sequence[RawDocument], keys: KeyIndex | None = None
) -> SeenDocuments:
    """One look-up per batch: which documents need no extraction, and why. With the key index, only
    documents whose bytes it may hold are looked up (none: no query)."""
    known = set(held_values(connection, keys, DOCUMENT, [document.doc_id for document in documents]))
    documents = [document for document in documents if document.doc_id in known]
    if not documents:
        return SeenDocuments(loaded=frozenset(), rejects={})
    queries = named_queries()
    connection.register("batch_keys", keys_table(documents))
    try:
        loaded = frozenset((doc_id, url) for doc_id, url in connection.execute(queries["known_documents"]).fetchall())
        rows = connection.execute(queries["known_rejects"]).fetchall()
    finally:
        connection.unregister("batch_keys")
    rejects = {
        (doc_id, input_name): Reject(input_name, stage, rule, detail, doc_id, url)
        for doc_id, input_name, stage, rule, detail, url in rows
    }
    return SeenDocuments(loaded=loaded, rejects=rejects)


@dataclass(frozen=True)
class KeyGate:
    """The warehouse's record of its key index (table key_gate, warehouse/keys.py): the random id and the
    generation of the last batch written with it, and the articles and documents rows that batch left
    (None: no index built yet)."""

    gate_id: str
    generation: int
    articles: int | None
    documents: int | None


def key_gate(connection: duckdb.DuckDBPyConnection) -> KeyGate:
    gate_id, generation, articles, documents = connection.execute(named_queries()["key_gate"]).fetchall()[0]
    return KeyGate(gate_id, generation, articles, documents)


def covers(index: KeyIndex, gate: KeyGate) -> bool:
    """Whether the index holds every key up to the warehouse's last indexed write: it holds that very write
    (it may hold a later one: its keys are added before the warehouse commits, which may then fail)."""
    return gate.articles is not None and index.holds_write(gate.gate_id, gate.generation)


def held_values(
    connection: duckdb.DuckDBPyConnection, keys: KeyIndex | None, family: str, values: Sequence[str]
) -> list[str]:
    """The values (of one key family) the warehouse may hold: all of them without a key index that covers
    the warehouse, else those the index holds. For a look-up outside the write transaction (the gather
    step): another writer's rows the index lacks only cost a needless read or extraction there, which the
    write's own checks then catch."""
    if keys is None or not values or not covers(keys, key_gate(connection)):
        return list(values)
    by_key = {key_of(family, value): value for value in values}
    return [by_key[key] for key in keys.held(by_key.keys())]


def writable_gate(connection: duckdb.DuckDBPyConnection, keys: KeyIndex) -> KeyGate:
    """The key gate of a write transaction, the index rebuilt first if it may lack a stored key: missing,
    stale, built for another file, or rows added by a writer without it (the stored counts moved)."""
    gate = key_gate(connection)
    articles, documents = connection.execute(named_queries()["stored_counts"]).fetchall()[0]
    if covers(keys, gate) and (gate.articles, gate.documents) == (articles, documents):
        return gate
    logger.info("building the warehouse's key index %s (%d articles, %d documents)", keys.path, articles, documents)
    reader = connection.sql(named_queries()["stored_keys"]).to_arrow_reader()
    keys.replace((batch.column(0).to_numpy() for batch in reader), gate.gate_id, gate.generation)
    return KeyGate(gate.gate_id, gate.generation, articles, documents)


def batch_keys(
    articles: pa.Table, documents: pa.Table, rejects: Sequence[Reject]
) -> tuple[set[int], set[int], set[int]]:
    """(article, document, URL) keys of a batch's rows, as the key index holds them."""
    article_keys = {key_of(ARTICLE, article_id) for article_id in articles.column("article_id").to_pylist()}
    doc_ids = documents.column("doc_id").to_pylist() + [reject.doc_id for reject in rejects if reject.doc_id]
    url_keys = {key_of(URL, url) for url in documents.column("url").to_pylist()}
    return article_keys, {key_of(DOCUMENT, doc_id) for doc_id in doc_ids}, url_keys


# DuckDB threads for a batch's write. One thread inserts a batch's Arrow rows in half the time two do
# (10k articles: 32 ms instead of 60, the COMMIT then 10 ms longer; bench/load_rate.py, 2 cores), and
# during an ingest the extraction workers keep every core busy anyway.
WRITE_THREADS = 1


def write_batch(
    connection: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    documents: Sequence[RawDocument],
    articles: Sequence[Article],
    rejects: Sequence[Reject],
    flags: Sequence[Flag] = (),
    unchanged: Sequence[RawDocument | NotModified] = (),
    not_modified: Sequence[NotModified] = (),
    fetches: Sequence[FetchRecord] = (),
    site_rights: Sequence[SiteRights] = (),
    warc: Sequence[WarcProgress] = (),
    validation: Sequence[ExpectationResult] = (),
    now: datetime | None = None,
    keys: KeyIndex | None = None,
) -> BatchCounts:
    """Merge one batch in a single transaction: all of it lands, or (on any error) none of it.

    `flags` are the doubtful values of `articles` (validation's warnings): they replace the flags earlier
    runs recorded against those articles. `unchanged` documents and `not_modified` URLs keep their article
    (and its flags), which is marked seen by this run. `validation` (what each expectation found in the
    batch) adds to the run's `validation_results`.

    With the key index (`keys`), the look-ups of stored articles and documents run only when the index
    may hold one of the batch's (a batch of new pages reads no stored row), and the batch's keys are added
    to it before the transaction commits. Without it, the warehouse's key_gate is left as it was, so the
    next write with the index finds the rows it lacks (the counts moved) and builds it again.

    `warc` is where reading each WARC file of the batch resumes after it: committed with the batch, so a
    killed run neither reads a record twice nor loses one.
    """
    now = now or datetime.now(UTC)
    queries = named_queries()
    with cyclic_gc_paused():
        relations = {
            "batch_articles": articles_table(articles, run_id, now),
            "batch_flags": flags_table(flags, run_id, now),
            "batch_documents": documents_table(documents, articles, run_id),
            "batch_rejects": rejects_table(rejects, run_id, now),
            "batch_keys": keys_table([*unchanged, *not_modified]),
            "batch_fetches": fetches_table(fetches, run_id),
            "batch_site_rights": site_rights_table(site_rights, run_id, now),
            "batch_warc_files": warc_files_table(warc, run_id, now),
            "batch_warc_skips": warc_skips_table(warc, run_id, now),
            "batch_validation": validation_table(validation, run_id),
        }
    for name, table in relations.items():
        connection.register(name, table)
    connection.execute(f"SET threads = {WRITE_THREADS}")
    try:
        connection.execute("BEGIN TRANSACTION")
        gate = writable_gate(connection, keys) if keys is not None else None
        stored = relations["batch_articles"], relations["batch_documents"]
        article_keys, doc_keys, url_keys = batch_keys(*stored, rejects)
        held = keys.held(article_keys | doc_keys) if keys is not None else None
        if held is None or held & article_keys:
            new, changed, same = connection.execute(queries["classify_articles"]).fetchall()[0]
        else:  # none of the batch's articles is stored
            new, changed, same = relations["batch_articles"].num_rows, 0, 0
        if changed or same:
            connection.execute(queries["keep_old_versions"])
            connection.execute(queries["stage_replaced_articles"])
            connection.execute(queries["replace_articles"])
            connection.execute(queries["touch_seen_articles"])
        # An insert checks the table for what is stored only when some of the batch is: that check scans
        # the whole table, the most of a batch's write in a large warehouse.
        if new:
            connection.execute(queries["insert_articles" if changed or same else "insert_all_articles"])
        if changed or same:  # only stored articles can have flags already
            connection.execute(queries["forget_flags"])
        if flags:
            connection.execute(queries["insert_flags"])
        seen_documents = 0
        if held is None or held & doc_keys:
            seen_documents = connection.execute(queries["update_seen_documents"]).fetchall()[0][0]
        new_documents = relations["batch_documents"].num_rows - seen_documents
        if new_documents:
            connection.execute(queries["insert_new_documents" if seen_documents else "insert_all_documents"])
        connection.execute(queries["insert_rejects"])
        connection.execute(queries["insert_fetches"])
        if site_rights:
            connection.execute(queries["insert_site_rights"])
        if warc:
            connection.execute(queries["save_warc_progress"])
            connection.execute(queries["insert_warc_skips"])
        if validation:
            connection.execute(queries["add_validation_results"])
        if unchanged or not_modified:
            connection.execute(queries["touch_unchanged"], {"run_id": run_id})
        if keys is not None and gate is not None:
            # The index first: if the commit below fails, it only holds keys the warehouse does not.
            # A new id each write: the index of a copy of this warehouse written on its own never passes for this one's.
            write_id = str(uuid.uuid4())
            keys.add(article_keys | doc_keys | url_keys, write_id, gate.generation + 1)
            counts = {"articles": (gate.articles or 0) + new, "documents": (gate.documents or 0) + new_documents}
            connection.execute(
                queries["set_key_gate"], {"gate_id": write_id, "generation": gate.generation + 1, **counts}
            )
        faults.commit(connection)
        faults.fault_point("load-committed")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.execute("RESET threads")
        for name in relations:
            connection.unregister(name)
    return BatchCounts(
        loaded=int(new or 0),
        updated=int(changed or 0),
        unchanged=int(same or 0) + len(unchanged),
        rejected=len(rejects),
        flagged=len({flag.article_id for flag in flags}),
        flags_by_rule=dict(Counter(flag.rule for flag in flags)),
    )


# A process's start time read twice can differ by this much (the kernel's boot time moves with clock steps).
PROCESS_START_TOLERANCE = timedelta(seconds=1)
# A temp file in the archive this old is left by a killed run (writing one takes milliseconds).
STALE_PARTIAL_SECONDS = 3600


def process_started_at(pid: int) -> datetime | None:
    """When process `pid` started (Linux: boot time + its start in clock ticks, from /proc); None if unknown."""
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        ticks = int(after_name[19])  # field 22 of proc(5)'s stat; the name (field 2) may hold spaces
        return datetime.fromtimestamp(int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK"), UTC)
    except (OSError, StopIteration, IndexError, ValueError):
        return None


# proc(5) states of a process that has ended: a zombie (its parent has not collected its exit status yet,
# as when a loaded machine's `serve` is slow to reap a killed flow run) and dead.
DEAD_STATES = frozenset({"Z", "X", "x"})


def process_state(pid: int) -> str | None:
    """The one-letter state of process `pid` (Linux /proc; R, S, D, Z, ...); None if unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def process_is_alive(host: str | None, pid: int | None, started_at: datetime | None = None) -> bool:
    """Whether a run's process still exists: its pid does, is not a zombie (ended, not yet reaped), and (when
    known) started when the run's did, so a later process that got the same pid does not keep a dead run
    alive. A run from another host is assumed alive."""
    if host != socket.gethostname() or pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if process_state(pid) in DEAD_STATES:  # killed, not yet reaped by its parent: it runs no more code
        return False
    current = process_started_at(pid)
    return started_at is None or current is None or abs(current - started_at) <= PROCESS_START_TOLERANCE


def mark_crashed_runs(connection: duckdb.DuckDBPyConnection, found_by: str, now: datetime) -> list[str]:
    """Runs left 'running' by a process that no longer exists are marked crashed; their ids."""
    queries = named_queries()
    crashed = [
        run_id
        for run_id, host, pid, started_at in connection.execute(queries["running_runs"]).fetchall()
        if run_id != found_by and not process_is_alive(host, pid, started_at)
    ]
    for run_id in crashed:
        connection.execute(queries["mark_crashed"], {"run_id": run_id, "found_at": now, "found_by": found_by})
    return crashed


def start_run(connection: duckdb.DuckDBPyConnection, run: RunRecord) -> None:
    """Record a run as running, after marking runs that a crash left 'running' as crashed."""
    queries = named_queries()
    mark_crashed_runs(connection, run.run_id, run.started_at)
    connection.execute(
        queries["start_run"],
        {
            "run_id": run.run_id,
            "flow_run_id": run.flow_run_id,
            "trigger": run.trigger,
            "source": run.source,
            "inputs": list(run.inputs),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "process_started_at": process_started_at(os.getpid()),
            "started_at": run.started_at,
        },
    )


def finish_run(
    connection: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    status: str,
    counts: dict[str, int],
    error: str | None,
) -> None:
    connection.execute(
        named_queries()["finish_run"],
        {"run_id": run_id, "finished_at": datetime.now(UTC), "status": status, "error": error, **counts},
    )


def remove_stale_partials(archive_dir: Path, now: float | None = None) -> int:
    """Delete temp files a killed run left in the archive (older than STALE_PARTIAL_SECONDS); how many.

    Younger ones may belong to a run writing right now, so they stay.
    """
    cutoff = (now if now is not None else time.time()) - STALE_PARTIAL_SECONDS
    removed = 0
    for partial in archive_dir.glob("*/.partial-*"):
        try:
            if partial.stat().st_mtime < cutoff:
                partial.unlink()
                removed += 1
        except FileNotFoundError:  # another run removed it first
            continue
    return removed


def archive_documents(documents: Sequence[RawDocument], archive_dir: Path) -> list[str]:
    """Keep each document's bytes under archive_dir/<2 hex>/<sha256>, written atomically; the ids of the
    documents whose bytes were not there before.

    The name is the content hash, never anything from the URL or path, so input cannot
    choose where a file lands; a crash leaves at most a temp file, never a half archive entry.
    A record of a WARC file is not copied: the file holds it, and documents.warc_* say where.
    """
    written = []
    for document in documents:
        if document.warc is not None:
            continue
        target = archived_path(archive_dir, document.doc_id)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as temp_file:
                temp_file.write(document.content)
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        written.append(document.doc_id)
    return written


def unarchive_documents(doc_ids: Iterable[str], archive_dir: Path) -> None:
    """Drop these documents' bytes from the archive (a page whose rights reserve its text, see write_prepared)."""
    for doc_id in doc_ids:
        archived_path(archive_dir, doc_id).unlink(missing_ok=True)
