"""Tests for the plain-text dump parser: the two seed dumps, invented sites, and hostile input."""

from __future__ import annotations

import json
import random
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsdag.tasks.errors import ExtractError
from newsdag.tasks.models import ExtractedFields
from newsdag.tasks.textdump import parse_text_dump

SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "articles"
SPUTNIK = SEEDS / "000_912fc46eca8d7d13.txt"
LIMITED_TIMES = SEEDS / "003_2a9d2f42b516f131.txt"

# Generous wall-clock bound for hostile inputs: linear parsing takes well under a second here,
# a quadratic regex would take minutes.
HOSTILE_INPUT_SECONDS = 10.0


def parse_file(path: Path) -> ExtractedFields:
    return parse_text_dump(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sputnik() -> ExtractedFields:
    return parse_file(SPUTNIK)


@pytest.fixture(scope="module")
def limited() -> ExtractedFields:
    return parse_file(LIMITED_TIMES)


# --- Sputnik: date header, repeated title, tags, author avatar line, contact line, glued body ------


def test_sputnik_title_is_the_headline_once(sputnik: ExtractedFields) -> None:
    assert sputnik.title == "Kazakh President Tokayev Orders to Open Fire on Terrorists Without Any Warning"


def test_sputnik_description_is_the_standfirst(sputnik: ExtractedFields) -> None:
    assert sputnik.description == (
        "According to Kazakh authorities, several National Guard officers were killed, and over 200 "
        "were wounded amid mass riots that hit the country over the week."
    )


def test_sputnik_url_site_language_authors(sputnik: ExtractedFields) -> None:
    assert sputnik.url == (
        "https://sputniknews.com/20220107/"
        "kazakh-president-tokayev-orders-to-open-fire-on-terrorists-without-any-warning-1092086667.html"
    )
    assert sputnik.site_name == "Sputnik International"
    assert sputnik.language == "en"
    assert sputnik.authors == ("Evgeny Mikhaylov",)


def test_sputnik_dates_keep_time_and_offset(sputnik: ExtractedFields) -> None:
    assert sputnik.published is not None and sputnik.modified is not None
    assert sputnik.published.raw == "2022-01-07T08:36+0000"
    assert sputnik.published.value == datetime(2022, 1, 7, 8, 36, tzinfo=UTC)
    assert sputnik.published.utc_offset == "+00:00"
    assert sputnik.published.precision == "minute"
    assert sputnik.published.source == "text"
    assert sputnik.modified.raw == "2022-01-07T09:06+0000"
    assert sputnik.modified.value == datetime(2022, 1, 7, 9, 6, tzinfo=UTC)
    assert sputnik.modified.precision == "minute"


def test_sputnik_tags_deduplicated_in_order(sputnik: ExtractedFields) -> None:
    assert sputnik.tags == (
        "kazakhstan",
        "kassym-jomart tokayev",
        "collective security treaty organization (csto)",
        "almaty",
        "csto",
    )


def test_sputnik_body_bounds_and_restored_paragraphs(sputnik: ExtractedFields) -> None:
    text = sputnik.text
    assert text.startswith("Kazakh President Kassym-Jomart Tokayev stated on Friday")
    assert text.endswith("to stop the violence and restore order.")
    assert "open fire without warning.\n\nAccording to Tokayev, at least 20,000 gunmen" in text
    assert "for a short time.\n\nHe also stressed" in text
    # Sentences within one paragraph stay together.
    assert "attacked Almaty. He said" in text
    assert text.count("\n\n") == 5


def test_sputnik_body_has_no_metadata(sputnik: ExtractedFields) -> None:
    text = sputnik.text
    for boilerplate in ("http", "/html/head", "feedback@", "+7495", "1920 1080", "en_EN", "kassym-jomart tokayev"):
        assert boilerplate not in text
    assert sputnik.description not in text
    assert not any(line.strip() in {"kazakhstan", "almaty", "csto", "2022", "News"} for line in text.split("\n"))


# --- The Limited Times: site-name header, outlet suffix, captions, nav and footer ------------------


def test_limited_title_drops_translated_outlet_name(limited: ExtractedFields) -> None:
    assert limited.title == "Kazakhstan: President approved use of deadly force against rebels"


def test_limited_header_fields(limited: ExtractedFields) -> None:
    assert limited.site_name == "The Limited Times"
    assert limited.url is None
    assert limited.language is None
    assert limited.authors == ()
    assert limited.tags == ()


def test_limited_description_is_the_teaser_standfirst(limited: ExtractedFields) -> None:
    assert limited.description is not None
    assert limited.description.startswith("After armed protesters took over key buildings and the airport,")
    assert limited.description.endswith("Who landed in the country")


def test_limited_dates_ignore_footer_link_timestamp(limited: ExtractedFields) -> None:
    assert limited.published is not None
    assert limited.published.raw == "2022-01-07T10:38:27.509Z"
    assert limited.published.value == datetime(2022, 1, 7, 10, 38, 27, 509000, tzinfo=UTC)
    assert limited.published.utc_offset == "+00:00"
    assert limited.published.precision == "second"
    assert limited.modified is None


def test_limited_body_bounds_keep_short_quote_lines(limited: ExtractedFields) -> None:
    text = limited.text
    assert text.startswith("Kazakh President Qassem-Jumert Tokayev said today (Friday)")
    assert text.endswith("where hundreds marched in protest on the city’s main streets.")
    assert (
        '"Nonsense. What kind of negotiations can be conducted with criminals and murderers?"'
        "\n\nSaid Tokaev.\n\nKazakhstan's Interior Ministry" in text
    )
    assert '"Those who do not surrender will be eliminated," Tokayev said.' in text


def test_limited_body_has_no_captions_nav_or_footer(limited: ExtractedFields) -> None:
    text = limited.text
    for boilerplate in (
        "Photo:",
        "Were we wrong?",
        "Fixed!",
        "If you found an error",
        "Source:",
        "You may like",
        "Trends 24h",
        "Latest",
        "All news articles",
        "©",
        "Privacy",
        "external sources",
        "Now you can see non-English news",
        "The Limited Times",
        "Who landed in the country",
        "2024-04-13",
    ):
        assert boilerplate not in text


# --- Invented sites: different wording, credits, headers -------------------------------------------

HARBOR_GAZETTE = """Harbor Gazette

Home | World | Business | Sport

Storm Surge Floods Coastal Towns as Sea Walls Fail - Harbor Gazette

Residents were evacuated overnight as record tides overwhelmed defences along the coast.

By Jane Doe and John Roe

2024-03-05T14:20:00+01:00

2024-03-05T16:45:00+01:00

A long night on the coast

Emergency crews worked through the night to move hundreds of residents from low-lying streets, \
officials said on Tuesday.

A flooded high street in Portvale (Photo: Reuters)

"We have never seen water this high," said the town's mayor, Alan Price.

Read more: How sea walls are built

Engineers will inspect the damaged barriers once the water recedes, the council said in a statement.

It was close.

Forecasters expect calmer weather by the weekend, although more rain is likely on Thursday.

Share this story

https://harborgazette.example/newsletter

Copyright 2024 Harbor Gazette. All rights reserved.

Harbor Gazette is not responsible for the content of external sites linked from this page.

weather, flooding, coastal defences
"""

METRO_LEDGER = """date 2023-11-20 https://www.metro-ledger.example/local/2023/11/20/city-council-approves-new-bike-lanes/

City Council Approves New Bike Lanes on Main Street

City Council Approves New Bike Lanes on Main Street

en-US

The council voted seven to two for a network of protected lanes after a year of public hearings.

Maria Lopez https://cdn.metro-ledger.example/authors/maria-lopez_120x120.png

transport

cycling

city council

What the plan changes

The city council on Monday approved a plan to build twelve miles of protected bike lanes, starting \
with Main Street next spring.

Supporters packed the chamber, and several speakers urged members to move faster on safety.

Opponents argued that removing parking would hurt small shops along the corridor.The mayor said the \
plan balances both concerns.

Construction is expected to begin in April and finish before the end of next year, officials said.

Newsletter

Subscribe to our daily briefing

Contact the newsroom: tips@metro-ledger.example, +1-555-010-0199

(C) 2023 Metro Ledger Media Group | Privacy | Terms

Metro Ledger links to external websites for reference and is not responsible for their content.
"""


def test_site_header_with_separator_suffix_and_byline() -> None:
    fields = parse_text_dump(HARBOR_GAZETTE)
    assert fields.site_name == "Harbor Gazette"
    assert fields.title == "Storm Surge Floods Coastal Towns as Sea Walls Fail"
    assert fields.description == (
        "Residents were evacuated overnight as record tides overwhelmed defences along the coast."
    )
    assert fields.authors == ("Jane Doe", "John Roe")
    assert fields.tags == ("weather", "flooding", "coastal defences")
    assert fields.url is None


def test_site_header_dates_with_non_utc_offset() -> None:
    fields = parse_text_dump(HARBOR_GAZETTE)
    assert fields.published is not None and fields.modified is not None
    assert fields.published.raw == "2024-03-05T14:20:00+01:00"
    assert fields.published.value == datetime(2024, 3, 5, 14, 20, tzinfo=timezone(timedelta(hours=1)))
    assert fields.published.utc_offset == "+01:00"
    assert fields.published.precision == "second"
    assert fields.modified.raw == "2024-03-05T16:45:00+01:00"


def test_site_header_body_drops_other_boilerplate_wording() -> None:
    text = parse_text_dump(HARBOR_GAZETTE).text
    # Below the header's last metadata line everything is body: a subheading may open the article.
    assert text.startswith("A long night on the coast\n\nEmergency crews worked through the night")
    assert text.endswith("more rain is likely on Thursday.")
    # A short sentence between paragraphs is body (context), "Share this story" after them is not.
    assert "in a statement.\n\nIt was close.\n\nForecasters expect" in text
    for boilerplate in (
        "Read more",
        "Photo: Reuters",
        "Portvale",
        "Share this story",
        "Copyright",
        "rights reserved",
        "not responsible",
        "http",
        "Home |",
        "Residents were evacuated",
        "weather, flooding",
    ):
        assert boilerplate not in text


def test_date_header_without_timestamps_gives_day_precision() -> None:
    fields = parse_text_dump(METRO_LEDGER)
    assert fields.url == ("https://www.metro-ledger.example/local/2023/11/20/city-council-approves-new-bike-lanes/")
    assert fields.published is not None
    assert fields.published.source == "header"
    assert fields.published.precision == "day"
    assert fields.published.raw == "2023-11-20"
    assert fields.published.day.isoformat() == "2023-11-20"
    assert fields.published.value is None
    assert fields.modified is None


def test_date_header_site_other_fields() -> None:
    fields = parse_text_dump(METRO_LEDGER)
    assert fields.title == "City Council Approves New Bike Lanes on Main Street"
    assert fields.description == (
        "The council voted seven to two for a network of protected lanes after a year of public hearings."
    )
    assert fields.language == "en"
    assert fields.authors == ("Maria Lopez",)
    assert fields.tags == ("transport", "cycling", "city council")
    # The contact line starts with a sentence, not a name: no site name is invented from it.
    assert fields.site_name is None


def test_date_header_site_body() -> None:
    text = parse_text_dump(METRO_LEDGER).text
    assert text.startswith("What the plan changes\n\nThe city council on Monday approved a plan")
    assert text.endswith("before the end of next year, officials said.")
    assert "along the corridor.\n\nThe mayor said the plan balances both concerns." in text
    for boilerplate in (
        "Newsletter",
        "Subscribe",
        "tips@",
        "+1-555",
        "(C) 2023",
        "Privacy",
        "external websites",
        "cycling",
        "The council voted seven to two",
    ):
        assert boilerplate not in text


def test_glued_paragraphs_split_only_at_sentence_boundaries() -> None:
    dump = (
        "The U.S. Army said the update would ship with Node.js support next week, officials confirmed."
        "Critics called it late. A review is due in 2025.Officials declined to comment further on the matter."
    )
    text = parse_text_dump(dump).text
    assert text.split("\n\n") == [
        "The U.S. Army said the update would ship with Node.js support next week, officials confirmed.",
        "Critics called it late. A review is due in 2025.",
        "Officials declined to comment further on the matter.",
    ]


def test_outlet_phrase_kept_when_it_is_only_a_word_of_the_outlet_name() -> None:
    dump = "\n\n".join(
        [
            "Rockets Fired Toward Southern Israel",
            "2024-01-01T10:00:00Z",
            "Sirens sounded across several towns in the south on Monday morning, the army said.",
            "Residents were told to stay close to shelters until further notice, officials added.",
            "Source: israelhayom",
        ]
    )
    assert parse_text_dump(dump).title == "Rockets Fired Toward Southern Israel"


# --- No body and hostile input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "dump",
    [
        "",
        "\n\n  \n",
        "\x00\x00\x00",
        "Home | World | Sport\n\nFollow us on Twitter\n\nCopyright 2024 Foo Media. All rights reserved.",
        "Were we wrong?\n\nFixed!\n\nLatest\n\nTrends 24h\n\n2022\n\n1920 1080 true\n\nhttps://example.com/a.jpg",
    ],
)
def test_no_body_raises_extract_error(dump: str) -> None:
    with pytest.raises(ExtractError) as caught:
        parse_text_dump(dump)
    assert caught.value.rule == "no-body"


