"""Cluster: exact duplicates, near-duplicates (MinHash/LSH) and cross-outlet stories, incrementally.

Each call to `cluster_pending` takes the articles not yet clustered (or whose text changed), in a chunk,
and in one transaction:

1. exact duplicates: same normalised text (sha256) as an earlier original -> `articles.duplicate_of`;
2. near-duplicates: MinHash of word shingles, candidates from LSH buckets -> `near_duplicates` pairs with
   the estimated Jaccard similarity when it is at least NEAR_DUPLICATE_THRESHOLD;
3. stories: a duplicate or near-duplicate joins its original's story; otherwise the article is scored
   against the articles of the +-STORY_WINDOW_DAYS window that share a story term with it (cosine of
   IDF-weighted terms from title, description and lead) and joins the best story at or above
   STORY_THRESHOLD, or founds a new one. Existing assignments never move, so story ids are stable.

Candidates come from LSH buckets and from (term, day) postings, never from all pairs: the cost per new
article depends on the window's density, not on the table's size (see bench/stories_scale.py).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from urllib.parse import urlsplit

import duckdb
import numpy as np
import pyarrow as pa

from warehouse.db import named_queries

# Word 3-shingles: short enough that a changed sentence breaks few of them, long enough that two
# unrelated texts in one language share almost none.
SHINGLE_WORDS = 3
# 128 permutations: the standard error of the Jaccard estimate is about 1/sqrt(128) ~ 0.044.
NUM_PERMUTATIONS = 128
# 32 bands of 4 rows: a pair with Jaccard 0.5 shares a bucket with probability 1-(1-0.5^4)^32 ~ 0.87,
# one with 0.6 with ~0.98, one with 0.2 with ~0.05; LSH only proposes, the estimate decides.
LSH_BANDS = 32
LSH_ROWS = NUM_PERMUTATIONS // LSH_BANDS
# Estimated Jaccard of word 3-shingles at or above which two texts are near-duplicates: a copy with a
# paragraph added to a ten-paragraph text scores ~0.9; a rewrite of the same news scores < 0.2.
NEAR_DUPLICATE_THRESHOLD = 0.5
# Fixed seed: signatures must be the same in every process and every run, or stored ones go stale.
MINHASH_SEED = 20220107
MAX_HASH = (1 << 32) - 1
# Shingle hashes combine word hashes: h = h * SHINGLE_MULTIPLIER + word (an odd 64-bit constant, so the
# order of words matters), then splitmix64's avalanche step mixes every bit into the low 32 kept.
SHINGLE_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
AVALANCHE_MULTIPLIER = np.uint64(0xBF58476D1CE4E5B9)

# Reports of one event cluster within days; +-2 days of the day as written (or first seen).
STORY_WINDOW_DAYS = 2
# Words of the body used with the title and description: the lead says what the event is.
LEAD_WORDS = 120
# Cosine similarity of IDF-weighted story terms at or above which an article joins a story; chosen on
# the labelled set of bench/stories_eval.py (the seeds score ~0.3; unrelated same-day pages < 0.1).
STORY_THRESHOLD = 0.2
# Names (capitalised words) and headline words say more about the event than other lead words.
NAME_BOOST = 2.0
TITLE_BOOST = 1.5
# Story terms: the first letters of a word's consonant skeleton, so transliterations meet
# (Tokayev/Tokaev/Tukayev -> tkv, Kassym-Jomart/Qassem-Jumert -> ksmjm) and so do inflections.
TERM_CHARS = 5
MIN_TERM_CHARS = 3
MIN_WORD_CHARS = 4
# Articles per clustering transaction (the first run after an upgrade clusters the backlog in chunks).
CLUSTER_CHUNK = 500

WORD = re.compile(r"\w+")
VOWELS = re.compile(r"[aeiouyhw]")
REPEATS = re.compile(r"(.)\1+")
# Frequent English words that are not news-specific; IDF discounts the rest.
STOPWORDS = frozenset(
    [
        "about",
        "after",
        "again",
        "against",
        "also",
        "been",
        "before",
        "being",
        "between",
        "both",
        "could",
        "days",
        "does",
        "down",
        "during",
        "each",
        "even",
        "every",
        "first",
        "from",
        "further",
        "have",
        "having",
        "here",
        "into",
        "just",
        "last",
        "like",
        "made",
        "many",
        "more",
        "most",
        "much",
        "must",
        "next",
        "only",
        "other",
        "over",
        "said",
        "same",
        "says",
        "should",
        "since",
        "some",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "today",
        "told",
        "under",
        "until",
        "very",
        "want",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "within",
        "without",
        "would",
        "year",
        "years",
        "your",
        "friday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "saturday",
        "sunday",
    ]
)


@dataclass(frozen=True)
class ClusterInput:
    """An article as clustering reads it from the warehouse."""

    article_id: str
    url: str
    site_name: str | None
    source: str
    title: str | None
    description: str | None
    text: str
    text_sha256: str
    day: date


@dataclass(frozen=True)
class Fingerprint:
    """What clustering keeps of an article: text hash, MinHash signature, LSH buckets, story terms."""

    article_id: str
    text_sha256: str
    norm_sha256: str
    signature: np.ndarray
    band_keys: tuple[int, ...]
    terms: dict[str, float]
    day: date
    outlet: str


@dataclass(frozen=True)
class Decision:
    """Where an article ended up."""

    article_id: str
    story_id: str
    method: str  # founder | duplicate | near-duplicate | similar | kept
    similarity: float | None
    duplicate_of: str | None


@dataclass(frozen=True)
class ClusterCounts:
    articles: int = 0
    duplicates: int = 0
    near_duplicate_pairs: int = 0
    new_stories: int = 0
    joined_stories: int = 0


# --- text features -------------------------------------------------------------------------------


class CombiningMarks(dict[int, int | None]):
    """A `str.translate` table deleting combining marks (accents), filled in as code points are met:
    stripping then runs in C rather than as a Python loop over every character (~3x faster)."""

    def __missing__(self, code_point: int) -> int | None:
        kept = None if unicodedata.combining(chr(code_point)) else code_point
        self[code_point] = kept
        return kept


DROP_COMBINING_MARKS = CombiningMarks()


def normalise_words(text: str) -> list[str]:
    """Lowercased words without accents or punctuation: markup and typography differences vanish."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    if not folded.isascii():  # ASCII has no combining marks
        folded = folded.translate(DROP_COMBINING_MARKS)
    return WORD.findall(folded)


