"""Pair precision/recall of copies (exact + near duplicates), events and stories on a labelled set.

Run: .venv/bin/python bench/stories_eval.py [DEV_DIR] [VARIANT_PAGES] [--same-day]
--same-day writes every dev page as a text dump dated 2022-01-07 (the seeds' day), so the time window
separates nothing and precision rests on similarity alone.
The set: the two seeds (one story); the fundus dev pages (each its own story, many days and sites); for
the first VARIANT_PAGES dev pages with a date, three text-dump variants: a syndicated copy under another
URL, a second syndicated copy (exact duplicate of the first), and an edited copy (new headline, last
sentence dropped, a sentence added). A page and its variants are one event (and story) and mutually copies.
Everything is ingested with the production run into a temporary DuckDB file.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from pathlib import Path

from newsdag.flows.run import run_ingest
from newsdag.flows.settings import Settings
from newsdag.tasks import extract, loaders
from newsdag.tasks.models import Article, IngestRequest, WorkItem
from newsdag.warehouse.db import connect

PROJECT = Path(__file__).resolve().parent.parent
DEV = Path("/work/shared/eval/dev/fundus")


def dump(url: str, day: str, title: str, body: str) -> str:
    return f" date {day} {url}\n\n{title}\n\n{' '.join(body.split())}\n"


def build(directory: Path, dev: Path, variant_pages: int, same_day: str | None = None) -> dict[str, str]:
    """Write the inputs; return input path -> group label."""
    labels: dict[str, str] = {}
    for seed in sorted((PROJECT / "seeds" / "articles").glob("*.txt")):
        target = directory / seed.name
        target.write_bytes(seed.read_bytes())
        labels[str(target)] = "seeds"
    made = 0
    for path in sorted((dev / "pages").glob("*.html.gz")):
        target = directory / path.name
        target.write_bytes(path.read_bytes())
        labels[str(target)] = path.name
        if made >= variant_pages:
            continue
        if same_day:  # every page as a dump of the seeds' day: only similarity keeps stories apart
            [document] = list(
                loaders.load_documents(WorkItem(str(target)), max_file_bytes=1 << 24, max_decompressed_bytes=1 << 26)
            )
            page = extract.extract_document(document)
            target.unlink()
            if isinstance(page, Article):
                target = directory / f"{path.name}.txt"
                target.write_text(dump(page.url, same_day, page.title or "", page.text), encoding="utf-8")
                labels[str(target)] = path.name
            labels.pop(str(directory / path.name), None)
        [document] = list(
            loaders.load_documents(WorkItem(str(target)), max_file_bytes=1 << 24, max_decompressed_bytes=1 << 26)
        )
        article = extract.extract_document(document)
        if not isinstance(article, Article) or article.published is None or not article.title:
            continue
        made += 1
        day, sentences = same_day or article.published.day.isoformat(), article.text.split(". ")
        for name, url, title, body in (
            ("syndicated", f"https://wire.example.com/{made}", article.title, article.text),
            ("syndicated2", f"https://m.partner.example.org/{made}?utm_source=feed", article.title, article.text),
            (
                "edited",
                f"https://edited.example.net/{made}",
                "Update: " + article.title,
                ". ".join(sentences[:-1]) + ". Further details were not immediately available.",
            ),
        ):
            variant = directory / f"{path.name}.{name}.txt"
            variant.write_text(dump(url, day, title, body), encoding="utf-8")
            labels[str(variant)] = path.name
    return labels


def pairs(groups: dict[str, str]) -> set[frozenset[str]]:
    by_group: dict[str, list[str]] = {}
    for key, group in groups.items():
        by_group.setdefault(group, []).append(key)
    return {frozenset(p) for members in by_group.values() for p in itertools.combinations(sorted(members), 2)}


def score(predicted: set[frozenset[str]], truth: set[frozenset[str]]) -> tuple[float, float, int, int]:
    hits = len(predicted & truth)
    return hits / max(len(predicted), 1), hits / max(len(truth), 1), len(predicted), len(truth)


def main(dev: Path, variant_pages: int, same_day: str | None) -> None:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name) / "inputs"
        directory.mkdir()
        labels = build(directory, dev, variant_pages, same_day)
        db = Path(name) / "eval.duckdb"
        run_ingest(IngestRequest.from_inputs([str(directory)]), Settings.from_env(db_path=db))
        with connect(db, read_only=True) as con:
            rows = con.execute(
                "SELECT a.input, a.article_id, coalesce(a.duplicate_of, a.article_id), sa.story_id, ea.event_id "
                "FROM articles a JOIN story_articles sa USING (article_id) JOIN event_articles ea USING (article_id)"
            ).fetchall()
            near = con.execute("SELECT article_id, other_id FROM near_duplicates").fetchall()
    by_input = {row[0]: row for row in rows if row[0] in labels}
    ids = {row[1]: row[0] for row in by_input.values()}
    truth_groups = {key: labels[key] for key in by_input}
    # Copies: a page and its variants (the seeds are two reports, not copies).
    copy_truth = pairs({k: g for k, g in truth_groups.items() if g != "seeds"})
    copy_pred = pairs({k: row[2] for k, row in by_input.items()})
    copy_pred |= {frozenset((ids[a], ids[b])) for a, b in near if a in ids and b in ids}
    story_truth = pairs(truth_groups)
    story_pred = pairs({k: row[3] for k, row in by_input.items()})
    event_pred = pairs({k: row[4] for k, row in by_input.items()})
    result = {
        "articles": len(by_input),
        "inputs": len(labels),
        "copies": dict(zip(("precision", "recall", "predicted", "true"), score(copy_pred, copy_truth), strict=True)),
        "events": dict(zip(("precision", "recall", "predicted", "true"), score(event_pred, story_truth), strict=True)),
        "stories": dict(zip(("precision", "recall", "predicted", "true"), score(story_pred, story_truth), strict=True)),
        "seeds_one_story": len({row[3] for k, row in by_input.items() if labels[k] == "seeds"}) == 1,
        "seeds_one_event": len({row[4] for k, row in by_input.items() if labels[k] == "seeds"}) == 1,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    arguments = [arg for arg in sys.argv[1:] if arg != "--same-day"]
    main(
        Path(arguments[0]) if arguments else DEV,
        int(arguments[1]) if len(arguments) > 1 else 40,
        "2022-01-07" if "--same-day" in sys.argv else None,
    )