def test_repeated_paragraphs_are_not_body() -> None:
    line = "This line is repeated on every page of the site and so it is boilerplate text."
    with pytest.raises(ExtractError):
        parse_text_dump(f"{line}\n\n{line}")


def parse_or_no_body(dump: str) -> ExtractedFields | None:
    """The fields, or None when the parser said no-body (any other exception fails the test)."""
    try:
        return parse_text_dump(dump)
    except ExtractError as error:
        assert error.rule == "no-body"
        return None


@pytest.mark.parametrize(
    "dump",
    [
        "word " * 1_000_000,
        "a" * 5_000_000,
        "a@" * 2_500_000,
        "Ab.Cd. " * 700_000,
        "© 2020 " * 700_000,
        "Photo: " * 700_000,
        "http://x.example/a.jpg " * 200_000,
        "date 2022-01-07 " + "x" * 5_000_000,
    ],
    ids=["words", "one-token", "emails", "dots", "copyright", "captions", "urls", "date-header"],
)
def test_five_megabyte_single_line_is_fast(dump: str) -> None:
    started = time.perf_counter()
    fields = parse_or_no_body(dump)
    assert time.perf_counter() - started < HOSTILE_INPUT_SECONDS
    if fields is not None:
        assert fields.text


def test_long_prose_line_is_kept_whole() -> None:
    dump = "word " * 1_000_000
    assert parse_text_dump(dump).text == dump.strip()


