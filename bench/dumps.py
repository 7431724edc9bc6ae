"""Render dev pages with known truth into seed-style plain-text dumps, to measure the dump parser.

Each dump is built from one truth record (title, date, authors, body) of a dev set, fundus (news
articles) or wcxb (long guides, listicles, blogs: tables, lists and subheadings in the text), in one of
the two seed styles of `../shared/seeds/`:

* `date-header` (like 000_*.txt): a ` date YYYY-MM-DD URL` line, the title once or twice, a standfirst,
  ISO timestamps, keyword lines, an XPath line and a picture URL, then the body and a tail of contact,
  keyword, year, author-avatar, locale and image-size lines;
* `site-line` (like 003_*.txt): a site-name line and a tagline, the title with or without the outlet's
  name, a timestamp and a standfirst, then the body and a tail of "Were we wrong?", "Source: outlet",
  "All news articles on ...", trend and nav blocks, a copyright line and disclaimers.

Everything else is drawn with a seeded RNG: titles that wrap over two or three lines at some width,
tables rendered as `| a | b |` rows, lists with or without blank lines between items, glued paragraphs,
captions, pictures and "Read more" links inside the body (not truth), and some truth-side additions that
long guide pages have: a table with a "Source: ..." line under it, a list, a "Photo: ..." credit line.
What is added to a page's body is added to its truth too, so the parser is scored on what a reader
would call the article. The parser is then scored like any dev set, beside a naive loader that
takes every line of the dump as text.

    .venv/bin/python bench/dumps.py [--pages 60] [--seed 7] [--source all] [--style all] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
EVAL_DIR = REPO.parent / "shared" / "eval"
SOURCES = ("fundus", "wcxb")
STYLES = ("date-header", "site-line")
# Pages per dump set: as many as the held-out dump sets have (60), few enough to read every failure.
DEFAULT_PAGES = 60
DEFAULT_SEED = 7
# Bodies shorter than this many paragraphs say little about finding a body among boilerplate.
MIN_BODY_PARAGRAPHS = 3
# A day for the ` date` header of pages whose truth has none (a crawl day; the page has no date truth).
CRAWL_DAYS = ("2024-05-17", "2025-02-03", "2025-11-21")

# Titles wrap at a width drawn from this range (characters): a narrow column or a text browser's.
TITLE_WRAP_WIDTHS = (18, 42)
CAPTION_CREDITS = ("AFP", "Reuters", "AP", "dpa", "Getty Images", "EPA")
NAV_SECTIONS = ("Home", "World", "Politics", "Business", "Sport", "Culture", "Opinion", "Science")
TAGLINES = ("Now you can see non-English news...", "Breaking news and analysis", "News, guides and reviews")
TREND_BLOCKS = (
    ("Trends 24h", "Latest", "You may like"),
    ("Most read", "Latest news", "Trending now"),
    ("Top stories", "More from this section"),
)
FOOTER_NOTES = (
    "The information on this site is from external sources that are not under our control.",
    "The inclusion of any links does not necessarily imply a recommendation or endorse the views expressed.",
    "All content is protected by copyright and may not be reproduced without permission.",
)
ASK_LINES = ("Were we wrong?", "Fixed!", "Did you find a mistake?", "Share this article")
ERROR_NOTE = "If you found an error in the article, we'll be happy for you to share it with us"
REPORT_WORDS = ("Report", "Survey", "Index", "Analysis", "Statistics")
BULLETS = ("- ", "• ", "* ", "")
WORD = re.compile(r"[^\W\d_]{3,}")
CAPITALISED = re.compile(r"\b[A-Z][a-z]{3,}\b")


@dataclass(frozen=True)
class DumpSet:
    """One rendered dump set: a dataset dir scored like the dev sets."""

    source: str
    style: str
    path: Path

    @property
    def name(self) -> str:
        """The set's label in tables: "wcxb/site-line"."""
        return f"{self.source}/{self.style}"


