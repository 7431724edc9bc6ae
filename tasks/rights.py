"""Rights declarations: TDM reservations (TDMRep), AI opt-outs, licences and paywalls, per page and per site.

What publishers declare, recorded, never guessed:

- TDMRep (W3C community final report, 2024): `tdm-reservation` (1 reserved, 0 not) and `tdm-policy` (a URL)
  as HTTP response headers, as `<meta name="tdm-reservation">` / `<meta name="tdm-policy">`, and as
  `/.well-known/tdmrep.json` rules matched by their `location` patterns (first match wins). Precedence, as
  the report orders the techniques: the header overrides the file, and the page's metadata counts only where
  neither declares. A value other than 0 or 1 is a protocol error and counts as undeclared.
- AI opt-outs: `noai` / `noimageai` in `X-Robots-Tag` or the robots `<meta>`, and robots.txt groups that
  disallow the page to the known AI crawlers (information only: newsdag's own user agent decides fetching).
- Licence links (`rel="license"`, JSON-LD `license`) and `isAccessibleForFree` (JSON-LD, also on a
  paywalled part) or an `article:content_tier` of locked/metered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import lxml.html

from newsdag.tasks.models import Article, DeclaredRights, Reject, Rights

# The crawlers of AI companies that robots.txt files name to opt out of training and answer engines.
AI_AGENTS = (
    "GPTBot",
    "ChatGPT-User",
    "CCBot",
    "Google-Extended",
    "ClaudeBot",
    "anthropic-ai",
    "PerplexityBot",
    "Bytespider",
    "Applebot-Extended",
    "meta-externalagent",
    "cohere-ai",
)
# Robots directives that opt a page out of AI use (DeviantArt's proposal, adopted by several publishers).
AI_DIRECTIVES = ("noai", "noimageai")
RESERVATION_VALUES = {"0": False, "1": True}
# A tdmrep.json larger than this is not a rules file (the report's examples are a few hundred bytes).
MAX_TDMREP_BYTES = 256 * 1024
MAX_TDMREP_RULES = 1000
PAYWALL_TIERS = {"locked", "metered"}
TDM_RESERVED_RULE = "tdm-reserved"
DIRECTIVE_SPLIT = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class TdmRule:
    """One rule of a tdmrep.json: a robots.txt-style path pattern and what it declares."""

    location: str
    reserved: bool | None
    policy: str | None


# --- sources ------------------------------------------------------------------------------------------


def parse_tdmrep(content: bytes) -> tuple[TdmRule, ...] | None:
    """The rules of a tdmrep.json, None when it is not one (not JSON, not an array of rules)."""
    if len(content) > MAX_TDMREP_BYTES:
        return None
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, list):
        return None
    rules = []
    for item in data[:MAX_TDMREP_RULES]:
        if isinstance(item, dict) and isinstance(item.get("location"), str):
            policy = item.get("tdm-policy")
            rules.append(
                TdmRule(
                    location=item["location"],
                    reserved=reservation(item.get("tdm-reservation")),
                    policy=policy if isinstance(policy, str) and policy.strip() else None,
                )
            )
    return tuple(rules)


def reservation(value: Any) -> bool | None:
    """tdm-reservation as True/False; anything but 0 or 1 is a protocol error, read as undeclared."""
    if isinstance(value, bool):
        return None
    return RESERVATION_VALUES.get(str(value).strip()) if value is not None else None


def matching_rule(rules: Sequence[TdmRule], url: str) -> TdmRule | None:
    """The first rule whose location pattern matches the URL's path (and query), as robots.txt patterns
    match: '*' any characters, a final '$' the end of the path."""
    parts = urlsplit(url)
    path = unquote(parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return next((rule for rule in rules if pattern_matches(rule.location, path)), None)


def pattern_matches(pattern: str, path: str) -> bool:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("*"))
    return re.match(regex + ("$" if anchored else ""), path) is not None


def ai_disallowed(rules: RobotFileParser, url: str) -> tuple[str, ...]:
    """The AI crawlers robots.txt keeps out of this URL (a group of their own, not the '*' group)."""
    named = {agent.lower() for entry in getattr(rules, "entries", []) for agent in entry.useragents}
    return tuple(agent for agent in AI_AGENTS if agent.lower() in named and not rules.can_fetch(agent, url))


def ai_directives(values: Iterable[str | None]) -> tuple[str, ...]:
    """AI opt-out directives in robots values ('noai, noimageai'; 'googlebot: noai' counts too)."""
    found: dict[str, None] = {}
    for value in values:
        for token in DIRECTIVE_SPLIT.split((value or "").lower()):
            if token.strip(":;") in AI_DIRECTIVES:
                found[token.strip(":;")] = None
    return tuple(found)


# --- the page's own markup -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkupRights:
    """What a page's HTML declares."""

    reserved: bool | None = None
    policy: str | None = None
    ai_optout: tuple[str, ...] = ()
    license_url: str | None = None
    accessible_for_free: bool | None = None