def test_random_unicode_junk_is_fast_and_safe() -> None:
    rng = random.Random(20220107)
    junk = "".join(chr(rng.randrange(0, 0x2FFF)) for _ in range(1_000_000))
    started = time.perf_counter()
    parse_or_no_body(junk)
    assert time.perf_counter() - started < HOSTILE_INPUT_SECONDS


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_string_gives_fields_or_no_body(dump: str) -> None:
    fields = parse_or_no_body(dump)
    if fields is not None:
        assert fields.text.strip()


# --- Rules found by scoring rendered dumps (bench/dumps.py) ------------------------------------------

STANDFIRST_ABOVE_DATES = """Harbor Gazette

Storm Surge Floods Coastal Towns - Harbor Gazette

Residents were evacuated overnight as record tides overwhelmed defences along the whole coast.

2024-03-05T14:20:00+01:00

By Jane Doe

Emergency crews worked through the night to move hundreds of residents from low-lying streets, \
officials said on Tuesday.

A long night for the coastal towns

"We have never seen water this high," said the town's mayor, Alan Price, standing in the flooded square.

Copyright 2024 Harbor Gazette. All rights reserved.
"""


def test_timestamps_below_a_standfirst_stay_header_dates() -> None:
    fields = parse_text_dump(STANDFIRST_ABOVE_DATES)
    assert fields.published is not None
    assert fields.published.precision == "second"
    assert fields.published.utc_offset == "+01:00"
    assert fields.text.startswith("Emergency crews worked through the night")