def site_name(url: str) -> str:
    """A Title Case outlet name from the host: "www.example-news.co.uk" -> "Example News"."""
    host = urlsplit(url).hostname or "example.com"
    labels = [label for label in host.split(".") if label not in {"www", "m", "amp", "edition", "blog"}]
    core = labels[0] if labels else "example"
    return " ".join(part.capitalize() for part in re.split(r"[-_]", core) if part) or "Example"


def timestamp_spellings(value: str, rng: random.Random) -> str:
    """The truth date in one of the ISO spellings dumps use; the wall-clock time and offset are kept."""
    if len(value) <= 10:
        return value
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return moment.isoformat(timespec="seconds")
    style = rng.choice(("colon", "compact", "millis", "minutes"))
    if style == "compact":  # 2022-01-07T08:36:00+0000
        return moment.strftime("%Y-%m-%dT%H:%M:%S%z")
    if style == "millis":
        return moment.isoformat(timespec="milliseconds")
    if style == "minutes" and moment.second == 0:  # 2022-01-07T08:36+0000
        return moment.strftime("%Y-%m-%dT%H:%M%z")
    return moment.isoformat(timespec="seconds")


def later_stamp(value: str) -> str | None:
    """A modified time one hour after the published one (dumps list both)."""
    if len(value) <= 10:
        return None
    moment = datetime.fromisoformat(value)
    return moment.replace(hour=(moment.hour + 1) % 24).isoformat(timespec="seconds")


