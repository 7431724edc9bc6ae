"""Page checks: what a fetched 200 body is before it counts as a page: its text encoding, or a wall.

`decode_fetched` picks the encoding of a fetched body (tasks/fetch.py, tasks/warc.py); `soft_block`
tells a captcha, consent wall, paywall or "enable JavaScript" page from an article.
"""

from __future__ import annotations

import re

import lxml.html
from lxml.etree import ParserError

from newsdag.tasks.loaders import decode_content

# (kind, pattern on the visible text, most words a page may have and still be only this wall).
# Word limits keep a real article that merely mentions cookies or subscriptions from being rejected;
# so does asking for two different phrases of a wall unless the page is nearly empty (SHORT_WALL_WORDS).
SOFT_BLOCKS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    (
        "captcha",
        re.compile(r"captcha|are you a (ro)?bot|verify (that )?you are (a )?human|unusual traffic from your", re.I),
        300,
    ),
    (
        "access-denied",
        re.compile(r"access (is )?denied|access to this page has been (denied|blocked)|request (was )?blocked", re.I),
        300,
    ),
    (
        "consent-wall",
        re.compile(
            r"we value your privacy|(cookie|privacy) (consent|settings|preferences|choices)|accept (all )?cookies"
            r"|consent to (the use of )?cookies|before you continue",
            re.I,
        ),
        150,
    ),
    (
        "paywall",
        re.compile(
            r"subscribe (now )?to (continue|keep) reading|(only )?(available )?(for|to) (paying )?subscribers"
            r"|already a subscriber\?|to continue reading,? (please )?(subscribe|log ?in|sign in)",
            re.I,
        ),
        300,
    ),
    (
        "javascript-required",
        re.compile(r"(enable|requires?|turn on) javascript|javascript (is )?(required|disabled)", re.I),
        150,
    ),
)
SHORT_WALL_WORDS = 40
CHALLENGE_MARKUP = re.compile(rb"g-recaptcha|h-captcha|hcaptcha\.com|cf-chl-|challenge-platform", re.I)


def soft_block(html: str) -> str | None:
    """The kind of wall a 200 page is (captcha, consent-wall, ...) instead of an article, or None."""
    if CHALLENGE_MARKUP.search(html[:200_000].encode("utf-8", "ignore")):
        return "captcha"
    try:
        tree = lxml.html.fromstring(html)
    except (ParserError, ValueError):
        return None
    for element in tree.xpath("//script|//style|//template"):
        element.drop_tree()
    words = tree.text_content().split()
    text = " ".join(words)
    for kind, pattern, max_words in SOFT_BLOCKS:
        if len(words) > max_words:
            continue
        phrases = {match.group(0).lower() for match in pattern.finditer(text)}
        if len(phrases) >= 2 or (phrases and len(words) <= SHORT_WALL_WORDS):
            return kind
    return None


def decode_fetched(content: bytes, header_charset: str | None, meta_charset: str | None) -> tuple[str, str] | None:
    """Text and the encoding used: valid UTF-8, then the HTTP header's charset, then <meta charset>, then detection.

    Valid UTF-8 comes first because a wrong declaration (latin-1 over UTF-8 bytes) is common and
    would decode without error into mojibake; genuine latin-1 text is almost never valid UTF-8.
    """
    if header_charset and header_charset not in ("utf-8", "utf8"):
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            try:
                return content.decode(header_charset), header_charset
            except (UnicodeDecodeError, LookupError):
                pass
    return decode_content(content, meta_charset)
