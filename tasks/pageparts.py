"""A page's markup read once for the metadata rules: its <meta> values and its JSON-LD nodes (PageParts).

tasks/htmlmeta.py reads this once per page and hands it to every field rule (dates, title, authors, ...).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import lxml.html

from newsdag.tasks.jsonld import JsonNode, json_ld_nodes, rank_main_nodes

META_KEY_PUNCTUATION = re.compile(r"[\s:_.\-]+")


@dataclass(frozen=True)
class PageParts:
    """The markup read once, shared by the field rules."""

    meta: dict[str, list[str]]
    json_ld: list[JsonNode]
    ld_ids: dict[str, JsonNode]
    main_nodes: list[JsonNode]
    url: str | None


def read_parts(tree: lxml.html.HtmlElement, url: str | None) -> PageParts:
    nodes = list(json_ld_nodes(tree))
    ld_ids = {node["@id"]: node for node in nodes if isinstance(node.get("@id"), str) and len(node) > 1}
    return PageParts(collect_meta(tree), nodes, ld_ids, rank_main_nodes(nodes, url), url)


def collect_meta(tree: lxml.html.HtmlElement) -> dict[str, list[str]]:
    """<meta> contents by lower-cased name, property, itemprop or http-equiv, in document order."""
    meta: dict[str, list[str]] = {}
    for element in tree.iter("meta"):
        content = (element.get("content") or "").strip()
        if not content:
            continue
        for attribute in ("property", "name", "itemprop", "http-equiv"):
            key = meta_key(element.get(attribute) or "")
            if key:
                meta.setdefault(key, []).append(content)
    return meta


def meta_key(name: str) -> str:
    """Sites spell the same key article:published_time, article:published:time, article_published_time."""
    return META_KEY_PUNCTUATION.sub("", name.strip().lower())


def meta_values(parts: PageParts, key: str) -> list[str]:
    return parts.meta.get(meta_key(key), [])


def first_meta(parts: PageParts, *keys: str) -> str | None:
    for key in keys:
        for value in meta_values(parts, key):
            if value.strip():
                return value
    return None


def first_text(tree: lxml.html.HtmlElement, tag: str) -> str | None:
    for element in tree.iter(tag):
        text = element.text_content()
        if text and text.strip():
            return text
    return None


def clean_text(value: object) -> str | None:
    """Entities decoded (JSON-LD and some meta carry them escaped, some twice: "&amp;#8230;") and
    whitespace collapsed."""
    if not isinstance(value, str):
        return None
    text = html.unescape(value)
    if "&" in text:
        text = html.unescape(text)
    return " ".join(text.split()) or None
