"""The newsdag exception tree.

    NewsdagError                 base; every error names the thing it failed on
    ├── ConfigError              bad settings, flags or sources file (permanent)
    ├── InputError               a path or input that cannot be read at all (permanent)
    ├── FetchError               a network fetch failed
    │   ├── TransientFetchError  worth retrying: timeouts, resets, 429, 5xx
    │   └── PermanentFetchError  not worth retrying: 4xx, refused by policy
    ├── DecompressError          compressed data is corrupt, truncated or over its size cap
    ├── DiscoveryError           a feed, sitemap or URL list could not be read for links
    ├── ExtractError             a document could not be turned into an article
    ├── ValidationFailed         the validation suite itself could not run
    ├── WarehouseError           the database cannot be opened or written
    │   └── WarehouseBusy        another process holds the database's write lock
    ├── ExportError              an export directory cannot be written, or holds another kind of export
    │   └── ExportBusy           another export is writing the same directory
    └── RunFailed                a run ended failed (e.g. every fetch failed); carries its summary

`transient` is True for the errors worth trying again later (TransientFetchError, WarehouseBusy, ExportBusy):
the flow retries a whole I/O task on those (`is_transient`), never on the others.

Per-document problems (an undecodable file, an empty page) are not raised to the
user: stages turn them into `Reject` rows. Only `flows/cli.py` turns these
exceptions into messages.
"""

from __future__ import annotations

from typing import Any


class NewsdagError(Exception):
    """Base of all newsdag errors; `subject` is the path, URL or rule it failed on."""

    transient = False

    def __init__(self, message: str, subject: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject

    def __str__(self) -> str:
        message = super().__str__()
        return f"{self.subject}: {message}" if self.subject else message


class ConfigError(NewsdagError):
    """A setting, flag or sources file is wrong."""


class InputError(NewsdagError):
    """An input path does not exist or cannot be read."""


class FetchError(NewsdagError):
    """A network fetch failed; `rule` names the kind (timeout, client-error, refused-address, ...).

    `status` is the HTTP status when there was one, `retry_after` the server's Retry-After in seconds,
    `attempts` how many requests were made before giving up.
    """

    def __init__(
        self,
        message: str,
        rule: str,
        subject: str | None = None,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, subject)
        self.rule = rule
        self.status = status
        self.retry_after = retry_after
        self.attempts = 1


class TransientFetchError(FetchError):
    """A fetch failure worth retrying."""

    transient = True


class PermanentFetchError(FetchError):
    """A fetch failure not worth retrying."""


class DecompressError(NewsdagError):
    """Compressed data that cannot be undone within its cap (tasks/decompress.py); `rule` names why.

    Rules: 'corrupt' (not valid gzip/zlib data), 'truncated' (the stream ends early), 'too-large' (more
    than the cap after decompression). Callers turn it into their own reject rule or FetchError.
    """

    def __init__(self, message: str, rule: str, subject: str | None = None) -> None:
        super().__init__(message, subject)
        self.rule = rule


class DiscoveryError(NewsdagError):
    """A fetched feed or sitemap yields no links; `rule` names why.

    Rules: 'not-a-feed', 'not-a-sitemap', 'bad-xml', 'bad-gzip', 'xml-entities' (the document
    declares entities or a DTD subset: refused, never expanded), 'too-large'. The flow turns it
    into a `Reject` for the feed's URL, like an ExtractError for a page.
    """

    def __init__(self, message: str, rule: str, subject: str | None = None) -> None:
        super().__init__(message, subject)
        self.rule = rule


class ExtractError(NewsdagError):
    """A document could not be turned into an article; `rule` names why."""

    def __init__(self, message: str, rule: str, subject: str | None = None) -> None:
        super().__init__(message, subject)
        self.rule = rule


class ValidationFailed(NewsdagError):
    """The validation suite could not be run at all (not: some rows failed)."""


class WarehouseError(NewsdagError):
    """The warehouse cannot be opened, migrated or written."""


class WarehouseBusy(WarehouseError):
    """Another process holds the database; try again when its load finishes."""

    transient = True


class ExportError(NewsdagError):
    """An export could not be written; `subject` is the export directory or the file it failed on."""


class ExportBusy(ExportError):
    """Another export holds the export directory's lock; try again when it finishes."""

    transient = True


class RunFailed(NewsdagError):
    """A run ended `failed` (every fetch failed, or an error stopped it); `summary` has its counts and reason.

    Raised by the Prefect flow so the flow run ends Failed with the reason.
    """

    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__(f"run {summary['run_id']} failed: {summary.get('error')}")
        self.summary = summary


def is_transient(error: BaseException) -> bool:
    """Whether `error` is worth trying again later (see `transient`); anything outside the tree is not."""
    return isinstance(error, NewsdagError) and error.transient
