"""Render dev pages with known truth into seed-style plain-text dumps, to measure the dump parser.

Each dump is built from one fundus truth record (title, date, authors, body paragraphs) and dressed in
header and footer lines whose *style* is drawn with a seeded RNG: a `date YYYY-MM-DD URL` header or a
site-name line, the title once or twice or with a site suffix, a standfirst, ISO timestamps in several
spellings, keyword lines, pictures, author lines or bylines, captions and "Read more" links inside the
body, and boilerplate after it (contact lines, "Source: x", trend/nav blocks, copyright/privacy
footers, locale and image-size lines). The parser is then scored on the dump set like any dev set.

    .venv/bin/python bench/dumps.py [--pages 40] [--seed 7] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
EVAL_DIR = REPO.parent / "shared" / "eval"
# Pages per dump set: enough to see a systematic miss, small enough to read every failure.
DEFAULT_PAGES = 40
DEFAULT_SEED = 7
# fundus bodies shorter than this many paragraphs say little about finding a body among boilerplate.
MIN_BODY_PARAGRAPHS = 3

CAPTION_CREDITS = ("AFP", "Reuters", "AP", "dpa", "Getty Images", "EPA")
NAV_SECTIONS = ("Home", "World", "Politics", "Business", "Sport", "Culture", "Opinion", "Science")
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


def site_name(url: str) -> str:
    """A Title Case outlet name from the host: "www.example-news.co.uk" -> "Example News"."""
    host = urlsplit(url).hostname or "example.com"
    labels = [label for label in host.split(".") if label not in {"www", "m", "amp", "edition"}]
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


def author_lines(authors: list[str], rng: random.Random, host: str) -> list[str]:
    """Authors as avatar lines ("Jane Doe https://.../avatar.jpg") or as one byline."""
    if not authors:
        return []
    if rng.random() < 0.5:
        return [f"{name} https://img.{host}/avatars/{rng.randrange(10**6)}_100x100.jpg" for name in authors]
    if len(authors) == 1:
        return [f"By {authors[0]}"]
    return ["By " + ", ".join(authors[:-1]) + " and " + authors[-1]]


def body_lines(paragraphs: list[str], rng: random.Random, outlet: str) -> list[str]:
    """Body paragraphs one per line, with captions, pictures and a "Read more" link among them."""
    lines = list(paragraphs)
    if len(lines) >= 2 and rng.random() < 0.3:
        # Some dumps lose the break between the first paragraphs ("warning.According to").
        first, second = lines[0], lines[1]
        if first.rstrip().endswith((".", "!", "?")) and second[:1].isupper():
            lines[0:2] = [first.rstrip() + second]
    inserts = []
    if rng.random() < 0.6:
        inserts.append(f"{rng.choice(NAV_SECTIONS)} scene, Photo: {rng.choice(CAPTION_CREDITS)}")
    if rng.random() < 0.5:
        inserts.append(f"Read more: {rng.choice(NAV_SECTIONS)} news from {outlet}")
    if rng.random() < 0.4:
        inserts.append(f"https://cdn.example.org/img/{rng.randrange(10**8)}_1920x1080.jpg")
    for insert in inserts:
        lines.insert(rng.randrange(1, len(lines)) if len(lines) > 1 else 1, insert)
    return lines


def footer_lines(rng: random.Random, outlet: str, host: str, day: str, tags: list[str]) -> list[str]:
    """Boilerplate after the body, several styles drawn at random."""
    blocks: list[list[str]] = []
    if rng.random() < 0.6:
        blocks.append([f"{outlet} feedback@{host} +{rng.randrange(10**9, 10**11)} {outlet} Media 252 60"])
    if rng.random() < 0.5:
        blocks.append([rng.choice(ASK_LINES), rng.choice(ASK_LINES)])
    if rng.random() < 0.5:
        blocks.append([f"Source: {host.split('.')[0]}"])
    if rng.random() < 0.5:
        blocks.append([f"All news articles on {day}"])
    if rng.random() < 0.6:
        trend = list(rng.choice(TREND_BLOCKS))
        trend.insert(1, f"{rng.choice(NAV_SECTIONS)}/{rng.choice(NAV_SECTIONS)} {day}T12:12:09.827Z")
        blocks.append(trend)
    if rng.random() < 0.5:
        blocks.append([" | ".join(rng.sample(NAV_SECTIONS, 5))])
    if rng.random() < 0.4:
        blocks.append(["en_US", "1920 1080 true", "News"])
    rng.shuffle(blocks)
    year = day[:4]
    copyright_line = rng.choice(
        (f"© {outlet} {year} - Privacy", f"Copyright {year} {outlet}. All rights reserved.", f"© {year} {outlet}")
    )
    lines = [line for block in blocks for line in block] + [copyright_line]
    if rng.random() < 0.7:
        lines.append(rng.choice(FOOTER_NOTES))
    if tags and rng.random() < 0.5:
        lines.append(", ".join(tags))
    return lines


def render_dump(record: dict, rng: random.Random) -> str:
    """One truth record as a plain-text dump in a randomly chosen seed style."""
    url = record["url"]
    host = urlsplit(url).hostname or "example.com"
    host = host.removeprefix("www.")
    outlet = site_name(url)
    title = record["title"]
    date = record["date"]
    day = date[:10] if date else None
    paragraphs = [part.strip() for part in record["text"].split("\n\n") if part.strip()]
    authors = [name.strip() for name in (record["author"] or "").split(",") if name.strip()]
    tags = [word.lower() for word in re.findall(r"[^\W\d_]{5,}", title)][:3]
    blank = "\n" * rng.choice((2, 3))

    header: list[str] = []
    if day and rng.random() < 0.5:
        header.append(f" date {day} {url}")
        header.extend([title, title] if rng.random() < 0.6 else [title])
    else:
        header.extend([outlet, rng.choice(("Now you can see non-English news...", "Breaking news and analysis"))])
        separator = rng.choice((" | ", " - ", " — "))
        header.append(title + separator + outlet if rng.random() < 0.7 else title)
    if rng.random() < 0.7:
        header.append(f"Read the full story of {title.lower()} and the reactions to it on our site today.")
    if date:
        header.append(timestamp_spellings(date, rng))
        modified = later_stamp(date)
        if modified and rng.random() < 0.5:
            header.append(modified)
    header.extend(tags if rng.random() < 0.6 else [])
    if rng.random() < 0.4:
        header.append("/html/head/meta[@name='og:title']/@content /html/head/meta[@name='og:description']/@content")
    if rng.random() < 0.6:
        header.append(f"https://cdn.{host}/img/{rng.randrange(10**8)}_1920x0_80.jpg")
    byline = author_lines(authors, rng, host)
    byline_first = rng.random() < 0.5
    lines = header + (byline if byline_first else []) + body_lines(paragraphs, rng, outlet)
    lines += ([] if byline_first else byline) + footer_lines(rng, outlet, host, day or "2024-01-01", tags)
    return blank.join(lines) + "\n"


def write_dump_set(out_dir: Path, pages: int = DEFAULT_PAGES, seed: int = DEFAULT_SEED) -> Path:
    """Render `pages` fundus pages (seeded sample) into a dataset dir scored like the dev sets."""
    truth_path = EVAL_DIR / "dev" / "fundus" / "truth.jsonl"
    records = [json.loads(line) for line in truth_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    usable = [
        record
        for record in records
        if record["title"] and record["url"] and len((record["text"] or "").split("\n\n")) >= MIN_BODY_PARAGRAPHS
    ]
    rng = random.Random(seed)
    sample = rng.sample(usable, min(pages, len(usable)))
    (out_dir / "pages").mkdir(parents=True, exist_ok=True)
    with (out_dir / "truth.jsonl").open("w", encoding="utf-8") as truth:
        for record in sample:
            file = f"pages/{record['id']}.txt"
            (out_dir / file).write_text(render_dump(record, rng), encoding="utf-8")
            kept = {key: record[key] for key in ("id", "url", "text", "title", "date", "author")}
            truth.write(json.dumps({**kept, "file": file}, ensure_ascii=False) + "\n")
    return out_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=DEFAULT_PAGES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out-dir", type=Path, help="where to write the dump set (default: a temporary dir)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from quality import run_newsdag, score_predictions

    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="newsdag-dumps-"))
    dataset = write_dump_set(out_dir, args.pages, args.seed)
    predictions = out_dir / "predictions.jsonl"
    run_newsdag(dataset, predictions, args.workers)
    print(json.dumps(score_predictions(dataset, predictions), indent=2))
    print(f"dump set and predictions in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