def normalised_text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(normalise_words(text)).encode("utf-8")).hexdigest()


def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """Multiply-shift hash functions h(x) = (a*x + b mod 2^64) >> 32 with odd a: a universal family
    that needs no modulo, since uint64 arithmetic wraps by itself."""
    generator = np.random.default_rng(MINHASH_SEED)
    top = np.iinfo(np.uint64).max
    a = generator.integers(0, top, size=NUM_PERMUTATIONS, dtype=np.uint64, endpoint=True) | np.uint64(1)
    b = generator.integers(0, top, size=NUM_PERMUTATIONS, dtype=np.uint64, endpoint=True)
    return a, b


PERMUTATION_A, PERMUTATION_B = _permutations()


# Words repeat across articles (Zipf), so each word is hashed once; bounded memory.
@lru_cache(maxsize=200_000)
def word_hash(word: str) -> int:
    """A 32-bit hash of a word, the same in every process (unlike Python's hash())."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest(), "little")


def shingle_hashes(words: Sequence[str]) -> np.ndarray:
    """32-bit hashes (as uint64) of the distinct word SHINGLE_WORDS-shingles, computed from the words'
    hashes with array arithmetic: order-sensitive, deterministic, and no string per shingle.
    Fewer words than a shingle make one shingle of them all."""
    if not words:
        return np.empty(0, dtype=np.uint64)
    hashes = np.fromiter((word_hash(word) for word in words), dtype=np.uint64, count=len(words))
    if hashes.size < SHINGLE_WORDS:
        hashes = np.concatenate([hashes, np.zeros(SHINGLE_WORDS - hashes.size, dtype=np.uint64)])
    count = hashes.size - SHINGLE_WORDS + 1
    mixed = np.zeros(count, dtype=np.uint64)
    for offset in range(SHINGLE_WORDS):  # uint64 arithmetic wraps modulo 2^64
        mixed = mixed * SHINGLE_MULTIPLIER + hashes[offset : offset + count]
    # A final avalanche (splitmix64's) so the low 32 bits depend on every word.
    mixed ^= mixed >> np.uint64(30)
    mixed *= AVALANCHE_MULTIPLIER
    mixed ^= mixed >> np.uint64(31)
    return np.unique(mixed & np.uint64(MAX_HASH))


def minhash(words: Sequence[str]) -> np.ndarray:
    """MinHash signature (uint32 x NUM_PERMUTATIONS) of a text's word shingles; the same in every process."""
    hashes = shingle_hashes(words)
    if hashes.size == 0:
        return np.full(NUM_PERMUTATIONS, MAX_HASH, dtype=np.uint32)
    permuted = np.outer(hashes, PERMUTATION_A)  # one array, updated in place: temporaries cost page faults
    permuted += PERMUTATION_B
    permuted >>= np.uint64(32)
    return permuted.min(axis=0).astype(np.uint32)


