"""Benchmark: WARC input (tasks/warc.py) against the same pages as loose files, its filters, its memory, and the peers.

Usage: .venv/bin/python bench/warc.py [--pages 300] [--workers 2] [--repeat 3] [--scale 10] [--steps 0,1,2,3,4,5]
                                      [--peers-python bench/.peers-venv/bin/python]

Builds, from the dev pages in ../shared/eval/dev (each copy a distinct article, as bench/throughput.py does),
with warcio's writer, every page a response record with an HTTP header:
  kept.warc.gz      --pages records on hosts under kept.example, and the same pages as loose .html.gz files;
  mixed.warc.gz     the same records with (scale - 1) others around each, on hosts under other.example;
  all.warc.gz       scale x --pages records, every one kept (for memory at 10x the file);
  fundus.warc.gz    the fundus dev set's pages at their own URLs (what the peers' WARC paths can read).
Then reports, each command in its own process:
  0. the reader choice: records per CPU-second of FastWARC and warcio in the same loop (every record's WARC
     and HTTP headers parsed and its body read; then the headers only, what a filtered-out record costs) on
     kept.warc.gz (a gzip member per record), the same file uncompressed, and the samples in ../shared/warc
     that both read, in rounds back to back, the ratio taken within each round;
  1. records/s read (FastWARC iteration and header rules; body decoding) and filtered (mixed.warc.gz with
     --domain kept.example: 90 % skipped), CPU seconds in this process; FastWARC against warcio on the same file;
  2. articles/s end to end, `newsdag ingest kept.warc.gz` against `newsdag ingest LOOSE_DIR`, back-to-back
     pairs on --workers, the ratio taken within each pair, medians quoted (goal >= 0.9); beside it the CPU
     time of the main process (reading, decoding, validating, loading: all but extraction, which runs on the
     same pages in worker processes), which other load on the VM moves less than wall time;
  3. the cost of filtering: `ingest mixed.warc.gz --domain kept.example` against `ingest kept.warc.gz`, pairs
     (goal <= 10 % more time);
  4. peak RSS of the largest process at 1x (kept.warc.gz) and scale x (all.warc.gz) the file (goal: flat),
     beside the same pages as loose files at 1x and scale x (the growth that is not the WARC's);
  5. per core (taskset -c 0, one worker): newsdag, news-please's WARC path (CommonCrawlExtractor's reader and
     NewsPlease.from_warc, the file given locally as it would be after its download) and fundus's
     (CCNewsCrawler's per-file path: CCNewsSource streaming the file over HTTP, its publisher parsers) on
     fundus.warc.gz; the peers run in bench/.peers-venv (pip install news-please fundus "curl_cffi==0.13.0": fundus
     0.5.7 fails to import with curl_cffi 0.17), never in newsdag's
     environment, inside a network namespace of their own (`unshare -n`: loopback only), the file served
     to fundus from loopback.
Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
EVAL_DEV = REPO.parent / "shared" / "eval" / "dev"
NEWSDAG = Path(sys.executable).parent / "newsdag"
PEERS_PYTHON = REPO / "bench" / ".peers-venv" / "bin" / "python"
PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime, file=sys.stderr); sys.exit(code)"
)

NEWS_PLEASE = r"""
import logging, sys, time
logging.disable(logging.CRITICAL)
started = time.perf_counter()
from newsplease.crawler import commoncrawl_crawler  # noqa: F401  # first: the extractor module imports it back
from newsplease.crawler.commoncrawl_extractor import CommonCrawlExtractor
extractor = CommonCrawlExtractor()
found = []
# The reader of CommonCrawlExtractor.extract_from_commoncrawl after its download step (which would ask S3 and
# the network first): the same loop over warcio's ArchiveIterator and NewsPlease.from_warc, images not fetched.
settings = {
    "filter_valid_hosts": [], "filter_start_date": None, "filter_end_date": None, "filter_strict_date": False,
    "callback_on_article_extracted": lambda article: found.append(article),
    "callback_on_warc_completed": lambda *counts: None, "continue_after_error": True,
    "ignore_unicode_errors": True, "fetch_images": False, "delete_warc_after_extraction": False,
    "log_pathname_fully_extracted_warcs": None, "warc_path": sys.argv[1],
}
for name, value in settings.items():
    setattr(extractor, f"_CommonCrawlExtractor__{name}", value)