def test_short_line_between_paragraphs_is_a_subheading() -> None:
    text = parse_text_dump(STANDFIRST_ABOVE_DATES).text
    assert 'Tuesday.\n\nA long night for the coastal towns\n\n"We have never' in text


JAPANESE_DUMP = """日経新聞

イオン銀行社長解任、金融庁処分で　持ち株社長も引責

2025-01-14T20:00:00+09:00

イオン銀行は14日、同日付で小林裕明社長（57）を解任する人事を発表した。イオン銀の持ち株会社にあたるイオンフィナンシャルサービスも藤田健二社長（55）が引責辞任する。

イオンフィナンシャルサービスは「役員体制の早急な見直しが必要と判断した」と説明している。イオン銀はリスク管理本部長の穴田将人氏を解任する人事も発表した。

© 2025 日経新聞
"""


def test_unspaced_script_paragraphs_are_prose_not_data() -> None:
    fields = parse_text_dump(JAPANESE_DUMP)
    assert fields.text.startswith("イオン銀行は14日")
    assert fields.text.endswith("人事も発表した。")
    assert fields.published is not None and fields.published.utc_offset == "+09:00"


STANDFIRST_BELOW_BYLINE = """ date 2025-02-04 https://news.example/world/jets-scrambled-over-the-arctic-2432841.html

Jets and radars: what is happening over the Arctic

2025-02-04T13:41:03+00:00

By Marco Pizzorno

Fighter jets scrambled over the Arctic as radar stations tracked russian bombers near the coast

The air defence network scrambled fighter jets from two countries on Tuesday to follow bombers that \
were flying an exercise route close to the coast, officials said.

The bombers stayed in international airspace throughout the flight, the command said in a statement.
"""