def band_keys(signature: np.ndarray) -> tuple[int, ...]:
    """One signed 64-bit bucket key per LSH band (the band's number is hashed in, so bands never mix)."""
    keys = []
    for band in range(LSH_BANDS):
        rows = signature[band * LSH_ROWS : (band + 1) * LSH_ROWS].astype("<u4").tobytes()
        digest = hashlib.blake2b(band.to_bytes(2, "little") + rows, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return tuple(keys)


def estimated_jaccard(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.mean(first == second))


def term_key(word: str) -> str | None:
    """A transliteration-tolerant key: consonant skeleton (q, c -> k; repeats collapsed), cut to TERM_CHARS."""
    if len(word) < MIN_WORD_CHARS or word.isdigit() or word in STOPWORDS:
        return None
    skeleton = REPEATS.sub(r"\1", VOWELS.sub("", word.replace("q", "k").replace("c", "k")))
    skeleton = "".join(char for char in skeleton if not char.isdigit())
    if len(skeleton) < MIN_TERM_CHARS:
        return None
    return skeleton[:TERM_CHARS]


# Words repeat across articles (Zipf): caching their keys halves fingerprinting time; bounded memory.
@lru_cache(maxsize=200_000)
def word_key(raw: str) -> str | None:
    words = normalise_words(raw)
    return term_key(words[0]) if words else None


def story_terms(title: str | None, description: str | None, text: str) -> dict[str, float]:
    """Story terms of title + description + lead, each with its boost (names and headline words weigh more)."""
    terms: dict[str, float] = {}
    lead = " ".join(text.split()[:LEAD_WORDS])
    for part, part_boost in ((title or "", TITLE_BOOST), (description or "", 1.0), (lead, 1.0)):
        for raw in WORD.findall(part):
            key = word_key(raw)
            if key is None:
                continue
            boost = part_boost * (NAME_BOOST if raw[0].isupper() else 1.0)
            terms[key] = max(terms.get(key, 0.0), boost)
    return terms


def outlet_of(site_name: str | None, url: str, source: str) -> str:
    """Who published it: the site name, else the URL's host without www., else the source."""
    if site_name and site_name.strip():
        return site_name.strip()
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.") or source


def fingerprint(article: ClusterInput) -> Fingerprint:
    words = normalise_words(article.text)
    signature = minhash(words)
    return Fingerprint(
        article_id=article.article_id,
        text_sha256=article.text_sha256,
        norm_sha256=hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest(),
        signature=signature,
        band_keys=band_keys(signature),
        terms=story_terms(article.title, article.description, article.text),
        day=article.day,
        outlet=outlet_of(article.site_name, article.url, article.source),
    )


def story_id_for(article_id: str) -> str:
    """A story is named after the article that founded it: stable across runs and rebuilds."""
    return hashlib.sha256(f"story:{article_id}".encode()).hexdigest()[:16]


# --- decisions (pure: no database) ---------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """What the warehouse already knows about the chunk's neighbours."""

    current_story: dict[str, str]  # chunk article -> its story (changed articles keep theirs)
    exact_original: dict[str, tuple[str, str | None]]  # chunk article -> (original outside chunk, its story)
    # chunk article -> (other, signature, normalised-text hash, story)
    lsh_neighbours: dict[str, list[tuple[str, np.ndarray, str, str | None]]]
    story_scores: dict[str, list[tuple[str, float, str | None]]]  # chunk article -> (other, score, story)


def decide(chunk: Sequence[Fingerprint], known: Known) -> tuple[list[Decision], list[tuple[str, str, float]]]:
    """Duplicates, near-duplicate pairs and story assignments for a chunk, in the chunk's (day) order."""
    decisions: list[Decision] = []
    pairs: dict[tuple[str, str], float] = {}
    story_of: dict[str, str] = {}  # chunk articles decided so far
    original_by_hash: dict[str, str] = {}
    buckets: dict[int, list[Fingerprint]] = defaultdict(list)
    for item in chunk:
        duplicate_of, dup_story = None, None
        if item.article_id in known.exact_original:
            duplicate_of, dup_story = known.exact_original[item.article_id]
        elif item.norm_sha256 in original_by_hash:
            duplicate_of = original_by_hash[item.norm_sha256]
            dup_story = story_of.get(duplicate_of)
        else:
            original_by_hash[item.norm_sha256] = item.article_id

        near: list[tuple[float, str, str | None]] = []
        for other, signature, norm_sha256, other_story in known.lsh_neighbours.get(item.article_id, ()):
            if norm_sha256 != item.norm_sha256:  # exact copies are linked by duplicate_of, not as pairs
                near.append((estimated_jaccard(item.signature, signature), other, other_story))
        seen = {other for _, other, _ in near}
        for key in item.band_keys:
            for other_item in buckets[key]:
                if other_item.article_id not in seen and other_item.norm_sha256 != item.norm_sha256:
                    seen.add(other_item.article_id)
                    similarity = estimated_jaccard(item.signature, other_item.signature)
                    near.append((similarity, other_item.article_id, story_of.get(other_item.article_id)))
            buckets[key].append(item)
        near = [entry for entry in near if entry[0] >= NEAR_DUPLICATE_THRESHOLD]
        for similarity, other, _ in near:
            pairs[tuple(sorted((item.article_id, other)))] = round(similarity, 4)  # type: ignore[index]

        if item.article_id in known.current_story:
            decision = Decision(item.article_id, known.current_story[item.article_id], "kept", None, duplicate_of)
        elif duplicate_of is not None and dup_story is not None:
            decision = Decision(item.article_id, dup_story, "duplicate", 1.0, duplicate_of)
        elif near_with_story := [entry for entry in near if entry[2] is not None]:
            similarity, _, story = max(near_with_story, key=lambda entry: (entry[0], entry[1]))
            decision = Decision(item.article_id, str(story), "near-duplicate", similarity, duplicate_of)
        else:
            decision = join_or_found(item, known, story_of, duplicate_of)
        story_of[item.article_id] = decision.story_id
        decisions.append(decision)
    return decisions, [(a, b, similarity) for (a, b), similarity in sorted(pairs.items())]


def join_or_found(item: Fingerprint, known: Known, story_of: dict[str, str], duplicate_of: str | None) -> Decision:
    """The best-scoring story among the window's similar articles, or a new story."""
    best: dict[str, float] = {}
    for other, score, other_story in known.story_scores.get(item.article_id, ()):
        story = other_story or story_of.get(other)  # a chunk article decided earlier counts too
        if story is not None and score > best.get(story, 0.0):
            best[story] = score
    if best:
        story, score = max(best.items(), key=lambda entry: (entry[1], entry[0]))
        if score >= STORY_THRESHOLD:
            return Decision(item.article_id, story, "similar", round(score, 4), duplicate_of)
    return Decision(item.article_id, story_id_for(item.article_id), "founder", None, duplicate_of)


# --- warehouse -----------------------------------------------------------------------------------

SIGNATURE_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("text_sha256", pa.string()),
        ("norm_sha256", pa.string()),
        ("minhash", pa.binary()),
        ("day", pa.date32()),
        ("outlet", pa.string()),
        ("clustered_at", pa.timestamp("us", tz="UTC")),
    ]
)
BAND_SCHEMA = pa.schema([("band_key", pa.int64()), ("article_id", pa.string())])
TERM_SCHEMA = pa.schema(
    [("term", pa.string()), ("day", pa.date32()), ("article_id", pa.string()), ("boost", pa.float64())]
)
DUPLICATE_SCHEMA = pa.schema([("article_id", pa.string()), ("duplicate_of", pa.string())])
PAIR_SCHEMA = pa.schema([("article_id", pa.string()), ("other_id", pa.string()), ("similarity", pa.float64())])
STORY_ARTICLE_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("story_id", pa.string()),
        ("method", pa.string()),
        ("similarity", pa.float64()),
        ("joined_run", pa.string()),
        ("joined_at", pa.timestamp("us", tz="UTC")),
    ]
)