def wrapped(title: str, rng: random.Random) -> list[str]:
    """The title as a narrow column shows it: two or three lines at a random width, or one line."""
    if len(title.split()) < 4 or rng.random() < 0.6:
        return [title]
    width = rng.randint(*TITLE_WRAP_WIDTHS)
    lines = textwrap.wrap(title, width=max(width, len(title) // 3 + 1), break_long_words=False)
    return lines if 2 <= len(lines) <= 3 else [title]


def page_words(paragraphs: list[str]) -> list[str]:
    """Words of the page (letters only), to build table cells and list items from."""
    words = [word for paragraph in paragraphs for word in WORD.findall(paragraph)]
    return words or ["item", "value", "total"]


def page_names(paragraphs: list[str]) -> list[str]:
    """Capitalised words of the page, for table headers and "Source: ..." lines."""
    names = [name for paragraph in paragraphs for name in CAPITALISED.findall(paragraph)]
    return names if len(names) >= 2 else [*names, "Overview", "Market", "Average"]


def number_cell(rng: random.Random) -> str:
    """A table figure in one of the shapes guides use."""
    value = rng.uniform(1, 900)
    return rng.choice((f"${value:,.1f} bn", f"{value:.0f}%", f"{int(value * 37):,}", f"{value:.2f}", "Yes", "No"))


def source_line(rng: random.Random, names: list[str]) -> str:
    """A "Source: ..." attribution under a table or figure: "Source: 2023 Market Average Report"."""
    phrase = " ".join(rng.sample(names, min(len(names), rng.randint(1, 3))))
    if rng.random() < 0.5:
        return f"Source: {rng.randint(2015, 2025)} {phrase} {rng.choice(REPORT_WORDS)}"
    return f"Source: {phrase}"


def table_block(rng: random.Random, words: list[str], names: list[str]) -> tuple[list[str], list[str]]:
    """A small table (truth: tab-separated rows; dump: `| a | b |` rows) and maybe its source line."""
    columns = rng.randint(2, 4)
    header = [rng.choice(names) for _ in range(columns)]
    rows = [header] + [
        [" ".join(rng.sample(words, 2)).capitalize()] + [number_cell(rng) for _ in range(columns - 1)]
        for _ in range(rng.randint(3, 6))
    ]
    truth = ["\t".join(row) for row in rows]
    dump = ["| " + " | ".join(row) + " |" for row in rows]
    if rng.random() < 0.7:
        line = source_line(rng, names)
        truth.append(line)
        dump.append(line)
    return truth, dump


def list_block(rng: random.Random, paragraphs: list[str]) -> list[str]:
    """A list whose items are the openings of the page's own sentences, with one bullet style."""
    sentences = [s for p in paragraphs for s in re.split(r"(?<=[.!?])\s+", p) if len(s.split()) >= 6]
    bullet = rng.choice(BULLETS)
    items = []
    for sentence in rng.sample(sentences, min(len(sentences), rng.randint(3, 6))):
        words = sentence.split()[: rng.randint(3, 10)]
        items.append(bullet + " ".join(words).rstrip(",;:"))
    return items


def body_blocks(text: str, rng: random.Random) -> list[list[str]]:
    """The truth body as blocks of lines (a paragraph is one line; a list or table block has several)."""
    return [
        [line.strip() for line in block.split("\n") if line.strip()] for block in text.split("\n\n") if block.strip()
    ]


def dump_line(line: str, markdown_tables: bool) -> str:
    """How the dump shows one truth line: tab-separated table cells as `| a | b |` or `a | b`."""
    if "\t" not in line:
        return line
    cells = [cell.strip() for cell in line.split("\t")]
    return "| " + " | ".join(cells) + " |" if markdown_tables else " | ".join(cells)


def augment_body(blocks: list[list[str]], rng: random.Random) -> list[tuple[list[str], list[str]]]:
    """(truth lines, dump lines) per block, with the truth-side additions of long guide pages."""
    markdown_tables = rng.random() < 0.7
    pairs = [(block, [dump_line(line, markdown_tables) for line in block]) for block in blocks]
    paragraphs = [line for block in blocks for line in block]
    words, names = page_words(paragraphs), page_names(paragraphs)
    additions: list[tuple[list[str], list[str]]] = []
    if rng.random() < 0.35:
        additions.append(table_block(rng, words, names))
    if rng.random() < 0.3:
        items = list_block(rng, paragraphs)
        additions.append((items, items))
    if rng.random() < 0.2:
        line = source_line(rng, names)
        additions.append(([line], [line]))
    if rng.random() < 0.15:
        credit = rng.choice((f"Photo: {' '.join(rng.sample(names, 2))}", f"Photo credit: {rng.choice(names)}."))
        additions.append(([credit], [credit]))
    for addition in additions:
        # Anywhere after the first block, the very end included (a guide may end on its table).
        pairs.insert(rng.randint(1, len(pairs)), addition)
    return pairs


def chrome_inserts(rng: random.Random, outlet: str) -> list[str]:
    """Lines a page shows inside its body that are not the article: a caption, a link, a picture."""
    inserts = []
    if rng.random() < 0.6:
        inserts.append(f"{rng.choice(NAV_SECTIONS)} scene, Photo: {rng.choice(CAPTION_CREDITS)}")
    if rng.random() < 0.5:
        inserts.append(f"Read more: {rng.choice(NAV_SECTIONS)} news from {outlet}")
    if rng.random() < 0.4:
        inserts.append(f"https://cdn.example.org/img/{rng.randrange(10**8)}_1920x1080.jpg")
    return inserts


def render_body(record: dict, rng: random.Random, outlet: str, blank: str) -> tuple[str, str]:
    """(dump body, truth text): blocks joined by blank lines, list/table lines sometimes tight."""
    pairs = augment_body(body_blocks(record["text"], rng), rng)
    tight = rng.random() < 0.5  # a list's items one per line, or each item its own block
    truth = "\n\n".join("\n".join(truth_lines) for truth_lines, _ in pairs)
    blocks = [("\n" if tight else blank).join(dump_lines) for _, dump_lines in pairs]
    first, second = pairs[0][1], pairs[1][1] if len(pairs) >= 2 else []
    # Some dumps lose the break between the first paragraphs ("warning.According to").
    glue = len(first) == len(second) == 1 and rng.random() < 0.3
    if glue and first[0].endswith((".", "!", "?")) and second[0][:1].isupper() and len(second[0].split()) > 6:
        blocks[0:2] = [first[0] + second[0]]
    for insert in chrome_inserts(rng, outlet):
        blocks.insert(rng.randrange(1, len(blocks)) if len(blocks) > 1 else 1, insert)
    return blank.join(blocks), truth


def author_lines(authors: list[str], rng: random.Random, host: str) -> list[str]:
    """Authors as avatar lines ("Jane Doe https://.../avatar.jpg") or as one byline."""
    if not authors:
        return []
    if rng.random() < 0.5:
        return [f"{name} https://img.{host}/avatars/{rng.randrange(10**6)}_100x100.jpg" for name in authors]
    if len(authors) == 1:
        return [f"By {authors[0]}"]
    return ["By " + ", ".join(authors[:-1]) + " and " + authors[-1]]


def standfirst(title: str, rng: random.Random) -> str:
    """A description line: a sentence, or a teaser without closing punctuation (both occur in seeds)."""
    if rng.random() < 0.5:
        return f"Read the full story of {title.lower()} and the reactions to it on our site today."
    return f"What you need to know about {title.lower()} • Who is affected • What happens next"


def date_header_tail(rng: random.Random, outlet: str, host: str, day: str, tags: list[str], byline: list[str]):
    """The tail of 000_*.txt: keywords, contact lines, a year, avatar lines, a section, locale, image sizes."""
    contact = f"{outlet} feedback@{host} +{rng.randrange(10**9, 10**11)} {outlet} Media 252 60"
    lines = [*tags[:2], contact, day[:4]]
    lines += [line for line in byline if "https://" in line]
    lines += [rng.choice(NAV_SECTIONS), rng.choice(("en_EN", "en_US", "en-GB")), contact]
    lines += [f"1920 {size} true" for size in rng.sample((1080, 1440, 1920), rng.randint(1, 3))]
    if rng.random() < 0.5:
        lines.append(f"© {day[:4]} {outlet}")
    if tags and rng.random() < 0.7:
        lines.append(", ".join(tags))
    return lines


def site_line_tail(rng: random.Random, outlet: str, host: str, day: str, tags: list[str]) -> list[str]:
    """The tail of 003_*.txt and its variants: asks, source, trends, nav, copyright, disclaimers."""
    blocks: list[list[str]] = []
    if rng.random() < 0.7:
        blocks.append([*rng.sample(ASK_LINES, 2), ERROR_NOTE])
    if rng.random() < 0.7:
        blocks.append([f"Source: {host.split('.')[0]}"])
    if rng.random() < 0.6:
        blocks.append([f"All news articles on {day}"])
    if rng.random() < 0.7:
        trend = list(rng.choice(TREND_BLOCKS))
        trend.insert(1, f"{rng.choice(NAV_SECTIONS)}/{rng.choice(NAV_SECTIONS)} {day}T12:12:09.827Z")
        blocks.append(trend)
    if rng.random() < 0.4:
        blocks.append([" | ".join(rng.sample(NAV_SECTIONS, 5))])
    if rng.random() < 0.3:
        blocks.append([f"{outlet} feedback@{host} +{rng.randrange(10**9, 10**11)}"])
    year = day[:4]
    copyright_line = rng.choice(
        (f"© {outlet} {year} - Privacy", f"Copyright {year} {outlet}. All rights reserved.", f"© {year} {outlet}")
    )
    lines = [line for block in blocks for line in block] + [copyright_line]
    if rng.random() < 0.8:
        lines.extend(rng.sample(FOOTER_NOTES, rng.randint(1, 2)))
    if tags and rng.random() < 0.3:
        lines.append(", ".join(tags))
    return lines


def title_lines(title: str, rng: random.Random, blank: str) -> str:
    """The title as one block, or wrapped over lines joined by a newline or by the dump's blank lines."""
    return (rng.choice(("\n", blank))).join(wrapped(title, rng))


def render_dump(record: dict, rng: random.Random, style: str = "date-header") -> tuple[str, str]:
    """One truth record as a plain-text dump in the given seed style: (dump, truth text)."""
    url = record["url"]
    host = (urlsplit(url).hostname or "example.com").removeprefix("www.")
    outlet = site_name(url)
    title = record["title"]
    date = record["date"] if record["date"] and len(record["date"]) >= 10 else None
    day = date[:10] if date else rng.choice(CRAWL_DAYS)
    authors = [name.strip() for name in (record["author"] or "").split(",") if name.strip()]
    tags = [word.lower() for word in re.findall(r"[^\W\d_]{5,}", title)][:3]
    blank = "\n" * rng.choice((2, 3))
    byline = author_lines(authors, rng, host)
    stamps = [timestamp_spellings(date, rng)] if date else []
    modified = later_stamp(date) if date else None
    if modified and rng.random() < 0.5:
        stamps.append(modified)
    description = [standfirst(title, rng)] if rng.random() < 0.7 else []

    header: list[str] = []
    if style == "date-header":
        header.append(f" date {day} {url}")
        header.append(title_lines(title, rng, blank))
        if rng.random() < 0.6:
            header.append(title_lines(title, rng, blank))
        header += description + stamps
        header += tags if rng.random() < 0.7 else []
        if rng.random() < 0.5:
            header.append("/html/head/meta[@name='og:title']/@content /html/head/meta[@name='og:description']/@content")
        if rng.random() < 0.6:
            header.append(f"https://cdn.{host}/img/{rng.randrange(10**8)}_1920x0_80.jpg")
    else:
        header += [outlet, rng.choice(TAGLINES)]
        suffix = rng.choice((f" | {outlet}", f" - {outlet}", f" — {outlet}", f" {outlet}", ""))
        header.append(title_lines(title + suffix, rng, blank))
        if rng.random() < 0.6:
            # Seed 003 leaves an extra blank line around a standfirst below its timestamp.
            spaced = bool(description) and rng.random() < 0.5
            header += stamps + ([f"\n{description[0]}\n"] if spaced else description)
        else:
            header += description + stamps
    byline_first = rng.random() < 0.5
    body, truth = render_body(record, rng, outlet, blank)
    lines = header + (byline if byline_first else []) + [body]
    if style == "date-header":
        lines += date_header_tail(rng, outlet, host, day, tags, byline if not byline_first else [])
    else:
        lines += ([] if byline_first else byline) + site_line_tail(rng, outlet, host, day, tags)
    return blank.join(lines) + "\n", truth


def load_records(source: str) -> list[dict]:
    """Truth records of a dev set with a title, a URL and a body of several paragraphs."""
    truth_path = EVAL_DIR / "dev" / source / "truth.jsonl"
    records = [json.loads(line) for line in truth_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        record
        for record in records
        if record["title"] and record["url"] and len((record["text"] or "").split("\n\n")) >= MIN_BODY_PARAGRAPHS
    ]


def write_dump_set(
    out_dir: Path,
    pages: int = DEFAULT_PAGES,
    seed: int = DEFAULT_SEED,
    source: str = "fundus",
    style: str = "date-header",
) -> Path:
    """Render `pages` pages of a dev set (seeded sample) in one seed style into a dataset dir."""
    if source not in SOURCES or style not in STYLES:
        raise ValueError(f"unknown dump set {source}/{style}")
    usable = load_records(source)
    rng = random.Random(f"{seed}/{source}/{style}")
    sample = rng.sample(usable, min(pages, len(usable)))
    (out_dir / "pages").mkdir(parents=True, exist_ok=True)
    with (out_dir / "truth.jsonl").open("w", encoding="utf-8") as truth:
        for record in sample:
            file = f"pages/{record['id']}.txt"
            dump, text = render_dump(record, rng, style)
            (out_dir / file).write_text(dump, encoding="utf-8")
            kept = {key: record[key] for key in ("id", "url", "title", "date", "author")}
            truth.write(json.dumps({**kept, "text": text, "file": file}, ensure_ascii=False) + "\n")
    return out_dir


def write_dump_sets(
    out_dir: Path,
    pages: int = DEFAULT_PAGES,
    seed: int = DEFAULT_SEED,
    sources: tuple[str, ...] = SOURCES,
    styles: tuple[str, ...] = STYLES,
) -> list[DumpSet]:
    """Every source × style dump set under out_dir/<source>-<style>/."""
    return [
        DumpSet(source, style, write_dump_set(out_dir / f"{source}-{style}", pages, seed, source, style))
        for source in sources
        for style in styles
    ]


def naive_predictions(dataset: Path, out: Path) -> Path:
    """The naive whole-file loader: every line of each dump as text (no title, date or author)."""
    with (dataset / "truth.jsonl").open(encoding="utf-8") as truth, out.open("w", encoding="utf-8") as handle:
        for line in truth:
            if line.strip():
                record = json.loads(line)
                text = (dataset / record["file"]).read_text(encoding="utf-8")
                handle.write(json.dumps({"id": record["id"], "text": text}, ensure_ascii=False) + "\n")
    return out


@dataclass(frozen=True)
class DumpResult:
    """The parser's and the naive loader's scores on one dump set (score.py --json objects)."""

    name: str
    scores: dict
    naive: dict
    seconds: float


def measure_dump_set(dump_set: DumpSet, run, score) -> DumpResult:
    """Parse a dump set with `run(dataset, out, workers)` (the production path) and score it beside
    the naive loader with `score(dataset, predictions)`; both come from bench/quality.py."""
    predictions = dump_set.path / "predictions.jsonl"
    seconds = run(dump_set.path, predictions, 1)
    naive = naive_predictions(dump_set.path, dump_set.path / "naive.jsonl")
    return DumpResult(dump_set.name, score(dump_set.path, predictions), score(dump_set.path, naive), seconds)


def write_per_page(dataset: Path, predictions: Path, out: Path) -> None:
    """The shared scorer's per-page scores, for reading a set's failures."""
    scorer = EVAL_DIR / "score.py"
    command = [sys.executable, str(scorer), str(dataset), str(predictions), "--per-page", str(out)]
    subprocess.run(command, check=True, capture_output=True)


SUMMARY_HEADER = (
    "| dump set | pages | text F1 | precision | recall | title exact | date same day | loaded "
    "| naive recall / F1 | recall − naive | ms/page |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
)


def summary_row(result: DumpResult) -> str:
    """One markdown row: the parser's figures and the naive loader's recall/F1 on a dump set."""
    text, title, date, naive = result.scores["text"], result.scores["title"], result.scores["date"], result.naive
    loaded = text["n"] - text["empty"]
    return (
        f"| {result.name} | {text['n']} | {text['f1']:.3f} | {text['precision']:.3f} | {text['recall']:.3f} | "
        f"{title['exact']:.3f} | {date['same_day']:.3f} | {loaded}/{text['n']} | "
        f"{naive['text']['recall']:.3f} / {naive['text']['f1']:.3f} | "
        f"{text['recall'] - naive['text']['recall']:+.4f} | {1000 * result.seconds / text['n']:.1f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=DEFAULT_PAGES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--source", choices=(*SOURCES, "all"), default="all")
    parser.add_argument("--style", choices=(*STYLES, "all"), default="all")
    parser.add_argument("--out-dir", type=Path, help="where to write the dump sets (default: a temporary dir)")
    parser.add_argument("--per-page", action="store_true", help="also write per-page scores beside each set")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from quality import run_newsdag, score_predictions

    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="newsdag-dumps-"))
    sources = SOURCES if args.source == "all" else (args.source,)
    styles = STYLES if args.style == "all" else (args.style,)
    rows = list(SUMMARY_HEADER)
    for dump_set in write_dump_sets(out_dir, args.pages, args.seed, sources, styles):
        result = measure_dump_set(dump_set, run_newsdag, score_predictions)
        if args.per_page:
            write_per_page(dump_set.path, dump_set.path / "predictions.jsonl", dump_set.path / "per_page.jsonl")
        rows.append(summary_row(result))
    print("\n".join(rows))
    print(f"dump sets and predictions in {out_dir} (seed {args.seed}, {args.pages} pages each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