def test_headline_is_taken_above_the_dateline_not_the_standfirst_below() -> None:
    # The standfirst shares more words with the URL slug and is longer; the headline is above the date.
    assert parse_text_dump(STANDFIRST_BELOW_BYLINE).title == "Jets and radars: what is happening over the Arctic"


KICKER_HEADLINE = """ date 2026-01-05 https://news.example/sport/ski-jumping-row-23711.html

Skisprung: Zoff ums Material

Skisprung: Zoff ums Material

2026-01-05T17:58:06+00:00

Ein zu kurzer Anzug, eine zweite Sohle im Socken und verbotenes Wachs: Im Skispringen gibt es derzeit \
zahlreiche Disqualifikationen.

Der ehemalige Tournee-Sieger sagte, er habe dafür nur zwei Worte, und die seien nicht freundlich.
"""


def test_label_shaped_kicker_headline_above_the_dateline_is_the_title() -> None:
    assert parse_text_dump(KICKER_HEADLINE).title == "Skisprung: Zoff ums Material"


# --- Rendered guide and news dumps (tests/fixtures/dumps, see LICENSES.md there) --------------------

DUMPS = Path(__file__).resolve().parent / "fixtures" / "dumps"
DUMP_FIXTURES = ("wcxb_mba_date_header", "wcxb_renovation_site_line", "fundus_valencia_date_header")
WORD = re.compile(r"\w+")


def dump_fixture(name: str) -> tuple[ExtractedFields, dict]:
    """A rendered fixture dump parsed, and its expectations (the page's truth as rendered)."""
    fields = parse_file(DUMPS / f"{name}.txt")
    expected = json.loads((DUMPS / f"{name}.expected.json").read_text(encoding="utf-8"))
    return fields, expected


def body_lines(text: str) -> list[str]:
    """The text's lines, one per block or list item."""
    return [line for line in text.split("\n") if line]


@pytest.mark.parametrize("name", DUMP_FIXTURES)
def test_rendered_dump_body_is_the_article_word_for_word(name: str) -> None:
    # Tables, lists, subheadings, credit and source lines in; header, captions, links and tail out.
    fields, expected = dump_fixture(name)
    assert WORD.findall(fields.text) == WORD.findall(expected["text"])


@pytest.mark.parametrize("name", DUMP_FIXTURES)
def test_rendered_dump_title_and_day(name: str) -> None:
    fields, expected = dump_fixture(name)
    assert fields.title == expected["title"]
    assert fields.published is not None
    assert fields.published.day.isoformat() == expected["date"][:10]


def test_guide_table_rows_and_its_source_line_stay_in_the_body() -> None:
    fields, _ = dump_fixture("wcxb_mba_date_header")
    lines = body_lines(fields.text)
    assert (
        "| JOB | MEDIAN ANNUAL SALARY (MAY 2024) | JOB GROWTH RATE (2024-2034) | MINIMUM EDUCATION REQUIRED |" in lines
    )
    assert "| Accountants and Auditors | $81,680 | 5% | Bachelor’s |" in lines
    # "Source: ..." under a table mid-article does not end the body: the FAQ after it is kept.
    source = lines.index("Source: Bureau of Labor Statistics")
    assert lines[source - 1] == "| Accountants and Auditors | $81,680 | 5% | Bachelor’s |"
    assert lines[source + 1] == "Frequently Asked Questions About Online MBA Programs"
    assert fields.text.endswith("The center can also help you improve your resume and interviewing skills.")