def signature_from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4").astype(np.uint32)


def fingerprint_tables(chunk: Sequence[Fingerprint], now: datetime) -> dict[str, pa.Table]:
    signatures = [
        {
            "article_id": f.article_id,
            "text_sha256": f.text_sha256,
            "norm_sha256": f.norm_sha256,
            "minhash": f.signature.astype("<u4").tobytes(),
            "day": f.day,
            "outlet": f.outlet,
            "clustered_at": now,
        }
        for f in chunk
    ]
    bands = [{"band_key": key, "article_id": f.article_id} for f in chunk for key in set(f.band_keys)]
    return {
        "batch_signatures": pa.Table.from_pylist(signatures, schema=SIGNATURE_SCHEMA),
        "batch_bands": pa.Table.from_pylist(bands, schema=BAND_SCHEMA),
    }


def terms_table(chunk: Sequence[Fingerprint]) -> pa.Table:
    terms = [
        {"term": term, "day": f.day, "article_id": f.article_id, "boost": boost}
        for f in chunk
        for term, boost in f.terms.items()
    ]
    return pa.Table.from_pylist(terms, schema=TERM_SCHEMA)


def exact_copies(chunk: Sequence[Fingerprint], known: Known) -> set[str]:
    """Chunk articles with the normalised text of an earlier original, stored or earlier in the chunk.

    They join their original's story, so their story terms are not stored: a text syndicated to
    hundreds of outlets would otherwise put hundreds of identical postings under each of its terms,
    and every later article sharing a term would be scored against all of them.
    """
    copies, originals = set(), set()
    for item in chunk:
        if item.article_id in known.exact_original or item.norm_sha256 in originals:
            copies.add(item.article_id)
        else:
            originals.add(item.norm_sha256)
    return copies


