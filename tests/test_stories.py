"""Duplicates, near-duplicates and stories: the seeds end to end on real DuckDB files, plus the pure parts."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import pytest

from flows.cli import main
from tasks import stories
from tests.conftest import FIXTURE_PAGES, SEEDS
from warehouse.db import SQL_DIR, connect

SPUTNIK = SEEDS / "000_912fc46eca8d7d13.txt"
LIMITED = SEEDS / "003_2a9d2f42b516f131.txt"
SPUTNIK_URL = "https://sputniknews.com/20220107/kazakh-president-tokayev-orders-to-open-fire-on-terrorists-without-any-warning-1092086667.html"
UNRELATED_SAME_DAY = """ date 2022-01-07 https://weather.example.org/2022/01/07/paris-floods

Heavy rain floods the Seine embankments in Paris

Forecasters expect the river to peak on Sunday as rainfall continues across northern France.

2022-01-07T09:00+0000

The Seine rose above its banks in central Paris on Friday after a week of heavy rain, closing roads along \
the embankments and several metro stations near the river. Meteo-France kept an orange alert for rainfall \
in eleven departments and said the river could peak on Sunday evening. City officials moved boats, opened \
emergency shelters and asked residents of low-lying streets to move valuables upstairs. Farmers in \
Normandy reported flooded fields, and rail operators cancelled regional trains between Rouen and Le Havre.
"""


def ingest(capsys: pytest.CaptureFixture[str], db: Path, *paths: Path) -> dict:
    assert main(["ingest", *map(str, paths), "--db", str(db), "--json", "--prefect", "never"]) == 0
    return json.loads(capsys.readouterr().out)


def query(db: Path, sql: str) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(sql).fetchall()


def variant(tmp_path: Path, name: str, url: str, *, title: str | None = None, extra: str = "") -> Path:
    """The Sputnik dump under another URL, optionally with another headline and an added paragraph."""
    lines = SPUTNIK.read_text(encoding="utf-8").splitlines()
    lines[0] = f" date 2022-01-07 {url}"
    if title:
        lines = [title if line.startswith("Kazakh President Tokayev Orders") else line for line in lines]
    if extra:  # into the body paragraph: the dump parser drops trailing lines as site boilerplate
        lines = [line + " " + extra if line.startswith("Kazakh President Kassym") else line for line in lines]
    path = tmp_path / "variants" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_seeds_form_one_story_with_two_outlets_and_the_cli_lists_it(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    ingest(capsys, db, seeds_copy)
    [(story_id, article_count, outlet_count, title)] = query(
        db, "SELECT story_id, article_count, outlet_count, title FROM stories"
    )
    assert (article_count, outlet_count) == (2, 2)
    assert title.startswith("Kazakh President Tokayev")
    methods = sorted(row[0] for row in query(db, "SELECT method FROM story_articles"))
    assert methods == ["founder", "similar"]

    assert main(["stories", "--db", str(db), "--since", "2022-01-01", "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert story_id in out and "Sputnik International, The Limited Times" in out and "(1 row)" in out
    assert main(["stories", "--db", str(db), "--since", "2022-01-08"]) == 0
    assert "(0 rows)" in capsys.readouterr().out


def test_copies_are_duplicates_or_near_duplicates_and_unrelated_pages_stay_apart(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    ingest(capsys, db, seeds_copy)
    syndicated = variant(tmp_path, "syndicated.txt", "https://mirror.example.com/world/kazakh-fire.html?utm_source=x")
    edited = variant(
        tmp_path,
        "edited.txt",
        "https://edited.example.net/kazakhstan-unrest",
        title="Tokayev Tells Troops to Shoot Without Warning as Almaty Unrest Grows",
        extra="Officials said internet access remained cut in much of the country on Friday, and flights "
        "to Almaty stayed suspended while the airport was secured by troops.",
    )
    unrelated = tmp_path / "variants" / "paris.txt"
    unrelated.write_text(UNRELATED_SAME_DAY, encoding="utf-8")
    pages = tmp_path / "pages"
    shutil.copytree(FIXTURE_PAGES, pages, ignore=shutil.ignore_patterns("*.json", "*.md"))
    summary = ingest(capsys, db, syndicated, edited, unrelated, pages)
    assert summary["rejected"] == 0

    sputnik_id = query(db, f"SELECT article_id FROM articles WHERE url = '{SPUTNIK_URL}'")[0][0]
    by_url = dict(query(db, "SELECT url, article_id FROM articles"))
    copy_id = next(v for k, v in by_url.items() if k.startswith("https://mirror.example.com"))
    edited_id = next(v for k, v in by_url.items() if k.startswith("https://edited.example.net"))
    assert query(db, f"SELECT duplicate_of FROM articles WHERE article_id = '{copy_id}'") == [(sputnik_id,)]
    [(similarity,)] = query(
        db,
        "SELECT similarity FROM near_duplicates WHERE "
        f"'{edited_id}' IN (article_id, other_id) AND '{sputnik_id}' IN (article_id, other_id)",
    )
    assert stories.NEAR_DUPLICATE_THRESHOLD <= similarity < 1.0

    [(story_id, article_count, outlet_count)] = query(
        db, "SELECT story_id, article_count, outlet_count FROM stories WHERE article_count > 1"
    )
    members = {row[0] for row in query(db, f"SELECT article_id FROM story_articles WHERE story_id = '{story_id}'")}
    assert {sputnik_id, copy_id, edited_id} <= members
    assert len(members) == 4  # the two seeds, the copy, the edited copy: no fixture page, not the Paris floods
    # The syndicated copy is not counted; the edited copy's dump names Sputnik as its site, so 2 outlets.
    assert (article_count, outlet_count) == (3, 2)
    per_day = query(db, "SELECT articles FROM articles_per_source_day")
    assert sum(row[0] for row in per_day) == len(by_url) - 1


def test_a_later_related_article_joins_the_existing_story(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    ingest(capsys, db, seeds_copy)
    [(story_id,)] = query(db, "SELECT story_id FROM stories")
    later = tmp_path / "later.txt"
    later.write_text(
        " date 2022-01-08 https://news.example.org/2022/01/08/kazakhstan-tokaev\n\n"
        "Kazakhstan: Tokaev says order restored in Almaty after deadly unrest\n\n"
        "Kazakh President Kassym-Jomart Tokaev said on Saturday that constitutional order had been restored in "
        "Almaty after protesters and armed rioters clashed with police, and that CSTO peacekeepers would leave "
        "soon. Tokaev repeated that security forces may open fire on terrorists without warning. Dozens of "
        "protesters and police officers were killed in the unrest, which began over fuel prices.\n",
        encoding="utf-8",
    )
    ingest(capsys, db, later)
    assert query(db, "SELECT story_id, article_count, outlet_count FROM stories") == [(story_id, 3, 3)]


def test_signatures_are_deterministic_and_transliterations_share_terms() -> None:
    words = stories.normalise_words("Kazakh President Kassym-Jomart Tokayev stated on Friday")
    first = stories.minhash(words)
    assert (first == stories.minhash(list(words))).all()
    assert stories.estimated_jaccard(first, first) == 1.0
    assert stories.term_key("tokayev") == stories.term_key("tokaev") == stories.term_key("tukayev")
    assert stories.term_key("kassym") == stories.term_key("qassem") == stories.term_key("kasim")
    assert stories.normalised_text_hash("Hello,  World!") == stories.normalised_text_hash("hello world")


@pytest.mark.parametrize(
    "text",
    ["Crème brûlée à Zürich, naïve café", "Ελληνικά ΆΈΉ", "עִבְרִית", "हिन्दी", "Tiếng Việt", "ﬁne ＡＢＣ", "plain ascii"],
)
def test_accents_are_stripped_exactly_as_unicode_defines_combining_marks(text: str) -> None:
    folded = unicodedata.normalize("NFKD", text.casefold())
    reference = stories.WORD.findall("".join(char for char in folded if not unicodedata.combining(char)))
    assert stories.normalise_words(text) == reference
    assert stories.normalise_words(text) == stories.normalise_words(text)  # the cached table gives the same


def test_signatures_of_an_older_scheme_are_recomputed_and_stories_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "news.duckdb"
    ingest(capsys, db, SPUTNIK, LIMITED)
    before = query(db, "SELECT article_id, story_id FROM story_articles ORDER BY ALL")
    fresh = query(db, "SELECT article_id, minhash FROM article_signatures ORDER BY ALL")
    with connect(db) as con:  # as a database written before migration 4 left it: other signature values
        con.execute("UPDATE article_signatures SET minhash = repeat('\\x00', 512)::BLOB")
        # Migration 4 as migrate() runs it (later ones, such as 7's table rebuilds, expect older tables).
        con.execute((SQL_DIR / "004_minhash_multiply_shift.sql").read_text(encoding="utf-8"))
    with connect(db) as con:  # the migration dropped them
        assert con.execute("SELECT count(*) FROM article_signatures").fetchall() == [(0,)]
    again = ingest(capsys, db, SPUTNIK, LIMITED)  # loads nothing, yet clusters what is pending
    assert (again["loaded"], again["unchanged"]) == (0, 2)
    assert query(db, "SELECT article_id, minhash FROM article_signatures ORDER BY ALL") == fresh
    assert query(db, "SELECT article_id, story_id FROM story_articles ORDER BY ALL") == before
