"""JSON-LD: the page's schema.org objects, found, ranked (the article first) and read for names and values.

Reads every `application/ld+json` block of a page, tolerating the wrappers and stray characters sites put
around them, and picks the nodes that may describe the article (tasks/htmlmeta.py reads fields from them).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import lxml.html

if TYPE_CHECKING:
    from newsdag.tasks.pageparts import PageParts

JsonNode = dict[str, Any]

# Bounds the work on pages with huge JSON-LD (product lists, full live blogs).
MAX_JSON_LD_NODES = 1000
# The article is a top-level node; deeper ones (a live blog's updates, related items) only cost time.
MAX_MAIN_CANDIDATES = 50
ARTICLE_TYPE_SUFFIXES = ("article", "posting", "report")
PAGE_TYPE_SUFFIXES = ("page",)
SITE_TYPES = {"website", "newsmediaorganization", "organization"}
# Media embedded in an article have their own author and dates (the photographer's, the upload's).
MEDIA_TYPES = {"imageobject", "videoobject", "audioobject", "mediaobject", "clip"}


def json_ld_nodes(tree: lxml.html.HtmlElement) -> Iterator[JsonNode]:
    """Every object in the page's JSON-LD blocks, top-level ones first (breadth first)."""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        data = load_json(script.text or "")
        if data is not None:
            yield from walk_json(data)


def load_json(text: str) -> Any:
    """Parsed JSON, tolerating HTML comment and CDATA wrappers and raw control characters; None if bad."""
    cleaned = text.strip()
    for wrapper in ("<!--", "-->", "//<![CDATA[", "<![CDATA[", "//]]>", "]]>"):
        cleaned = cleaned.replace(wrapper, "")
    cleaned = cleaned.strip().rstrip(";")
    try:
        return json.loads(cleaned, strict=False)
    except (ValueError, RecursionError):
        return None


def walk_json(data: Any) -> Iterator[JsonNode]:
    queue: deque[Any] = deque([data])
    seen = 0
    while queue and seen < MAX_JSON_LD_NODES:
        item = queue.popleft()
        if isinstance(item, list):
            queue.extend(item)
        elif isinstance(item, dict):
            seen += 1
            yield item
            queue.extend(value for value in item.values() if isinstance(value, dict | list))


def node_types(node: JsonNode) -> set[str]:
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {value.rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for value in values if isinstance(value, str)}


def type_rank(node: JsonNode) -> int:
    types = node_types(node)
    if any(kind.endswith(ARTICLE_TYPE_SUFFIXES) for kind in types):
        return 0
    if any(kind.endswith(PAGE_TYPE_SUFFIXES) for kind in types):
        return 1
    return 2


def rank_main_nodes(nodes: list[JsonNode], url: str | None) -> list[JsonNode]:
    """Nodes that may describe the article: articles before pages before anything else; within a kind,
    one whose url is this page's, then document order (top level first)."""
    page_path = url_path(url)
    candidates = [
        node
        for node in nodes
        if any(key in node for key in ("datePublished", "headline", "author"))
        and not (SITE_TYPES | MEDIA_TYPES) & node_types(node)
    ][:MAX_MAIN_CANDIDATES]

    def rank(indexed: tuple[int, JsonNode]) -> tuple[int, int, int]:
        index, node = indexed
        node_url = node.get("url") or node.get("mainEntityOfPage") or node.get("@id")
        if isinstance(node_url, dict):
            node_url = node_url.get("@id") or node_url.get("url")
        same_page = bool(page_path) and isinstance(node_url, str) and url_path(node_url) == page_path
        return type_rank(node), 0 if same_page else 1, index

    return [node for _, node in sorted(enumerate(candidates), key=rank)]


def url_path(url: str | None) -> str | None:
    if not url:
        return None
    try:
        path = urlsplit(url).path.rstrip("/")
    except ValueError:
        return None
    return path or None


def resolve(value: Any, parts: PageParts) -> Any:
    """A {"@id": ...} reference replaced by the @graph node it names."""
    if isinstance(value, dict) and isinstance(value.get("@id"), str) and len(value) <= 2:
        return parts.ld_ids.get(value["@id"], value)
    return value


def main_values(parts: PageParts, key: str) -> Iterator[Any]:
    """`key` from the best-ranked JSON-LD nodes that have it."""
    for node in parts.main_nodes:
        value = node.get(key)
        if value not in (None, "", []):
            yield value


def names_in(value: Any, parts: PageParts) -> list[str]:
    """Names from a JSON-LD person/organisation value: a string, an object, an @id ref or a list of those."""
    value = resolve(value, parts)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [name for item in value for name in names_in(item, parts)]
    if not isinstance(value, dict):
        return []
    name = value.get("name")
    if isinstance(name, list):
        name = next((item for item in name if isinstance(item, str)), None)
    if isinstance(name, str):
        return [name]
    given, family = value.get("givenName"), value.get("familyName")
    if isinstance(given, str) and isinstance(family, str):
        return [f"{given} {family}"]
    return []