def decision_tables(
    decisions: Sequence[Decision], pairs: Sequence[tuple[str, str, float]], run_id: str | None, now: datetime
) -> dict[str, pa.Table]:
    return {
        "batch_duplicates": pa.Table.from_pylist(
            [{"article_id": d.article_id, "duplicate_of": d.duplicate_of} for d in decisions],
            schema=DUPLICATE_SCHEMA,
        ),
        "batch_near_duplicates": pa.Table.from_pylist(
            [{"article_id": a, "other_id": b, "similarity": s} for a, b, s in pairs], schema=PAIR_SCHEMA
        ),
        "batch_story_articles": pa.Table.from_pylist(
            [
                {
                    "article_id": d.article_id,
                    "story_id": d.story_id,
                    "method": d.method,
                    "similarity": d.similarity,
                    "joined_run": run_id,
                    "joined_at": now,
                }
                for d in decisions
            ],
            schema=STORY_ARTICLE_SCHEMA,
        ),
    }


def read_known(connection: duckdb.DuckDBPyConnection, chunk: Sequence[Fingerprint]) -> Known:
    """Neighbours of the chunk from the warehouse; expects the chunk's fingerprints registered and stored."""
    queries = named_queries()
    current = dict(connection.execute(queries["current_stories"]).fetchall())
    exact = {
        article_id: (original, story)
        for article_id, original, story in connection.execute(queries["exact_originals"]).fetchall()
    }
    neighbours: dict[str, list[tuple[str, np.ndarray, str, str | None]]] = defaultdict(list)
    for article_id, other_id, blob, norm_sha256, story in connection.execute(queries["lsh_candidates"]).fetchall():
        neighbours[article_id].append((other_id, signature_from_blob(blob), norm_sha256, story))
    return Known(current, exact, dict(neighbours), {})


