"""The key index beside the warehouse: which keys it may hold, so a batch's look-ups skip DuckDB for new keys.

Each batch asks the warehouse which of its keys it already holds (an article id for the merge, a document's
bytes for "unchanged", a file's or page's URL for the file stamp and the conditional GET). DuckDB answers by
scanning the key columns of every stored row: keys are hashes, so a batch's 200 keys fall in every row
group and no zone map skips one. In a warehouse of 10M articles that made a batch of 200 new pages cost
4.7 s instead of 0.18 (bench/results.md, section 3), and no plan DuckDB 2.0 offers does much better:
`IN (SELECT ...)`, joins, constant IN lists on a narrow key table sorted by key (71 of 82 row groups still
read), an ART index (0.27 s a batch, its nodes loaded cold at each open), smaller row groups (merged back at
the next checkpoint) and keys packed into BLOB pages (read whole) were all measured.

So the index keeps, beside the database, a 60-bit hash of every key the warehouse holds (`key_of`), in
two files: `news.duckdb.keys`, sorted (a header, the keys, every 512th key as a fence), and
`news.duckdb.keys-log`, the keys of the batches written since, one record per batch. A look-up reads one
4 KiB block of the sorted file per key and the log from memory; a batch appends ~5 KB to the log. When the
log holds more than a fiftieth of the keys, the next write merges it into a new sorted file. (A SQLite
table did the same look-ups but cost 27-50 ms a batch at 10M keys: a B-tree dirties a page per random key.)

It answers "maybe" or "no", never for sure "yes": a key it holds sends the look-up to DuckDB as before, so
every answer stays exact. "No" is certain because the one writer appends a batch's keys here before the
DuckDB transaction that stores them commits. A key appended for a batch that then did not commit only
costs a needless look-up. Every indexed write gives the warehouse a new random gate id and the next
generation number (table `key_gate`, with the rows it left) and tags its log record with both; the index
covers the warehouse when it holds the record of the warehouse's last write. So a missing, foreign or stale
index (an operating-system crash can lose a log append; the DuckDB commit after it is on disk), the index of
a copy of the warehouse that went its own way (same numbers, other writes) or rows another writer added make
the writer build the index again (tasks/load.py). An index ahead of its warehouse (a backup restored beside
a newer index) holds more keys than needed: it stays exact, only some look-ups go to DuckDB needlessly.
All reading and writing happens while the process holds the warehouse file, so processes take turns here
as they do there.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# What a key is of; its hash is of "family:value", so equal strings of two families differ.
ARTICLE, DOCUMENT, URL = "article", "doc", "url"
# 15 hex digits of md5: 60 bits, a positive int64 and DuckDB BIGINT. Two of 30M keys share a hash with a
# chance of ~4e-4 over the whole warehouse, which costs one needless look-up, never a wrong answer.
KEY_HEX_DIGITS = 15
KEY = np.dtype("<i8")
MAGIC = b"NDKEYS2\n"
# Sorted file: magic, the gate id of the write at its generation (36 ASCII characters, space-padded to 40),
# generation, key count.
HEADER = struct.Struct("<8s40sqq")
# A log record: the batch's generation, key count and gate id (as in the header), then its keys.
RECORD = struct.Struct("<qq40s")
# Keys per block of the sorted file: a look-up reads one 4 KiB block; the fences (every block's first key)
# stay in memory: 470 KiB for 30M keys.
BLOCK_KEYS = 512
# The log is merged into the sorted file once it holds more keys than this share of it (and this many):
# merging 30M keys takes ~2 s, once every ~1,000 batches of 600 keys.
LOG_SHARE = 1 / 50
LOG_MIN_KEYS = 250_000
# Keys read from an iterator at once while a sorted file is written.
WRITE_CHUNK_KEYS = 1 << 20
INDEX_SUFFIX = ".keys"


def key_of(family: str, value: str) -> int:
    """The index's key for a value (the same as warehouse/load.sql's `stored_keys` computes in DuckDB)."""
    return int(hashlib.md5(f"{family}:{value}".encode()).hexdigest()[:KEY_HEX_DIGITS], 16)


def index_path(db_path: Path) -> Path:
    return Path(f"{db_path}{INDEX_SUFFIX}")


@dataclass(frozen=True)
class SortedFile:
    """What this process read of a sorted file: which file (inode, size, mtime), its header and fences."""

    identity: tuple[int, int, int]
    gate_id: str
    generation: int
    count: int
    fences: np.ndarray


@dataclass
class Log:
    """What this process read of the log: up to `offset`, its keys (sorted) and the highest generation."""

    identity: tuple[int, int]
    offset: int
    keys: np.ndarray
    generation: int
    # The gate id each record's write gave the warehouse, by generation.
    ids: dict[int, str]


class KeyIndex:
    """The key index of one warehouse file. Files are re-read only when another process changed them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.log_path = Path(f"{path}-log")
        self.temp_path = Path(f"{path}-tmp")
        self.lock = threading.Lock()
        self.sorted: SortedFile | None = None
        self.log: Log | None = None

    def state(self) -> tuple[str, int] | None:
        """(gate id, generation) of the last write the index holds, or None when there is no readable index."""
        with self.lock:
            if not self.refresh():
                return None
            assert self.sorted is not None and self.log is not None
            if self.log.generation > self.sorted.generation:
                return self.log.ids[self.log.generation], self.log.generation
            return self.sorted.gate_id, self.sorted.generation

    def holds_write(self, gate_id: str, generation: int) -> bool:
        """Whether the index holds the keys of the write that left the warehouse at (gate id, generation):
        that write, not one of the same number in a copy of the warehouse that went its own way."""
        with self.lock:
            if not self.refresh():
                return False
            assert self.sorted is not None and self.log is not None
            if (self.sorted.gate_id, self.sorted.generation) == (gate_id, generation):
                return True
            return self.log.ids.get(generation) == gate_id

    def held(self, keys: Collection[int]) -> set[int]:
        """Those of `keys` the index holds: the ones the warehouse may hold (every other one it does not)."""
        if not keys:
            return set()
        wanted = np.unique(np.fromiter(keys, dtype=KEY, count=len(keys)))
        with self.lock:
            if not self.refresh():
                return {int(key) for key in wanted}  # no index: anything may be held
            assert self.sorted is not None and self.log is not None
            found = wanted[np.isin(wanted, self.log.keys, assume_unique=False)]
            return {int(key) for key in found} | self.held_in_sorted(wanted)

    def held_in_sorted(self, wanted: np.ndarray) -> set[int]:
        """Those of `wanted` (ascending) in the sorted file: one read of a 4 KiB block per block they fall in."""
        assert self.sorted is not None
        fences, count = self.sorted.fences, self.sorted.count
        blocks = np.unique(np.searchsorted(fences, wanted, side="right") - 1)
        blocks = blocks[blocks >= 0].tolist()
        if not blocks:
            return set()
        with self.path.open("rb") as handle:
            number = handle.fileno()
            # The blocks in ascending order, joined: still one ascending run of keys.
            data = b"".join(
                os.pread(number, min(BLOCK_KEYS, count - block * BLOCK_KEYS) * KEY.itemsize, block_offset(block))
                for block in blocks
            )
        stored = np.frombuffer(data, dtype=KEY)
        places = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
        return {int(key) for key in wanted[stored[places] == wanted]}

    def add(self, keys: Collection[int], gate_id: str, generation: int) -> None:
        """Append a batch's keys for `generation` to the log (merged into the sorted file once it is long)."""
        with self.lock:
            if not self.refresh() or self.sorted is None:
                raise ValueError(f"{self.path}: no key index to add to; build it first")
            head = RECORD.pack(generation, len(keys), gate_id.encode().ljust(40))
            record = head + np.fromiter(keys, dtype=KEY, count=len(keys)).tobytes()
            with self.log_path.open("ab") as log:
                log.write(record)
            self.refresh()
            assert self.log is not None
            if len(self.log.keys) > max(LOG_MIN_KEYS, LOG_SHARE * self.sorted.count):
                self.merge_log()

    def replace(self, chunks: Iterable[np.ndarray], gate_id: str, generation: int) -> None:
        """Hold exactly the keys of `chunks` (arrays, ascending across them, each key once), for the given
        gate and generation; the log is emptied."""
        with self.lock:
            self.write_sorted(chunks, gate_id, generation)

    def merge_log(self) -> None:
        """A new sorted file of the sorted keys and the log's (the caller holds the lock)."""
        assert self.sorted is not None and self.log is not None
        gate_id, generation = self.sorted.gate_id, self.sorted.generation
        if self.log.generation > generation:
            gate_id, generation = self.log.ids[self.log.generation], self.log.generation
        self.write_sorted(merged(self.sorted_chunks(), self.log.keys), gate_id, generation)

    def sorted_chunks(self) -> Iterator[np.ndarray]:
        assert self.sorted is not None
        with self.path.open("rb") as handle:
            handle.seek(HEADER.size)
            remaining = self.sorted.count
            while remaining:
                chunk = np.frombuffer(handle.read(min(remaining, WRITE_CHUNK_KEYS) * KEY.itemsize), dtype=KEY)
                remaining -= len(chunk)
                yield chunk

    def write_sorted(self, chunks: Iterable[np.ndarray], gate_id: str, generation: int) -> None:
        """Write a sorted file to a temporary name, then put it in place and start an empty log."""
        fences: list[np.ndarray] = []
        count = 0
        with self.temp_path.open("wb") as out:
            out.write(HEADER.pack(MAGIC, gate_id.encode().ljust(40), generation, 0))
            for chunk in chunks:
                keys = np.asarray(chunk, dtype=KEY)
                fences.append(keys[-count % BLOCK_KEYS :: BLOCK_KEYS])  # the keys at 0, 512, 1024, ... overall
                out.write(keys.tobytes())
                count += len(keys)
            out.write(np.concatenate([np.empty(0, dtype=KEY), *fences]).tobytes())
            out.seek(0)
            out.write(HEADER.pack(MAGIC, gate_id.encode().ljust(40), generation, count))
        os.replace(self.temp_path, self.path)
        # An empty log for the new file. A crash before this line leaves the old log beside the new file: its
        # keys are all in the new file already, so reading it again only repeats them.
        self.log_path.write_bytes(b"")
        self.sorted = self.log = None
        self.refresh()

    def refresh(self) -> bool:
        """Re-read what changed since this process last looked; False when there is no readable index."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self.sorted = self.log = None
            return False
        identity = (info.st_ino, info.st_size, info.st_mtime_ns)
        if self.sorted is None or self.sorted.identity != identity:
            self.sorted, self.log = read_sorted(self.path, identity), None
            if self.sorted is None:
                return False
        self.log = read_log(self.log_path, self.log)
        return True

    def close(self) -> None:
        with self.lock:
            self.sorted = self.log = None


def block_offset(block: int) -> int:
    return HEADER.size + block * BLOCK_KEYS * KEY.itemsize


def read_sorted(path: Path, identity: tuple[int, int, int]) -> SortedFile | None:
    """The header and fences of a sorted file, or None when it is no such file (damaged, foreign, cut short)."""
    with path.open("rb") as handle:
        head = handle.read(HEADER.size)
        if len(head) < HEADER.size:
            return None
        magic, gate_id, generation, count = HEADER.unpack(head)
        fence_count = -(-count // BLOCK_KEYS)
        if magic != MAGIC or identity[1] != HEADER.size + (count + fence_count) * KEY.itemsize:
            return None
        handle.seek(HEADER.size + count * KEY.itemsize)
        fences = np.frombuffer(handle.read(fence_count * KEY.itemsize), dtype=KEY)
    return SortedFile(identity, gate_id.decode().strip(), generation, count, fences)


def read_log(path: Path, known: Log | None) -> Log:
    """The log's keys and highest generation, reading only what was appended since `known` (a record cut
    short by a crash, and anything after it, is not counted)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return Log((0, 0), 0, np.empty(0, dtype=KEY), -1, {})
    identity = (info.st_ino, info.st_ctime_ns)
    if known is None or known.identity[0] != info.st_ino or info.st_size < known.offset:
        known = Log(identity, 0, np.empty(0, dtype=KEY), -1, {})
    if info.st_size == known.offset:
        return known
    with path.open("rb") as handle:
        handle.seek(known.offset)
        data = handle.read(info.st_size - known.offset)
    offset, generation, parts, ids = 0, known.generation, [known.keys], dict(known.ids)
    while offset + RECORD.size <= len(data):
        record_generation, count, gate_id = RECORD.unpack_from(data, offset)
        end = offset + RECORD.size + count * KEY.itemsize
        if count < 0 or end > len(data):
            break  # cut short: appended while the machine went down
        parts.append(np.frombuffer(data, dtype=KEY, count=count, offset=offset + RECORD.size))
        generation = max(generation, record_generation)
        ids[record_generation] = gate_id.decode().strip()
        offset = end
    return Log(identity, known.offset + offset, np.unique(np.concatenate(parts)), generation, ids)