extractor._CommonCrawlExtractor__logger = logging.getLogger("news-please")
extractor._CommonCrawlExtractor__process_warc_gz_file(sys.argv[1])
texts = [article for article in found if (article.maintext or "").strip()]
print(len(found), len(texts), round(time.perf_counter() - started, 2))
"""

FUNDUS = r"""
import functools, http.server, logging, sys, threading, time
from pathlib import Path
logging.disable(logging.CRITICAL)
started = time.perf_counter()
from fundus import PublisherCollection
from fundus.scraping.crawler import CCNewsCrawler
folder = str(Path(sys.argv[1]).parent)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=folder)
handler.log_message = lambda *args: None
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/{Path(sys.argv[1]).name}"
crawler = CCNewsCrawler(*PublisherCollection, processes=0, retries=0, disable_tqdm=True)
publishers = tuple(crawler.publishers)
articles = list(crawler._fetch_articles(url, publishers, "suppress"))
texts = [article for article in articles if str(article.body or "").strip()]
server.shutdown()
print(len(articles), len(texts), round(time.perf_counter() - started, 2))
"""


def dev_pages() -> list[tuple[str, bytes, str]]:
    """(set, html, url) of every dev page, sorted by set and file."""
    pages = []
    for truth in sorted(EVAL_DEV.glob("*/truth.jsonl")):
        for line in truth.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            path = truth.parent / record["file"]
            if path.exists():
                pages.append((truth.parent.name, gzip.decompress(path.read_bytes()), record["url"]))
    if not pages:
        sys.exit(f"no dev pages under {EVAL_DEV}")
    return pages


def copy_of(page: tuple[str, bytes, str], number: int, group: str) -> tuple[str, bytes]:
    """A distinct article from a dev page: its links on a host of its own (as bench/throughput.py), and its URL
    on a host under `group` (kept.example, other.example) with the original path."""
    _, html, url = page
    parts = urlsplit(url)
    body = html.replace(b"://", f"://copy{number}.".encode())
    return f"https://copy{number}-{parts.hostname}.{group}{parts.path or '/'}", body


def write_records(path: Path, records: list[tuple[str, bytes]]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, body in records:
            http = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                http_headers=http,
                warc_headers_dict={"WARC-Date": "2026-11-20T08:30:00Z"},
            )
            writer.write_record(record)


def build(scratch: Path, pages: int, scale: int, *, loose_all: bool = False) -> dict[str, Path]:
    originals = dev_pages()
    kept = [copy_of(originals[number % len(originals)], number, "kept.example") for number in range(pages)]
    loose = scratch / "loose"
    loose.mkdir()
    for number, (_, body) in enumerate(kept):
        (loose / f"page-{number:06d}.html.gz").write_bytes(gzip.compress(body, compresslevel=1))
    files = {"loose": loose, "kept": scratch / "kept.warc.gz", "mixed": scratch / "mixed.warc.gz"}
    write_records(files["kept"], kept)
    mixed = []
    for number, record in enumerate(kept):
        mixed.append(record)
        for other in range(1, scale):
            serial = pages + number * scale + other
            mixed.append(copy_of(originals[serial % len(originals)], serial, "other.example"))
    write_records(files["mixed"], mixed)
    files["all"] = scratch / "all.warc.gz"
    write_records(
        files["all"],
        [copy_of(originals[number % len(originals)], number, "kept.example") for number in range(pages * scale)],
    )
    if loose_all:  # the records of all.warc.gz as loose files, for memory's control
        files["loose_all"] = scratch / "loose-all"
        files["loose_all"].mkdir()
        for number in range(pages * scale):
            _, body = copy_of(originals[number % len(originals)], number, "kept.example")
            (files["loose_all"] / f"page-{number:06d}.html.gz").write_bytes(gzip.compress(body, compresslevel=1))
    fundus = [(url, html) for name, html, url in originals if name == "fundus"]
    files["fundus"] = scratch / "fundus" / "CC-NEWS-20261120000000-00000.warc.gz"
    files["fundus"].parent.mkdir()
    write_records(files["fundus"], fundus)
    return files


def reading_rates(files: dict[str, Path], repeat: int) -> dict[str, float]:
    """Records per CPU-second in this process: FastWARC's loop with the header rules (tasks.warc.read_archive),
    body decoding (payload_document), filtering mixed.warc.gz, and warcio's bare loop on the same file."""
    from warcio.archiveiterator import ArchiveIterator

    from newsdag.tasks import warc
    from newsdag.tasks.models import WarcRules

    def cpu(task: Any) -> tuple[float, int]:
        started = time.process_time()
        count = task()
        return time.process_time() - started, count

    def read(path: Path, rules: WarcRules) -> int:
        return sum(1 for _ in warc.read_archive(warc.LocalArchive(path), rules))  # steps, not records

    def decode(path: Path) -> int:
        steps = [item for item in warc.read_archive(warc.LocalArchive(path), WarcRules()) if item.payload]
        started = time.process_time()
        for item in steps:
            warc.payload_document(item.payload, source="bench", max_decompressed_bytes=50 << 20)  # type: ignore[arg-type]
        decode.seconds = time.process_time() - started  # type: ignore[attr-defined]
        return len(steps)

    def warcio_loop(path: Path) -> int:
        count = 0
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle):
                record.rec_headers.get_header("WARC-Target-URI")
                record.content_stream().read()
                count += 1
        return count

    results: dict[str, list[float]] = {"read": [], "decode": [], "filter": [], "warcio": []}
    records = {"kept": 0, "mixed": 0}
    for _ in range(repeat):
        records["kept"] = sum(1 for _ in open_records(files["kept"]))
        seconds, _ = cpu(lambda: read(files["kept"], WarcRules()))
        results["read"].append(records["kept"] / seconds)
        decoded = decode(files["kept"])
        results["decode"].append(decoded / decode.seconds)  # type: ignore[attr-defined]
        rules = WarcRules(domains=("kept.example",))
        records["mixed"] = sum(1 for _ in open_records(files["mixed"]))
        seconds, _ = cpu(lambda rules=rules: read(files["mixed"], rules))
        results["filter"].append(records["mixed"] / seconds)
        seconds, count = cpu(lambda: warcio_loop(files["kept"]))
        results["warcio"].append(count / seconds)
    return {name: median(values) for name, values in results.items()} | {f"{k}_records": v for k, v in records.items()}


