"""Duplicates, near-duplicates, events and stories: real texts end to end on real DuckDB files, plus the pure parts."""

from __future__ import annotations

import json
import shutil
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from newsdag.flows.cli import main
from newsdag.tasks import stories
from newsdag.warehouse.db import SQL_DIR, connect
from tests.conftest import SEEDS, fixture_pages

CASES = Path(__file__).parent / "fixtures" / "stories" / "allsides_cases.jsonl"  # see LICENSES.md there
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


def copy_fixture_pages(directory: Path) -> None:
    """The saved pages (real news of other outlets and days) into `directory`."""
    directory.mkdir()
    for page in fixture_pages():
        shutil.copyfile(page, directory / page.name)


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


def test_the_seeds_are_one_event_with_nothing_else_and_the_cli_lists_it(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    pages = tmp_path / "pages"  # real pages of other news, other outlets and days
    copy_fixture_pages(pages)
    ingest(capsys, db, seeds_copy, pages)
    [(event_id, story_id, article_count, outlet_count, title)] = query(
        db, "SELECT event_id, story_id, article_count, outlet_count, title FROM events WHERE article_count > 1"
    )
    assert (article_count, outlet_count) == (2, 2)
    assert title.startswith("Kazakh President Tokayev")
    members = query(
        db,
        f"SELECT a.input, ea.method FROM event_articles ea JOIN articles a USING (article_id) "
        f"WHERE event_id = '{event_id}' ORDER BY ea.method",
    )
    assert [(Path(path).name, method) for path, method in members] == [
        (SPUTNIK.name, "founder"),
        (LIMITED.name, "similar"),
    ]
    assert query(db, f"SELECT event_count, article_count FROM stories WHERE story_id = '{story_id}'") == [(1, 2)]
    pages_count = len(list(pages.glob("*.html")))
    assert query(db, "SELECT count(*), count(*) FILTER (WHERE story_method = 'founder') FROM events") == [
        (pages_count + 1, pages_count + 1)
    ]

    assert main(["stories", "--db", str(db), "--limit", "20"]) == 0
    out = capsys.readouterr().out
    assert story_id in out and event_id in out and "Sputnik International, The Limited Times" in out
    assert f"({pages_count + 1} stories, {pages_count + 1} events)" in out
    assert main(["events", "--db", str(db), "--since", "2022-01-07", "--limit", "20"]) == 0
    out = capsys.readouterr().out
    assert event_id in out
    assert main(["stories", "--db", str(db), "--since", "2030-01-08"]) == 0
    assert "(0 stories, 0 events)" in capsys.readouterr().out


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
    copy_fixture_pages(pages)
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

    [(event_id, article_count, outlet_count)] = query(
        db, "SELECT event_id, article_count, outlet_count FROM events WHERE article_count > 1"
    )
    members = {row[0] for row in query(db, f"SELECT article_id FROM event_articles WHERE event_id = '{event_id}'")}
    assert {sputnik_id, copy_id, edited_id} <= members
    assert len(members) == 4  # the two seeds, the copy, the edited copy: no fixture page, not the Paris floods
    # The syndicated copy is not counted; the edited copy's dump names Sputnik as its site, so 2 outlets.
    assert (article_count, outlet_count) == (3, 2)
    methods = dict(query(db, f"SELECT article_id, method FROM event_articles WHERE event_id = '{event_id}'"))
    assert (methods[copy_id], methods[edited_id]) == ("duplicate", "near-duplicate")
    assert query(db, "SELECT count(*) FROM stories WHERE article_count > 1") == [(1,)]
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


def test_a_near_duplicate_that_joins_a_stored_event_stays_in_it_when_another_stored_event_is_read() -> None:
    # Grouping once keyed its groups by their count: after the near-duplicate's own group merged into the stored
    # event's, the next stored event took that event's key and the article was left in no event (a KeyError).
    day = date(2026, 3, 2)
    text = "The harbour authority closed the northern pier after a storm damaged the loading cranes on Monday."
    new = stories.fingerprint(
        stories.ClusterInput("new", "https://a.example/new", None, "s", "Pier closed", None, text, "sha-new", day)
    )
    known = stories.Known(
        current_event={},
        current_story={},
        exact_original={},
        lsh_neighbours={"new": [("copy", new.signature, "another text", "event-1", "story-1")]},
        candidates={"new": [stories.Candidate("other", day, 0.05, "event-2", "story-2")]},
        events={
            "event-1": stories.EventState("story-1", day, day, 1),
            "event-2": stories.EventState("story-2", day, day, 1),
        },
    )
    decisions, pairs = stories.decide([new], known)
    assert [(d.event_id, d.story_id, d.method) for d in decisions] == [("event-1", "story-1", "near-duplicate")]
    assert pairs == [("copy", "new", 1.0)]


def test_function_words_of_other_languages_are_not_story_terms() -> None:
    # Two German reports of one Saturday on different events (the fundus dev pages Gamestar and Golem of
    # 2024-04-28) shared "soll", "dass", "einer", "nicht": in a mostly English warehouse they are rare, so alike.
    words = stories.normalise_words("Samsung soll am Samstag, dass einer nicht während über Smartphones zerstören")
    assert set(stories.story_terms(None, None, words)) == {"samsun", "smartp", "zersto"}


def test_signatures_are_deterministic_and_story_terms_are_cut_words_and_numbers() -> None:
    words = stories.normalise_words("Kazakh President Kassym-Jomart Tokayev stated on Friday")
    first = stories.minhash(words)
    assert (first == stories.minhash(list(words))).all()
    assert stories.estimated_jaccard(first, first) == 1.0
    assert stories.normalised_text_hash("Hello,  World!") == stories.normalised_text_hash("hello world")
    # Inflections meet on their first six letters; a toll or a sum is a term, a year or a digit is not.
    assert stories.term_key("protesters") == stories.term_key("protests") == "protes"
    assert [stories.term_key(word) for word in ("266", "000", "2021", "7", "said", "gop")] == ["#266"] + [None] * 5
    terms = stories.story_terms("Cheney ousted", None, stories.normalise_words("House Republicans voted 266 times"))
    assert terms == {
        "cheney": stories.TITLE_BOOST,
        "ousted": stories.TITLE_BOOST,
        "house": 1.0,
        "republ": 1.0,
        "voted": 1.0,
        "#266": 1.0,
        "times": 1.0,
    }


@pytest.mark.parametrize(
    "text",
    ["Crème brûlée à Zürich, naïve café", "Ελληνικά ΆΈΉ", "עִבְרִית", "हिन्दी", "Tiếng Việt", "ﬁne ＡＢＣ", "plain ascii"],
)
def test_accents_are_stripped_exactly_as_unicode_defines_combining_marks(text: str) -> None:
    folded = unicodedata.normalize("NFKD", text.casefold())
    reference = stories.WORD.findall("".join(char for char in folded if not unicodedata.combining(char)))
    assert stories.normalise_words(text) == reference
    assert stories.normalise_words(text) == stories.normalise_words(text)  # the cached table gives the same


def test_a_warehouse_from_before_events_gets_events_inside_the_stories_it_had(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "news.duckdb"
    ingest(capsys, db, SPUTNIK, LIMITED)
    before = query(db, "SELECT article_id, story_id FROM story_articles ORDER BY ALL")
    with connect(db) as con:  # as a warehouse from before events left it: stories, no events, older terms
        con.execute("DELETE FROM events")
        con.execute("DELETE FROM event_articles")
        con.execute("UPDATE story_terms SET term = 'tkv' WHERE term = 'tokaye'")
        # Migration 12 as migrate() runs it (earlier ones, such as 7's table rebuilds, expect older tables).
        con.execute((SQL_DIR / "012_events.sql").read_text(encoding="utf-8"))
    with connect(db) as con:  # it dropped the terms and signatures: every article is pending
        assert con.execute("SELECT count(*) FROM article_signatures").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM story_terms").fetchall() == [(0,)]
    again = ingest(capsys, db, SPUTNIK, LIMITED)  # loads nothing, yet clusters what is pending
    assert (again["loaded"], again["unchanged"]) == (0, 2)
    assert query(db, "SELECT article_id, story_id FROM story_articles ORDER BY ALL") == before
    [(story_id,)] = {(row[1],) for row in before}
    # Both seeds are one event, founded inside the story they had ("kept"), which now counts it.
    assert query(db, "SELECT story_id, story_method, article_count FROM events") == [(story_id, "kept", 2)]
    assert query(db, "SELECT event_count FROM stories") == [(1,)]
    assert query(db, "SELECT count(*) FROM story_terms WHERE term = 'tokaye'") == [(2,)]  # both name him


def cases(tmp_path: Path, *events: int, reverse: bool = False) -> Path:
    """The AllSides fixture lines of these roundups as a JSONL dump (optionally in reverse order)."""
    lines = [line for line in CASES.read_text(encoding="utf-8").splitlines() if json.loads(line)["event"] in events]
    path = tmp_path / ("reversed.jsonl" if reverse else "cases.jsonl")
    path.write_text("\n".join(lines[::-1] if reverse else lines) + "\n", encoding="utf-8")
    return path


def partition(db: Path, level: str) -> list[tuple[int, ...]]:
    """Each event's (or story's) articles as the AllSides roundups they come from, sorted."""
    table, column = ("event_articles", "event_id") if level == "events" else ("story_articles", "story_id")
    rows = query(db, f"SELECT a.url, c.{column} FROM articles AS a JOIN {table} AS c USING (article_id)")
    roundup = {json.loads(line)["url"]: json.loads(line)["event"] for line in CASES.read_text().splitlines()}
    clusters: dict[str, list[int]] = {}
    for url, cluster in rows:
        clusters.setdefault(cluster, []).append(roundup[url])
    return sorted(tuple(sorted(members)) for members in clusters.values())


def test_three_outlets_on_one_event_merge_and_another_trump_case_that_day_stays_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2021-05-25: a grand jury in the Manhattan DA's Trump inquiry (The Hill, Washington Post, Washington
    # Examiner) and Steve Bannon's fraud indictment dismissed (AP, Bloomberg, Fox News): both prosecutions
    # of Trump's circle, one day, six outlets.
    db = tmp_path / "news.duckdb"
    ingest(capsys, db, cases(tmp_path, 6010, 6011))
    sizes = query(db, "SELECT article_count, outlet_count FROM events ORDER BY ALL")
    assert sizes == [(3, 3), (3, 3)]
    assert partition(db, "events") == [(6010, 6010, 6010), (6011, 6011, 6011)]
    assert partition(db, "stories") == [(6010, 6010, 6010), (6011, 6011, 6011)]


def test_a_development_two_days_later_is_a_new_event_in_the_same_story(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2021-05-12 the House GOP removes Liz Cheney from its leadership; 2021-05-14 it elects Elise Stefanik in
    # her place: two events (three outlets each) of one story.
    db = tmp_path / "news.duckdb"
    ingest(capsys, db, cases(tmp_path, 6051))
    [(story_id, first_event)] = query(db, "SELECT story_id, event_id FROM events")
    ingest(capsys, db, cases(tmp_path, 6042))  # a later run: the first event and its story stay as they were
    assert partition(db, "events") == [(6042, 6042, 6042), (6051, 6051, 6051)]
    assert partition(db, "stories") == [(6042, 6042, 6042, 6051, 6051, 6051)]
    timeline = query(
        db, f"SELECT event_id, story_method, article_count FROM story_timeline WHERE story_id = '{story_id}'"
    )
    assert [(row[0] == first_event, row[1], row[2]) for row in timeline] == [
        (True, "founder", 3),
        (False, "similar", 3),
    ]
    assert query(db, "SELECT event_count, article_count, outlet_count FROM stories") == [(2, 6, 5)]  # The Hill twice


def test_events_do_not_depend_on_the_order_the_articles_come_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forward, backward = tmp_path / "forward.duckdb", tmp_path / "backward.duckdb"
    ingest(capsys, forward, cases(tmp_path, 6010, 6011, 6042, 6051))
    ingest(capsys, backward, cases(tmp_path, 6010, 6011, 6042, 6051, reverse=True))
    assert partition(forward, "events") == partition(backward, "events")
    assert partition(forward, "events") == [
        (6010, 6010, 6010),
        (6011, 6011, 6011),
        (6042, 6042, 6042),
        (6051, 6051, 6051),
    ]


def test_events_can_be_filtered_by_the_genre_their_pages_state(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    opinion = tmp_path / "opinion" / "washington-examiner.html.gz"  # article:section "Opinion"
    opinion.parent.mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "rules" / "aeb_e4c6a3b48240.html.gz", opinion)
    ingest(capsys, db, seeds_copy, opinion)
    [(event_id,)] = query(db, "SELECT event_id FROM stg_event_articles WHERE genre = 'opinion'")
    assert main(["events", "--db", str(db), "--genre", "opinion"]) == 0
    out = capsys.readouterr().out
    assert event_id in out and "(1 row)" in out
    assert main(["events", "--db", str(db), "--genre", "news"]) == 0
    out = capsys.readouterr().out
    assert event_id not in out and "(1 row)" in out  # the seeds' event: pages that say nothing count as news
    assert query(db, f"SELECT news_articles, genres FROM latest_events WHERE event_id = '{event_id}'") == [
        (0, ["opinion"])
    ]