NO_MARKUP_RIGHTS = MarkupRights()


def markup_rights(
    tree: lxml.html.HtmlElement, meta: Mapping[str, list[str]], json_ld: Sequence[Mapping[str, Any]], url: str | None
) -> MarkupRights:
    """TDM metadata, robots AI directives, licence links and paywall markers in a parsed page.

    `meta` maps lower-cased, punctuation-free <meta> names to their contents (pageparts.collect_meta);
    `json_ld` is every JSON-LD object of the page.
    """
    return MarkupRights(
        reserved=next((reservation(value) for value in meta.get("tdmreservation", [])), None),
        policy=next(iter(meta.get("tdmpolicy", [])), None),
        ai_optout=ai_directives(meta.get("robots", []) + meta.get("googlebot", [])),
        license_url=license_link(tree, json_ld, url),
        accessible_for_free=free_access(meta, json_ld),
    )


def license_link(tree: lxml.html.HtmlElement, json_ld: Sequence[Mapping[str, Any]], url: str | None) -> str | None:
    """The first rel=license link (<link> or <a>), else JSON-LD's license, as an absolute URL."""
    for element in tree.xpath("//link[@href] | //a[@href]"):
        if "license" in (element.get("rel") or "").lower().split():
            return absolute(element.get("href"), url)
    for node in json_ld:
        value = node.get("license")
        if isinstance(value, dict):
            value = value.get("url") or value.get("@id")
        if isinstance(value, str) and value.strip():
            return absolute(value, url)
    return None


def absolute(href: str | None, base: str | None) -> str | None:
    if not href or not href.strip():
        return None
    try:
        return urljoin(base, href.strip()) if base else href.strip()
    except ValueError:
        return None


def free_access(meta: Mapping[str, list[str]], json_ld: Sequence[Mapping[str, Any]]) -> bool | None:
    """False when JSON-LD says isAccessibleForFree false (on the article or a part of it) or the content tier
    is locked or metered; True when it says true; None when the page does not say."""
    declared = [as_bool(node.get("isAccessibleForFree")) for node in json_ld if "isAccessibleForFree" in node]
    tiers = {value.strip().lower() for value in meta.get("articlecontenttier", [])}
    if False in declared or tiers & PAYWALL_TIERS:
        return False
    if True in declared or "free" in tiers:
        return True
    return None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


# --- the decision ------------------------------------------------------------------------------------


def article_rights(declared: DeclaredRights, markup: MarkupRights) -> Rights:
    """What is recorded for an article: the TDM declaration by the report's precedence (header, then the
    site's tdmrep.json, then the page's metadata), the AI opt-outs of every source, licence and paywall.

    `rights_source` names where the TDM declaration came from, else where the first AI opt-out did.
    """
    tdm_sources = (
        ("header", reservation(declared.tdm_reservation), declared.tdm_policy),
        ("tdmrep.json", declared.file_reserved, declared.file_policy),
        ("meta", markup.reserved, markup.policy),
    )
    source, reserved, policy = next(((s, r, p) for s, r, p in tdm_sources if r is not None), (None, None, None))
    header_optout = ai_directives([declared.x_robots_tag])
    robots_optout = tuple(f"robots:{agent}" for agent in declared.ai_disallowed)
    optouts = tuple(dict.fromkeys((*header_optout, *markup.ai_optout, *robots_optout)))
    if source is None and optouts:
        source = "header" if header_optout else "meta" if markup.ai_optout else "robots"
    return Rights(
        tdm_reserved=reserved,
        tdm_policy=policy if reserved else None,
        ai_optout=optouts,
        license_url=markup.license_url,
        accessible_for_free=markup.accessible_for_free,
        rights_source=source,
    )


def without_reserved(articles: Sequence[Article]) -> tuple[list[Article], list[Reject]]:
    """(articles whose TDM rights are not reserved, a tdm-reserved reject for each of the others): with
    --respect-tdm a reserved page's text is not stored, only the reject saying why."""
    kept, rejects = [], []
    for article in articles:
        if article.rights.tdm_reserved:
            source = article.rights.rights_source
            detail = f"text and data mining rights reserved ({source})"
            if article.rights.tdm_policy:
                detail += f"; policy {article.rights.tdm_policy}"
            rejects.append(Reject(article.input, "extract", TDM_RESERVED_RULE, detail, article.doc_id, article.url))
        else:
            kept.append(article)
    return kept, rejects