SHARED_WARC = REPO.parent / "shared" / "warc"
SHARED_PASSES = 20  # the samples are small (0.5 MB together): each round reads them this many times


def fastwarc_loop(path: Path, bodies: bool) -> int:
    from fastwarc.warc import ArchiveIterator

    count = 0
    with path.open("rb") as handle:
        for record in ArchiveIterator(handle, parse_http=bodies):
            record.headers.get("WARC-Target-URI")
            if bodies:
                record.reader.read()
            count += 1
    return count


def warcio_loop_on(path: Path, bodies: bool) -> int:
    from warcio.archiveiterator import ArchiveIterator

    count = 0
    # warcio writes a line to stderr for each target URI with a space (one of the samples)
    with path.open("rb") as handle, contextlib.redirect_stderr(io.StringIO()):
        for record in ArchiveIterator(handle):  # parses HTTP headers whether asked or not
            record.rec_headers.get_header("WARC-Target-URI")
            if bodies:
                record.raw_stream.read()
            count += 1
    return count


def readable_by_both(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """The samples both readers read to their end without an error (LZ4, ARC and the broken ones drop out)."""
    both, left_out = [], []
    for path in paths:
        try:
            if fastwarc_loop(path, True) == warcio_loop_on(path, True) > 0:
                both.append(path)
                continue
        except Exception:  # a bench: any failure of either reader leaves the file out
            pass
        left_out.append(path.name)
    return both, left_out


def reader_rates(files: dict[str, Path], repeat: int) -> list[tuple[str, int, str, float, float, list[float]]]:
    """(input, records, loop, FastWARC records/CPU-s, warcio records/CPU-s, FastWARC/warcio per round)."""
    plain = files["kept"].with_suffix("")  # kept.warc
    plain.write_bytes(gzip.decompress(files["kept"].read_bytes()))
    shared, _ = readable_by_both(sorted(SHARED_WARC.glob("*.warc*")))
    inputs = {"kept.warc.gz": [files["kept"]], "kept.warc": [plain], "shared samples": shared * SHARED_PASSES}
    rows = []
    for name, paths in inputs.items():
        for bodies in (True, False):
            rates: dict[str, list[float]] = {"fastwarc": [], "warcio": []}
            count = 0
            for _ in range(repeat):
                for reader, loop in (("fastwarc", fastwarc_loop), ("warcio", warcio_loop_on)):
                    started = time.process_time()
                    count = sum(loop(path, bodies) for path in paths)
                    rates[reader].append(count / (time.process_time() - started))
            ratios = [fast / slow for fast, slow in zip(rates["fastwarc"], rates["warcio"], strict=True)]
            loop_name = "headers + body" if bodies else "headers only"
            rows.append((name, count, loop_name, median(rates["fastwarc"]), median(rates["warcio"]), ratios))
    return rows


def open_records(path: Path) -> Any:
    from fastwarc.warc import ArchiveIterator

    with path.open("rb") as handle:
        yield from ArchiveIterator(handle, parse_http=False)


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS MiB of the command's largest process, stdout, CPU seconds of the command's own
    process) of one command. The CPU leaves out the extraction workers: they are children of the forkserver,
    which nobody waits for, so their rusage never reaches this process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_WRAPPER, *command], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    peak, cpu = done.stderr.strip().splitlines()[-1].split()
    return wall, int(peak) / 1024, done.stdout, float(cpu)