def test_guide_list_items_and_subheadings_stay_in_the_body() -> None:
    fields, _ = dump_fixture("wcxb_mba_date_header")
    lines = body_lines(fields.text)
    heading = lines.index("Why You Should Earn Your MBA Degree Online")
    assert (
        lines[heading + 1] == "- Some employers require candidates for leadership and executive roles to have an MBA."
    )
    assert "- Asynchronous online MBA classes let you complete coursework on your own time." in lines


def test_guide_date_header_metadata_and_tail() -> None:
    fields, _ = dump_fixture("wcxb_mba_date_header")
    assert fields.url == "https://www.affordablecollegesonline.org/degrees/mba-programs/"
    assert fields.authors == ("Thomas Broderick", "Nalea Ko")
    assert fields.tags == ("online", "programs")
    assert fields.language == "en"
    assert fields.published is not None and fields.published.precision == "day"
    assert fields.text.startswith("Want to improve your career prospects and salary potential")
    for boilerplate in ("feedback@", "+4934", "1920 1080 true", "en_US", "online, programs", "https://"):
        assert boilerplate not in fields.text
    assert not any(line in {"online", "programs", "2025", "Business"} for line in body_lines(fields.text))


def test_title_wrapped_over_three_lines_is_joined_and_its_site_suffix_dropped() -> None:
    dump = (DUMPS / "wcxb_renovation_site_line.txt").read_text(encoding="utf-8")
    assert "House Renovation Costs in\nthe Bay Area: Room-by-\nRoom Breakdown — Gvbuild" in dump
    fields, _ = dump_fixture("wcxb_renovation_site_line")
    assert fields.title == "House Renovation Costs in the Bay Area: Room-by-Room Breakdown"
    assert fields.site_name == "Gvbuild"


def test_guide_ending_on_a_table_keeps_the_table_and_its_source_line() -> None:
    fields, _ = dump_fixture("wcxb_renovation_site_line")
    assert fields.text.endswith("| This much | 24,037 | No |\n\nSource: Kitchen Custom Lighting")
    for boilerplate in (
        "Fixed!",
        "Share this article",
        "If you found an error",
        "Source: gvbuild",
        "Top stories",
        "More from this section",
        "Copyright",
        "protected by copyright",
        "house, renovation",
        "Politics scene, Photo: Reuters",
        "inikosoftseo",
    ):
        assert boilerplate not in fields.text


def test_spaced_standfirst_below_the_timestamp_is_the_description() -> None:
    fields, _ = dump_fixture("wcxb_renovation_site_line")
    assert fields.description is not None
    assert fields.description.startswith("What you need to know about house renovation costs in the bay area")
    assert fields.text.startswith("Renovating or remodeling your Bay Area home can be a fun and rewarding experience")
    lines = body_lines(fields.text)
    assert "- Minor remodels: $15,000 – $50,000" in lines
    assert (
        "1. Labor: Paying Bay Area contractors and skilled tradespeople is at a premium because of requirements."
        in lines
    )
    assert fields.published is not None and fields.published.raw == "2025-09-08"


def test_news_dump_lead_credit_line_captions_and_links() -> None:
    fields, _ = dump_fixture("fundus_valencia_date_header")
    # A lead without a closing stop is body; a line that is only a photo credit is body; a caption
    # (words, then a short credit) and a "Read more" link are not.
    assert fields.text.startswith("Police in Spanish city continue to search debris after blaze")
    lines = body_lines(fields.text)
    assert "Photo: Experts Spanish" in lines
    assert "Opinion scene, Photo: Getty Images" not in fields.text
    assert "Read more" not in fields.text
    assert fields.text.endswith("might have worsened it.")


def test_news_dump_header_fields() -> None:
    fields, _ = dump_fixture("fundus_valencia_date_header")
    assert fields.published is not None and fields.modified is not None
    assert fields.published.raw == "2024-02-24T11:42:23+00:00"
    assert fields.published.utc_offset == "+00:00"
    assert fields.modified.raw == "2024-02-24T12:42:23+00:00"
    # No personal name: the author line's credit is the author.
    assert fields.authors == ("Guardian staff reporter",)
    # The lowercase pieces of the wrapped headline ("rises to 10 as remains of") are not keywords.
    assert fields.tags == ("death", "valencia", "rises")
    for boilerplate in ("feedback@", "1920 1920 true", "en_EN", "Culture", "death, valencia"):
        assert boilerplate not in fields.text
