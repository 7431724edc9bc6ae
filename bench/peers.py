"""newsdag against its peers on the same pages and cores: news-please, newspaper4k and trafilatura.

Each extractor runs as a whole command over every page of the chosen dev sets (../shared/eval/dev) in a
process pool of the same size, imports and process start included; its predictions are scored with the
shared score.py. newsdag runs as `newsdag eval` (the production extraction path, no database) and, for the
whole pipeline, as `newsdag ingest` of the same pages into a fresh warehouse (reading, extraction,
validation, load and clustering).

The peers live in a virtual environment of their own (their pins clash with newsdag's): created on first
use at bench/.peers-venv (`pip install news-please newspaper4k trafilatura`), or given with --peers-python.

    .venv/bin/python bench/peers.py [--sets aeb,fundus,wcxb,htmldate] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import score_predictions

REPO = Path(__file__).resolve().parent.parent
EVAL_DIR = REPO.parent / "shared" / "eval"
PEERS_VENV = REPO / "bench" / ".peers-venv"
PEER_PACKAGES = ("news-please", "newspaper4k", "trafilatura")
NEWSDAG = Path(sys.executable).parent / "newsdag"
PEERS = ("news-please", "newspaper4k", "trafilatura")

# Runs in the peers' environment: one extractor over a dataset, in a pool, predictions as JSONL.
PEER_WORKER = r"""
import gzip, json, sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

def predict(task):
    peer, page_id, path, url = task
    html = gzip.decompress(Path(path).read_bytes()).decode("utf-8")
    try:
        if peer == "news-please":
            from newsplease import NewsPlease
            a = NewsPlease.from_html(html, url=url, fetch_images=False)
            text, title, date, authors = a.maintext, a.title, a.date_publish, a.authors
        elif peer == "newspaper4k":
            import newspaper
            # fetch_images=False: it would otherwise download each page's pictures to size them.
            a = newspaper.Article(url or "https://example.com/", fetch_images=False)
            a.download(input_html=html)
            a.parse()
            text, title, date, authors = a.text, a.title, a.publish_date, a.authors
        else:
            import trafilatura
            d = trafilatura.bare_extraction(html, url=url, with_metadata=True)
            text, title, date, authors = (d.text, d.title, d.date, [d.author] if d.author else []) if d else (None,) * 4
    except Exception:  # a peer failing on a page scores as an empty prediction, as a crash would
        text = title = date = None
        authors = []
    return {"id": page_id, "text": text, "title": title,
            "date": date.isoformat() if hasattr(date, "isoformat") else date,
            "author": ", ".join(authors or []) or None}

if __name__ == "__main__":
    peer, dataset, out, workers = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    # A missing library fails the command here, not as empty predictions for every page.
    __import__({"news-please": "newsplease", "newspaper4k": "newspaper"}.get(peer, peer))
    records = [json.loads(line) for line in (dataset / "truth.jsonl").read_text(encoding="utf-8").splitlines() if line]
    tasks = [(peer, r["id"], str(dataset / r["file"]), r.get("url")) for r in records]
    with ProcessPoolExecutor(workers) as pool:
        predictions = list(pool.map(predict, tasks, chunksize=4))
    out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions), encoding="utf-8")
"""

# (field, metric key in score.py's JSON, column label)
METRICS = (
    ("text", "f1", "text F1"),
    ("title", "exact", "title"),
    ("date", "same_day", "date day"),
    ("author", "token_set", "author"),
)


def peers_python(given: str | None) -> str:
    """The interpreter of the peers' environment, created with their packages on first use."""
    if given:
        return given
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {PEERS_VENV} with {', '.join(PEER_PACKAGES)} …", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return str(python)


def timed(command: list[str], **kwargs: object) -> float:
    """Wall seconds of one whole command (it must succeed)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started


def ingest_seconds(datasets: list[Path], workers: int, scratch: Path) -> tuple[float, int]:
    """`newsdag ingest` of every page of the sets into a fresh warehouse: (wall seconds, pages)."""
    pages = scratch / "ingest-pages"
    pages.mkdir()
    count = 0
    for dataset in datasets:
        for page in sorted((dataset / "pages").glob("*.html.gz")):
            shutil.copy(page, pages / f"{dataset.name}-{page.name}")
            count += 1
    command = [str(NEWSDAG), "ingest", str(pages), "--db", str(scratch / "peers.duckdb"), "--workers", str(workers)]
    return timed([*command, "--prefect", "never"]), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="aeb,fundus,wcxb,htmldate", help="dev sets, comma-separated")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for every extractor")
    parser.add_argument("--peers-python", help="python of an environment with news-please and newspaper4k")
    args = parser.parse_args()
    python = peers_python(args.peers_python)
    datasets = [EVAL_DIR / "dev" / name for name in args.sets.split(",")]
    seconds: dict[str, float] = {}
    scores: dict[tuple[str, str], dict] = {}
    pages = 0
    with tempfile.TemporaryDirectory(prefix="newsdag-peers-") as scratch_name:
        scratch = Path(scratch_name)
        for dataset in datasets:
            pages += sum(1 for line in (dataset / "truth.jsonl").read_text().splitlines() if line)
            for extractor in ("newsdag", *PEERS):
                out = scratch / f"{extractor}-{dataset.name}.jsonl"
                print(f"{dataset.name}: {extractor} …", file=sys.stderr, flush=True)
                if extractor == "newsdag":
                    command = [str(NEWSDAG), "eval", str(dataset), "--out", str(out), "--workers", str(args.workers)]
                else:
                    command = [python, "-c", PEER_WORKER, extractor, str(dataset), str(out), str(args.workers)]
                seconds[extractor] = seconds.get(extractor, 0.0) + timed(command)
                scores[(extractor, dataset.name)] = score_predictions(dataset, out)
        print("newsdag ingest …", file=sys.stderr, flush=True)
        ingest_wall, ingest_pages = ingest_seconds(datasets, args.workers, scratch)

    header = (
        "| extractor | pages/s | "
        + " | ".join(
            f"{dataset.name} {label}"
            for dataset in datasets
            for field, key, label in METRICS
            if scores[("newsdag", dataset.name)].get(field, {}).get(key) is not None
        )
        + " |"
    )
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    for extractor in ("newsdag", *PEERS):
        cells = [
            f"{scores[(extractor, dataset.name)][field][key]:.3f}"
            for dataset in datasets
            for field, key, _label in METRICS
            if scores[("newsdag", dataset.name)].get(field, {}).get(key) is not None
        ]
        rows.append(f"| {extractor} | {pages / seconds[extractor]:.1f} | " + " | ".join(cells) + " |")
    rows.append(
        f"| newsdag ingest (whole pipeline) | {ingest_pages / ingest_wall:.1f} | "
        + " | ".join("" for _ in range(header.count("|") - 3))
        + " |"
    )
    print(f"\n{pages} pages, {args.workers} workers, whole commands (`{' '.join(sys.argv)}`)\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
