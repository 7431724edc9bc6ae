"""Extraction quality: newsdag's production path vs trafilatura's defaults on every dev set, one table.

For each dataset under <repo>/../shared/eval/dev/ this runs `flows.evaluate.evaluate_dataset` (what
`newsdag eval` runs: the same extraction as ingest) and bare `trafilatura.bare_extraction(html,
with_metadata=True)` in a process pool of the same size, scores both with the shared `score.py --json`,
then measures the text-dump parser on dumps rendered from fundus and wcxb truth in both seed styles,
beside a naive whole-file loader (bench/dumps.py). Prints the tables and writes them to docs/quality.md.

    .venv/bin/python bench/quality.py [--workers 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import trafilatura

REPO = Path(__file__).resolve().parent.parent
EVAL_DIR = REPO.parent / "shared" / "eval"
SCORER = EVAL_DIR / "score.py"
DOC = REPO / "docs" / "quality.md"
COMMAND = ".venv/bin/python bench/quality.py --workers {workers}"
# Pages handed to a worker at a time: small enough that both workers stay busy to the end.
POOL_CHUNK = 4

# (field, metric key in score.py's JSON, label, digits) in table order.
METRICS = (
    ("text", "f1", "text F1", 3),
    ("text", "precision", "text precision", 3),
    ("text", "recall", "text recall", 3),
    ("text", "f1_mean", "text mean per-page F1", 3),
    ("title", "exact", "title exact", 3),
    ("title", "contains", "title contains", 3),
    ("date", "same_day", "date same day", 3),
    ("date", "instant_1h", "date instant ±1h", 3),
    ("author", "token_set", "author token set", 3),
)


def run_newsdag(dataset: Path, out: Path, workers: int) -> float:
    """Predictions from the production path (what `newsdag eval` runs); returns wall seconds."""
    from newsdag.flows.evaluate import evaluate_dataset
    from newsdag.flows.settings import Settings

    settings = Settings.from_env(workers=workers)
    started = time.perf_counter()
    evaluate_dataset(dataset, out, settings)
    return time.perf_counter() - started


def trafilatura_prediction(task: tuple[str, str, str | None]) -> dict[str, str | None]:
    """trafilatura's defaults on one page, decoded as UTF-8 as the eval README says, given the page's URL
    as newsdag is (see flows.evaluate)."""
    page_id, path, url = task
    html = gzip.decompress(Path(path).read_bytes()).decode("utf-8")
    document = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if document is None:
        return {"id": page_id, "text": None, "title": None, "date": None, "author": None}
    return {
        "id": page_id,
        "text": document.text,
        "title": document.title,
        "date": document.date,
        "author": document.author,
    }


def run_trafilatura(dataset: Path, out: Path, workers: int) -> float:
    """Predictions from trafilatura's defaults in a pool of `workers` processes; returns wall seconds."""
    records = [json.loads(line) for line in (dataset / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    tasks = [(record["id"], str(dataset / record["file"]), record.get("url")) for record in records if record]
    started = time.perf_counter()
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        predictions = list(pool.map(trafilatura_prediction, tasks, chunksize=POOL_CHUNK))
    elapsed = time.perf_counter() - started
    with out.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(prediction, ensure_ascii=False) + "\n" for prediction in predictions)
    return elapsed


def score_predictions(dataset: Path, predictions: Path) -> dict:
    """The shared scorer's JSON result (run as a script, exactly as documented)."""
    result = subprocess.run(
        [sys.executable, str(SCORER), str(dataset), str(predictions), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


def metric_cell(scores: dict, field: str, key: str, digits: int) -> tuple[str, float | None]:
    """A table cell ("0.953", text F1 with its bootstrap ± std) and the raw value."""
    block = scores.get(field, {})
    value = block.get(key)
    if value is None:
        return "–", None
    spread = block.get(f"{key}_std") if key == "f1" else None
    # The bootstrap spread says how much of a difference is noise (score.py: 1000 resamples, seed 0).
    return f"{value:.{digits}f}" + (f" ±{spread:.{digits}f}" if spread is not None else ""), value


def metric_n(scores: dict, field: str, key: str) -> int | None:
    block = scores.get(field, {})
    return block.get("n_instant") if key == "instant_1h" else block.get("n")


def comparison_table(results: dict[str, dict]) -> list[str]:
    """Markdown rows: set × metric, newsdag vs trafilatura defaults, with the difference."""
    rows = [
        "| set | metric | n | newsdag | trafilatura 2.3.1 defaults | Δ |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        for field, key, label, digits in METRICS:
            ours, ours_value = metric_cell(result["newsdag"], field, key, digits)
            theirs, theirs_value = metric_cell(result["trafilatura"], field, key, digits)
            if ours_value is None and theirs_value is None:
                continue
            delta = f"{ours_value - theirs_value:+.{digits}f}" if None not in (ours_value, theirs_value) else ""
            n = metric_n(result["newsdag"], field, key)
            bold = f"**{ours}**" if ours_value is not None and delta.startswith("+") else ours
            rows.append(f"| {name} | {label} | {n} | {bold} | {theirs} | {delta} |")
        pages = result["pages"]
        rows.append(
            f"| {name} | ms/page (wall, {result['workers']} workers) | {pages} | "
            f"{1000 * result['newsdag_seconds'] / pages:.1f} | {1000 * result['trafilatura_seconds'] / pages:.1f} | |"
        )
    return rows


def write_doc(path: Path, command: str, comparison: list[str], dumps: list[str], dump_note: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    text = f"""# Extraction quality

Generated by `{command}` on {stamp} ({machine}, trafilatura {trafilatura.__version__}).
Do not edit by hand: rerun the command. Scores come from `../shared/eval/score.py --json`
(text = the AEB shingle metric; see `../shared/eval/README.md` for every metric's definition).

* **newsdag** = `flows.evaluate.evaluate_dataset`, the code `newsdag eval` runs: the production extraction
  path of ingest (`tasks.extract.extract_document`), no database.
* **trafilatura 2.3.1 defaults** = `trafilatura.bare_extraction(html, url=url, with_metadata=True)`, pages
  decoded as UTF-8, in a process pool of the same size. Its dates are day-only, hence instant ±1h = 0.
* Both sides get the page's URL from its dataset record, as a fetched page has it (`flows/evaluate.py`).
* ms/page = wall time of the whole run divided by pages (both sides in pools of the same size; newsdag's
  includes reading and decompressing the file and its metadata rules).

## Dev sets: newsdag vs trafilatura defaults

{chr(10).join(comparison)}

## Plain-text dumps (tasks/textdump.py)

{dump_note}

{chr(10).join(dumps)}

The parser (`tasks/textdump.py`) classifies each line by its shape (timestamp, tag, picture, XPath,
contact, copyright, caption, label, table row, list item, paragraph, ...). The body runs from below the
header's last metadata line (timestamps, keyword and picture lines, author lines, bylines) to the last
paragraph, list item or table row before the footer (a table's `Source: ...` line under its last row
included); the footer starts at a closing copyright line. Between the two everything is kept but chrome:
pictures, timestamps, author lines and bylines, captions ("..., Photo: AFP"), "Read more: ..." links and
navigation above the first paragraph. A title wrapped over lines is joined; it is the first headline
below the opener (date header, or site line and tagline), or the one the URL slug names.

## What the extraction does beyond trafilatura's defaults

* **Text** (`tasks/extract.py`): a precision-favouring run (`fast`, no fallback extractors) gives the
  text; when it may have lost the article (under 150 words, or under a quarter of the page's `<p>`
  text) the full precision run, then a balanced run decide (`precise_text`). Every page also gets a
  recall-favouring run, and the precise text gets back that run's lines it dropped *between* two of its
  own lines when they read as sentences, occur once and are not already in the text in other words
  (`restore_dropped_paragraphs`): interview questions, list items, closing credit lines. A first line
  that repeats the headline is dropped (`drop_leading_headline`). Every field is NFC-composed. Pages
  are repaired as trafilatura repairs them before parsing (a first-line doctype, an XML declaration).
* **Title** (`tasks/pagetitle.py`, `agreed_title`): JSON-LD headline, else og:title, else the `<h1>`, else
  `<title>`, without the site name; a part the other markups do not carry is dropped ('Headline | Brand'
  when another gives 'Headline'; a kicker only when at least as many markups leave it out as keep it);
  a visible `<h1>` that the title only extends wins; without a JSON-LD headline, a visible `<h1>` worded
  otherwise replaces an SEO og:title.
* **Dates**: JSON-LD, meta, itemprop, `<time>` and URL dates with their time and offset; an instant in UTC
  gives way to the same instant with the publisher's own offset, so the day is the publisher's; htmldate
  (day only) when none is found.
* **Authors**: the first source that names a person (JSON-LD, meta, itemprop, rel=author, the byline
  under the `<h1>`, byline classes, author links, trafilatura's search last); organisations, handles and
  the site's own name only when no person is named; labels and trailing dates removed; names in
  related-article and comment boxes are not read.
* **Tried and not kept** (text F1 aeb / fundus / wcxb): restoring the recall run's lines before the first
  and after the last precise line too (+0.002 fundus, -0.002 aeb: fundus truth keeps standfirsts, AEB's
  does not); restoring every inside line, not only sentences (+0.002 wcxb, -0.002 fundus); the balanced
  run as the source of restored lines (wcxb 0.938 instead of 0.941); dropping lines by link density
  (lines at 90 %+ links are body as often as not on every set). Titles: preferring the visible `<h1>`
  over og:title whenever they differ (wcxb +0.03, fundus -0.016: news sites' og:title is their short
  headline).
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for both extractors")
    parser.add_argument("--out", type=Path, default=DOC, help="markdown file to write (default docs/quality.md)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import dumps

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="newsdag-quality-") as scratch_name:
        scratch = Path(scratch_name)
        for dataset in sorted(path for path in (EVAL_DIR / "dev").iterdir() if (path / "truth.jsonl").is_file()):
            name = f"dev/{dataset.name}"
            print(f"{name}: newsdag …", file=sys.stderr, flush=True)
            ours = scratch / f"newsdag_{dataset.name}.jsonl"
            newsdag_seconds = run_newsdag(dataset, ours, args.workers)
            print(f"{name}: trafilatura defaults …", file=sys.stderr, flush=True)
            theirs = scratch / f"trafilatura_{dataset.name}.jsonl"
            trafilatura_seconds = run_trafilatura(dataset, theirs, args.workers)
            newsdag_scores = score_predictions(dataset, ours)
            results[name] = {
                "newsdag": newsdag_scores,
                "trafilatura": score_predictions(dataset, theirs),
                "pages": newsdag_scores["pages"]["expected"],
                "workers": args.workers,
                "newsdag_seconds": newsdag_seconds,
                "trafilatura_seconds": trafilatura_seconds,
            }
        print("text dumps …", file=sys.stderr, flush=True)
        dump_rows = list(dumps.SUMMARY_HEADER)
        for dump_set in dumps.write_dump_sets(scratch / "dumps"):
            dump_rows.append(dumps.summary_row(dumps.measure_dump_set(dump_set, run_newsdag, score_predictions)))

    comparison = comparison_table(results)
    dump_note = (
        f"{dumps.DEFAULT_PAGES} dumps per set rendered by `bench/dumps.py` (seed {dumps.DEFAULT_SEED}) from fundus"
        " and wcxb dev truth, in each seed style: `date-header` (a ` date YYYY-MM-DD URL` line, as 000_*.txt)"
        " and `site-line` (a site name and a tagline, as 003_*.txt); titles wrapped over two or three lines,"
        " tables as `| a | b |` rows, lists, a table's `Source: ...` line, captions, pictures and the seeds'"
        " header and tail boilerplate. Parsed by the production path (`.txt` input), scored with the same"
        " scorer; `naive` takes every line of the dump as text (`dumps.naive_predictions`)."
    )
    command = COMMAND.format(workers=args.workers)
    print("\n".join(comparison))
    print()
    print("\n".join(dump_rows))
    write_doc(args.out, command, comparison, dump_rows, dump_note)
    print(f"\nwritten to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