def read_story_scores(
    connection: duckdb.DuckDBPyConnection, chunk: Sequence[Fingerprint]
) -> dict[str, list[tuple[str, float, str | None]]]:
    """(other, cosine, other's story) per chunk article; expects the chunk's terms stored and counted."""
    first_day = min(f.day for f in chunk)
    last_day = max(f.day for f in chunk)
    rows = connection.execute(
        named_queries()["story_candidates"],
        {
            "window": STORY_WINDOW_DAYS,
            "first_day": date.fromordinal(first_day.toordinal() - STORY_WINDOW_DAYS),
            "last_day": date.fromordinal(last_day.toordinal() + STORY_WINDOW_DAYS),
            "min_score": STORY_THRESHOLD,
        },
    ).fetchall()
    scores: dict[str, list[tuple[str, float, str | None]]] = defaultdict(list)
    for article_id, other_id, score, story in rows:
        scores[article_id].append((other_id, float(score), story))
    return dict(scores)


def read_pending(connection: duckdb.DuckDBPyConnection, limit: int, today: date) -> list[ClusterInput]:
    rows = connection.execute(named_queries()["pending_articles"], {"limit": limit, "today": today}).fetchall()
    return [ClusterInput(*row) for row in rows]


def cluster_chunk(
    connection: duckdb.DuckDBPyConnection, run_id: str | None, now: datetime, limit: int = CLUSTER_CHUNK
) -> ClusterCounts | None:
    """Cluster up to `limit` pending articles in one transaction; None when nothing was pending."""
    queries = named_queries()
    connection.execute("BEGIN TRANSACTION")
    registered: list[str] = []
    try:
        pending = read_pending(connection, limit, now.date())
        if not pending:
            connection.execute("COMMIT")
            return None
        chunk = [fingerprint(article) for article in pending]
        for name, table in fingerprint_tables(chunk, now).items():
            connection.register(name, table)
            registered.append(name)
        known = read_known(connection, chunk)
        copies = exact_copies(chunk, known)
        connection.register("batch_terms", terms_table([f for f in chunk if f.article_id not in copies]))
        registered.append("batch_terms")
        for name in ("forget_term_counts", "forget_terms", "forget_bands", "forget_near_duplicates"):
            connection.execute(queries[name])
        for name in ("insert_signatures", "insert_bands", "insert_terms", "count_terms"):
            connection.execute(queries[name])
        known = replace(known, story_scores=read_story_scores(connection, chunk))
        decisions, pairs = decide(chunk, known)
        for name, table in decision_tables(decisions, pairs, run_id, now).items():
            connection.register(name, table)
            registered.append(name)
        connection.execute(queries["set_duplicates"])
        connection.execute(queries["insert_near_duplicates"])
        connection.execute(queries["insert_story_articles"])
        connection.execute(queries["refresh_stories"], {"now": now})
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        for name in registered:
            connection.unregister(name)
    return ClusterCounts(
        articles=len(decisions),
        duplicates=sum(d.duplicate_of is not None for d in decisions),
        near_duplicate_pairs=len(pairs),
        new_stories=sum(d.method == "founder" for d in decisions),
        joined_stories=sum(d.method in {"duplicate", "near-duplicate", "similar"} for d in decisions),
    )


def cluster_pending(
    connection: duckdb.DuckDBPyConnection, run_id: str | None = None, now: datetime | None = None
) -> ClusterCounts:
    """Cluster every pending article, a chunk per transaction, in day order."""
    now = now or datetime.now(UTC)
    total = ClusterCounts()
    while (counts := cluster_chunk(connection, run_id, now)) is not None:
        total = ClusterCounts(
            *(getattr(total, name) + getattr(counts, name) for name in ClusterCounts.__dataclass_fields__)
        )
    return total
