"""Worker faults for tests/test_extract_pool.py, in a module light to import (workers import it)."""

from __future__ import annotations

import os
import time

from newsdag.tasks.models import Article, RawDocument, Reject

CRASH = b"<!-- test: worker exits -->"
HANG = b"<!-- test: worker hangs -->"
HANG_SECONDS = 60
SLOW = b"<!-- test: worker is slow -->"
SLOW_SECONDS = 1.2


def faulty_extractor(document: RawDocument) -> Article | Reject:
    """What a segfault or an OOM kill does to a worker (CRASH), a pathological page (HANG), or a slow
    page within the bound (SLOW); any other document gives a Reject with rule test-ok (no real
    extraction: fast and predictable)."""
    if CRASH in document.content:
        os._exit(70)
    if HANG in document.content:
        time.sleep(HANG_SECONDS)
    if SLOW in document.content:
        time.sleep(SLOW_SECONDS)
    return Reject(document.input, "extract", "test-ok", "", document.doc_id, document.url)


def lazily_loaded() -> dict[str, bool]:
    """Which of extraction's lazily loaded data this process holds before extracting anything."""
    import justext.core
    import py3langid.langid
    from dateparser.languages.loader import LocaleDataLoader

    return {
        "language model": py3langid.langid.IDENTIFIER is not None,
        "jusText stoplists": justext.core.define_stoplist.cache_info().currsize > 0,
        "dateparser locales": len(LocaleDataLoader._loaded_locales) > 100,
    }