def ingest(scratch: Path, label: str, inputs: list[str], workers: int, *extra: str) -> tuple[float, float, dict, float]:
    """One `newsdag ingest` into a database and archive of its own: (wall s, peak RSS MiB, summary, CPU s)."""
    work = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=scratch))
    command = [str(NEWSDAG), "ingest", *inputs, "--db", str(work / "news.duckdb"), "--workers", str(workers)]
    command += ["--json", "--prefect", "never", *extra]
    wall, peak, out, cpu = timed(command, {**os.environ, "NEWSDAG_ARCHIVE": str(work / "archive")})
    return wall, peak, json.loads(out), cpu


def peer(script: str, path: Path, python: Path) -> tuple[float, int, int]:
    """(wall s, articles, articles with text) of a peer on one core, in a network namespace of its own."""
    command = f'ip link set lo up && exec taskset -c 0 {python} -c "$PEER" {path}'
    started = time.perf_counter()
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", command], capture_output=True, text=True, env={**os.environ, "PEER": script}
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"peer failed:\n{done.stderr[-3000:]}")
    articles, texts, _ = done.stdout.split()[-3:]
    return wall, int(articles), int(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each pair; medians are quoted")
    parser.add_argument(
        "--scale", type=int, default=10, help="records per kept record in mixed.warc.gz, and x for memory"
    )
    parser.add_argument("--steps", default="0,1,2,3,4,5", help="which of the numbered reports to run")
    parser.add_argument("--peers-python", type=Path, default=PEERS_PYTHON)
    args = parser.parse_args()
    steps = {int(step) for step in args.steps.split(",")}
    with tempfile.TemporaryDirectory(prefix="newsdag-warc-bench-") as directory:
        scratch = Path(directory)
        files = build(scratch, args.pages, args.scale, loose_all=4 in steps)
        sizes = {name: path.stat().st_size / 1e6 for name, path in files.items() if path.is_file()}
        print(
            f"{args.pages} pages x {args.scale}, {args.workers} workers, {os.cpu_count()} cores, {args.repeat} rounds"
        )
        print("files (MB): " + ", ".join(f"{name} {size:.1f}" for name, size in sizes.items()))

        if 0 in steps:
            reader_report(files, args.repeat)
        if 1 in steps:
            rates_report(files, args.repeat)
        if 2 in steps:
            throughput_report(scratch, files, args.workers, args.repeat)
        if 3 in steps:
            filter_report(scratch, files, args.workers, args.repeat)
        if 4 in steps:
            memory_report(scratch, files, sizes, args.workers, args.scale)
        if 5 in steps:
            peers_report(scratch, files, sizes, args.repeat, args.peers_python)


def reader_report(files: dict[str, Path], repeat: int) -> None:
    _, left_out = readable_by_both(sorted(SHARED_WARC.glob("*.warc*")))
    print(f"\n0. FastWARC vs warcio, records per CPU-second, medians of {repeat} rounds")
    print(f"   (shared samples x {SHARED_PASSES}; left out, not read by both: {', '.join(left_out)})")
    print("| input | records | loop | FastWARC /s | warcio /s | FastWARC / warcio, per round |")
    print("|---|---|---|---|---|---|")
    for name, count, loop_name, fast, slow, ratios in reader_rates(files, repeat):
        ratio = f"{median(ratios):.2f} {fmt(ratios)}"
        print(f"| {name} | {count:,} | {loop_name} | {fast:,.0f} | {slow:,.0f} | {ratio} |")


def rates_report(files: dict[str, Path], repeat: int) -> None:
    rates = reading_rates(files, repeat)
    print("\n1. records per CPU-second in one process (medians)")
    print(f"   read, FastWARC + header rules, kept.warc.gz ({rates['kept_records']} records): {rates['read']:,.0f}/s")
    print(f"   warcio's bare loop on the same file: {rates['warcio']:,.0f}/s")
    print(f"   body decoding (de-chunk, charset) of the kept records: {rates['decode']:,.0f}/s")
    print(f"   filtered, mixed.warc.gz ({rates['mixed_records']} records, 90 % off-domain): {rates['filter']:,.0f}/s")


def throughput_report(scratch: Path, files: dict[str, Path], workers: int, repeat: int) -> None:
    pairs = []
    for _ in range(repeat):
        loose = ingest(scratch, "loose", [str(files["loose"])], workers)
        packed = ingest(scratch, "warc", [str(files["kept"])], workers)
        pairs.append((loose, packed))
    walls = [loose[0] / packed[0] for loose, packed in pairs]
    cpus = [loose[3] / packed[3] for loose, packed in pairs]
    print(f"\n2. end to end, {workers} workers: loose files vs the same pages in one WARC")
    print("| input | wall s (median, min-max) | articles/s | main process CPU s (median) | peak RSS MiB | loaded |")
    print("|---|---|---|---|---|---|")
    for index, name in ((0, "loose .html.gz files"), (1, "kept.warc.gz")):
        wall = [pair[index][0] for pair in pairs]
        cpu = [pair[index][3] for pair in pairs]
        summary = pairs[0][index][2]
        print(
            f"| {name} | {median(wall):.1f} ({min(wall):.1f}-{max(wall):.1f}) | "
            f"{summary['loaded'] / median(wall):.2f} | {median(cpu):.1f} | {pairs[0][index][1]:.0f} | "
            f"{summary['loaded']} |"
        )
    print(f"WARC / loose articles per wall second, per pair: {fmt(walls)}, median {median(walls):.2f} (goal >= 0.9)")
    print(f"loose / WARC main-process CPU, per pair: {fmt(cpus)}, median {median(cpus):.2f}")
    for index, name in ((0, "loose"), (1, "WARC")):
        print(f"{name} run seconds by step: {json.dumps(pairs[-1][index][2]['seconds_by_step'])}")


def filter_report(scratch: Path, files: dict[str, Path], workers: int, repeat: int) -> None:
    costs = []
    for _ in range(repeat):
        kept = ingest(scratch, "kept", [str(files["kept"])], workers)
        mixed = ingest(scratch, "mixed", [str(files["mixed"])], workers, "--domain", "kept.example")
        assert mixed[2]["loaded"] == kept[2]["loaded"], (mixed[2], kept[2])
        costs.append((kept, mixed))
    skipped = costs[0][1][2]["skipped"]
    print(f"\n3. filtering 90 % out by domain: kept.warc.gz vs mixed.warc.gz --domain kept.example ({skipped} skipped)")
    for index, unit in ((0, "wall"), (3, "main-process CPU")):
        extra = [mixed[index] / kept[index] - 1 for kept, mixed in costs]
        kept_s, mixed_s = fmt([c[0][index] for c in costs]), fmt([c[1][index] for c in costs])
        print(f"   {unit} s: kept {kept_s}, mixed {mixed_s}")
        per_pair = fmt([100 * e for e in extra])
        print(f"   extra {unit} time per pair: {per_pair} %, median {100 * median(extra):.1f} % (goal <= 10 %)")


def memory_report(scratch: Path, files: dict[str, Path], sizes: dict[str, float], workers: int, scale: int) -> None:
    print(f"\n4. peak RSS of the largest process, 1x and {scale}x the file, beside the same pages as loose files")
    print("| input | MB | articles | wall s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    peaks = {}
    for name, key in (("kept.warc.gz (1x)", "kept"), (f"all.warc.gz ({scale}x)", "all")):
        run = ingest(scratch, key, [str(files[key])], workers)
        peaks[key] = run[1]
        print(f"| {name} | {sizes[key]:.0f} | {run[2]['loaded']} | {run[0]:.0f} | {run[1]:.0f} |")
    for name, key in (("loose files (1x)", "loose"), (f"loose files ({scale}x)", "loose_all")):
        run = ingest(scratch, key, [str(files[key])], workers)
        peaks[key] = run[1]
        print(f"| {name} | | {run[2]['loaded']} | {run[0]:.0f} | {run[1]:.0f} |")
    warc_growth, loose_growth = peaks["all"] / peaks["kept"], peaks["loose_all"] / peaks["loose"]
    print(f"   peak {scale}x / 1x: WARC {warc_growth:.2f}, loose {loose_growth:.2f}")


def peers_report(
    scratch: Path, files: dict[str, Path], sizes: dict[str, float], repeat: int, peers_python: Path
) -> None:
    if not peers_python.exists():
        sys.exit(
            f"no peers venv at {peers_python}: python3 -m venv bench/.peers-venv && "
            "bench/.peers-venv/bin/pip install news-please fundus"
        )
    rows = []
    for _ in range(repeat):
        wall, _, summary = ingest_pinned(scratch, files["fundus"])
        news_please = peer(NEWS_PLEASE, files["fundus"], peers_python)
        fundus = peer(FUNDUS, files["fundus"], peers_python)
        rows.append(((wall, summary["loaded"], summary["loaded"]), news_please, fundus))
    print(f"\n5. one core (taskset -c 0), fundus.warc.gz ({sizes['fundus']:.1f} MB), whole commands")
    print("| tool | wall s (median) | articles | with text | articles/s per core | newsdag / tool |")
    print("|---|---|---|---|---|---|")
    for index, name in (
        (0, "newsdag ingest --workers 1"),
        (1, "news-please (WARC path)"),
        (2, "fundus (CC-NEWS path)"),
    ):
        walls = [row[index][0] for row in rows]
        rate = rows[0][index][2] / median(walls)
        speedups = [row[index][0] / row[0][0] * row[0][2] / max(1, row[index][2]) for row in rows]
        print(
            f"| {name} | {median(walls):.1f} | {rows[0][index][1]} | {rows[0][index][2]} | {rate:.2f} | "
            f"{median(speedups):.2f} {fmt(speedups)} |"
        )


def ingest_pinned(scratch: Path, path: Path) -> tuple[float, float, dict]:
    work = Path(tempfile.mkdtemp(prefix="pinned-", dir=scratch))
    command = ["taskset", "-c", "0", str(NEWSDAG), "ingest", str(path), "--db", str(work / "news.duckdb")]
    command += ["--workers", "1", "--json", "--prefect", "never"]
    wall, peak, out, _ = timed(command, {**os.environ, "NEWSDAG_ARCHIVE": str(work / "archive")})
    return wall, peak, json.loads(out)


def fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{value:.2f}" for value in values) + "]"


if __name__ == "__main__":
    main()