def merged(chunks: Iterable[np.ndarray], extra: np.ndarray) -> Iterator[np.ndarray]:
    """Ascending chunks of unique keys and an ascending array of unique keys, as ascending chunks, each key once."""
    for chunk in chunks:
        if not len(chunk):
            continue
        cut = int(np.searchsorted(extra, chunk[-1], side="right"))
        part, extra = extra[:cut], extra[cut:]
        places = np.searchsorted(chunk, part)
        new = chunk[np.minimum(places, len(chunk) - 1)] != part
        yield np.insert(chunk, places[new], part[new])  # both sorted: an insert, no sort
    if len(extra):
        yield extra


# One index object per warehouse file per process, like the run's fetcher and extraction pools.
INDEXES: dict[Path, KeyIndex] = {}
INDEXES_LOCK = threading.Lock()


def key_index(db_path: Path) -> KeyIndex:
    """The process's key index of the warehouse at `db_path`."""
    path = index_path(Path(db_path).resolve())
    with INDEXES_LOCK:
        return INDEXES.setdefault(path, KeyIndex(path))


def close_key_indexes() -> None:
    """Forget what every key index read (a run's end); the next use reads its files again."""
    with INDEXES_LOCK:
        while INDEXES:
            INDEXES.popitem()[1].close()
