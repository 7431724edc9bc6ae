"""Each extraction rule added for pages outside the dev sets, on a real page that needs it.

The pages (tests/fixtures/rules/, see LICENSES.md there) come from the shared eval sets; each test
asserts the one field its rule decides, so a test fails when its rule is taken out.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from functools import cache
from pathlib import Path

from newsdag.tasks.extract import extract_document, restore_dropped_paragraphs
from newsdag.tasks.models import Article
from tests.conftest import make_document

RULE_PAGES = Path(__file__).parent / "fixtures" / "rules"


@cache
def article(name: str) -> Article:
    """The rule page `name` extracted as ingest extracts it, with the URL it was saved from."""
    url = json.loads((RULE_PAGES / "pages.json").read_text(encoding="utf-8"))[f"{name}.html.gz"]["url"]
    result = extract_document(make_document(gzip.decompress((RULE_PAGES / f"{name}.html.gz").read_bytes()), url=url))
    assert isinstance(result, Article), result
    return result


# --- text ------------------------------------------------------------------------------------------


def test_interview_questions_the_precise_run_dropped_come_back() -> None:
    text = article("fundus_uk-EveningStandard_2024_10_24").text
    assert "What is his status report on the Starmer government, three months in?" in text
    # The answers around it were there already, and are not repeated.
    assert text.count("What is his status report on the Starmer government") == 1


def test_a_restored_line_must_read_as_a_sentence_between_kept_lines() -> None:
    kept = "First paragraph of the story.\nThird paragraph of the story."
    fuller = (
        "Share this\nFirst paragraph of the story.\nWhat did the minister say then?\nRead more\n"
        "Third paragraph of the story.\nA closing sentence after the kept text."
    )
    assert restore_dropped_paragraphs(kept, fuller).split("\n") == [
        "First paragraph of the story.",
        "What did the minister say then?",
        "Third paragraph of the story.",
    ]


def test_a_first_line_doctype_does_not_cost_the_body() -> None:
    # libxml2 loses this page's structure unless the doctype is repaired as trafilatura repairs it.
    text = article("wcxb_test-5672").text
    assert "The title gives it away, but I really believe Shopify is the best online store platform" in text
    assert len(text.split()) > 3000


def test_a_page_with_an_xml_declaration_is_read() -> None:
    page = article("htmldate_bbaw-267110cb82fb")
    assert page.title.startswith("Flächenverbrauch für Fleisch")
    assert page.published is not None and page.published.day.isoformat() == "2022-01-21"


def test_text_and_title_are_composed_unicode() -> None:
    # The page writes 'Südtiroler' as 'u' + a combining diaeresis; a search for 'Südtiroler' must find it.
    page = article("fundus_it-Tageszeitung_2025_04_16")
    assert "Südtiroler Gesellschaft für Allgemeinmedizin" in page.text
    assert unicodedata.is_normalized("NFC", page.text)
    assert unicodedata.is_normalized("NFC", page.title or "")


# --- titles ----------------------------------------------------------------------------------------


def test_a_brand_suffix_the_h1_leaves_out_is_dropped() -> None:
    # og:title and <title>: '10 Easy Steps for a Great Interior Design | Tarkett'; the <h1> has no brand.
    assert article("wcxb_dev-0012").title == "10 Easy Steps for a Great Interior Design"


def test_a_kicker_two_markups_carry_is_kept() -> None:
    # JSON-LD and og:title both have the kicker; only the <h1> leaves it out.
    title = article("fundus_at-ORF_2024_11_22").title
    assert title == "Nach Gaetz-Rückzug: Trump-Anwältin soll Justizministerin werden"


def test_a_short_pipe_label_no_markup_confirms_is_dropped() -> None:
    # og:title, twitter:title and <title>: 'Homestead gardening ... in Rajshahi | District'; no <h1> says otherwise.
    title = article("wcxb_dev-0395").title
    assert title == "Homestead gardening makes rural communities more self-reliant in Rajshahi"


# --- dates -----------------------------------------------------------------------------------------


def test_the_publishers_offset_keeps_the_day_it_wrote() -> None:
    # JSON-LD gives 2023-11-09T06:35:29Z; the page's other markup the same instant at -08:00.
    published = article("htmldate_bbaw-5ce76739f1e1").published
    assert published is not None
    assert published.day.isoformat() == "2023-11-08"
    assert published.utc_offset == "-08:00"
    assert published.value is not None and published.value.isoformat() == "2023-11-08T22:35:29-08:00"


def test_the_url_day_corrects_a_utc_instant_a_day_off() -> None:
    # JSON-LD: 2023-11-09T05:30:59Z; the URL: /2023/11/08/. The instant stays, the day is the publisher's.
    published = article("htmldate_bbaw-45cd3172b340").published
    assert published is not None
    assert published.day.isoformat() == "2023-11-08"
    assert published.value is not None and published.value.isoformat() == "2023-11-09T05:30:59+00:00"


def test_a_date_far_from_the_url_day_is_some_other_date() -> None:
    # A <time> of 2009 on a page whose URL says /2019/10/22/.
    published = article("htmldate_bbaw-1d41a26e3960").published
    assert published is not None
    assert (published.day.isoformat(), published.source) == ("2019-10-22", "url")


def test_a_day_written_under_the_headline_beats_a_modified_date() -> None:
    # The markup has only a modified time (2024-10-28); the byline under the <h1> says when it was published.
    published = article("wcxb_dev-4659").published
    assert published is not None
    assert (published.day.isoformat(), published.source, published.precision) == ("2024-04-26", "text", "day")


# --- authors ---------------------------------------------------------------------------------------


def test_the_byline_under_the_headline_is_read() -> None:
    # "by: Ziyi Xu, Dec 17, 2025" right after the <h1>: the date is not part of the name.
    assert article("wcxb_dev-0407").authors == ("Ziyi Xu",)


def test_a_name_role_date_line_under_the_headline_gives_the_name() -> None:
    # "Aaron Ricadela | Senior Writer | July 2, 2025"
    assert article("wcxb_test-4082").authors == ("Aaron Ricadela",)


def test_a_person_named_later_wins_over_the_sites_own_name() -> None:
    # The first markup names only the site (LTO); a person is named further down.
    assert article("fundus_de-LTO_2025_10_20").authors == ("Dr. Max Kolter",)


def test_names_in_a_related_articles_box_are_not_the_author() -> None:
    assert article("wcxb_dev-4673").authors == ("midwestlifeandstyle",)


def test_a_byline_label_is_not_part_of_the_name() -> None:
    # The page's author element reads "Author: Ashley Biancuzzo".
    assert article("wcxb_dev-4014").authors == ("Ashley Biancuzzo",)


def test_a_name_after_a_byline_label_of_its_own_is_the_author() -> None:
    # "<p>Written by</p><p>Edzel Tabing</p>" under the headline.
    assert article("wcxb_dev-0058").authors == ("Edzel Tabing",)


def test_a_written_by_line_anywhere_names_the_author() -> None:
    # No byline class or author link: an <h3> reads "Written by Cassidy Horton".
    assert article("wcxb_dev-4095").authors == ("Cassidy Horton",)


def test_a_role_in_an_element_of_its_own_is_not_part_of_the_name() -> None:
    # The author element holds "Matt Check" then "Head Winemaker, Co-Founder" in a child of its own.
    assert article("wcxb_dev-4688").authors == ("Matt Check",)


def test_a_user_name_gives_way_to_a_person_named_elsewhere() -> None:
    # The author link reads "jrobison"; the page names John Robison as its author too.
    assert article("wcxb_test-5682").authors == ("John Robison",)


def test_a_share_bar_after_the_name_is_not_part_of_it() -> None:
    # "Melissa Norris Facebook Tweet Pin"
    assert article("wcxb_dev-4659").authors == ("Melissa Norris",)


def test_a_twice_escaped_entity_in_json_ld_is_decoded() -> None:
    # The JSON-LD headline reads "And finally&amp;#8230; trouble brewing".
    assert article("wcxb_dev-0457").title == "And finally… trouble brewing"


# --- genre -----------------------------------------------------------------------------------------


def test_an_opinion_section_marks_the_genre_also_without_the_url() -> None:
    # article:section "Opinion", and /opinion/ in the URL; without its URL the section alone says it.
    assert article("aeb_e4c6a3b48240").genre == "opinion"
    page = gzip.decompress((RULE_PAGES / "aeb_e4c6a3b48240.html.gz").read_bytes())
    assert isinstance(without_url := extract_document(make_document(page)), Article)
    assert without_url.genre == "opinion"
