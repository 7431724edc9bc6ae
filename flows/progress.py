"""Progress lines of runs: inputs done of the total, rate and ETA, for logs and pipes where no bar can be drawn."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # flows.run imports every stage (~0.6 s); `newsdag sql` imports this module too
    from newsdag.flows.run import Progress


class ProgressLines:
    """One line per progress report of a run, with its rate and ETA.

    A run's clock starts at its first report (sent after discovery, with nothing done yet): the rate
    is of the inputs processed since, which is what the remaining ones will take too.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.first: dict[str, tuple[float, int]] = {}  # run id -> (time, inputs done) at its first report

    def line(self, progress: Progress) -> str | None:
        """The line for this report; None for a run's first one (nothing to measure yet)."""
        now = self.clock()
        total = progress.total
        if progress.run_id not in self.first:
            if total is None or progress.done < total:
                self.first[progress.run_id] = (now, progress.done)
            return None
        started, done_then = self.first[progress.run_id]
        if total is not None and progress.done >= total:
            del self.first[progress.run_id]  # the run's last report
        elapsed = now - started
        rate = (progress.done - done_then) / elapsed if elapsed > 0 else 0.0
        if total is None:  # the inputs are still being counted
            done = f"{progress.done}/? inputs"
            eta = "unknown"
        else:
            done = f"{progress.done}/{total} inputs" + (f" ({100 * progress.done // total}%)" if total else "")
            eta = format_seconds(max(0, total - progress.done) / rate) if rate > 0 else "unknown"
        counts = progress.counts
        return (
            f"{done}, {rate:.1f}/s, ETA {eta}; loaded {counts['loaded']}, "
            f"updated {counts['updated']}, unchanged {counts['unchanged']}, rejected {counts['rejected']}"
        )


def format_seconds(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `2 h 07 min`: as precise as an estimate deserves."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
