"""`newsdag eval`: run the production extraction over a dataset of saved pages and write predictions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from newsdag.flows.settings import Settings
from newsdag.tasks import extract_pool, loaders
from newsdag.tasks.errors import InputError
from newsdag.tasks.models import Article, ArticleDate, RawDocument, Reject, WorkItem


def dataset_documents(dataset: Path, settings: Settings) -> Iterator[tuple[str, RawDocument | Reject]]:
    """(page id, document) for every page listed in the dataset's truth.jsonl, read like any local input.

    A record's `url` is where the page was saved from: the document gets it, as a page fetched from there
    would (its host names the site, its path may date the page). Without one the file's own URI stands.
    """
    truth = dataset / "truth.jsonl"
    if not truth.is_file():
        raise InputError("no truth.jsonl here (expected the layout of shared/eval/dev/*)", subject=str(dataset))
    with truth.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            item = WorkItem(location=str(dataset / record["file"]), source="eval")
            for result in loaders.load_documents(
                item,
                max_file_bytes=settings.max_file_bytes,
                max_decompressed_bytes=settings.max_decompressed_bytes,
            ):
                if isinstance(result, RawDocument) and record.get("url"):
                    result = replace(result, url=record["url"])
                yield record["id"], result


def prediction(page_id: str, result: Article | Reject) -> dict[str, str | None]:
    if isinstance(result, Reject):
        return {"id": page_id, "text": None, "title": None, "date": None, "author": None}
    return {
        "id": page_id,
        "text": result.text,
        "title": result.title,
        "date": written_date(result.published) if result.published else None,
        "author": ", ".join(result.authors) or None,
    }


def written_date(published: ArticleDate) -> str:
    """The date as a user reads it from the warehouse: published_local, or only published_date where the
    two name different days (a UTC instant whose day the page's URL corrects, see pagedates.with_url_day)."""
    return published.local if published.local[:10] == published.day.isoformat() else published.day.isoformat()


def evaluate_dataset(dataset: Path, out: Path, settings: Settings) -> int:
    """Write one prediction line per page; returns how many were written."""
    pairs = list(dataset_documents(dataset, settings))
    documents = [doc for _, doc in pairs if isinstance(doc, RawDocument)]
    extracted = iter(
        extract_pool.extract_batch(
            documents,
            workers=settings.workers,
            parallel_min_docs=settings.parallel_min_docs,
            timeout_seconds=settings.extract_timeout_seconds,
        )
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with out.open("w", encoding="utf-8") as handle:
            for page_id, document in pairs:
                result = next(extracted) if isinstance(document, RawDocument) else document
                handle.write(json.dumps(prediction(page_id, result), ensure_ascii=False) + "\n")
    finally:
        extract_pool.shutdown_pools()
    return len(pairs)
