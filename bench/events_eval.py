"""Events and stories against human-labelled events: the AllSides dev set of ../shared/eval/stories.

Run: .venv/bin/python bench/events_eval.py [DATASET.jsonl GOLD.jsonl] [--db PATH] [--show N]
The texts are ingested with the production run into a temporary DuckDB file (or read from --db, a warehouse
that ingested them already), and each level is scored against the gold events (an AllSides roundup: one
left, one centre and one right outlet's article on one event of the day) as ../shared/eval/stories/evaluate.py
scores stories: documents map back to input lines through documents.input, an exact duplicate counts in its
original's cluster, pairwise and B-cubed precision/recall/F1. Stories chain events, so their precision
against events is expected to be lower; their recall says whether an event ever straddles two stories.
--show N prints the N worst merged and split clusters of the event level.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

from newsdag.flows.run import run_ingest
from newsdag.flows.settings import Settings
from newsdag.tasks.models import IngestRequest
from newsdag.warehouse.db import connect

DATASET = Path("/work/shared/eval/stories/allsides_dev.jsonl")
GOLD = Path("/work/shared/eval/stories/allsides_dev.gold.jsonl")
LEVELS = {
    "events": "SELECT article_id, event_id FROM event_articles",
    "stories": "SELECT article_id, story_id FROM story_articles",
}


def predicted(db: Path) -> dict[str, dict[int, str]]:
    """Input line (0-based) -> cluster id, per level."""
    with connect(db, read_only=True) as con:
        documents = con.execute(
            "SELECT d.input, a.article_id, coalesce(a.duplicate_of, a.article_id) "
            "FROM documents AS d JOIN articles AS a ON a.article_id = d.article_id"
        ).fetchall()
        levels = {level: dict(con.execute(query).fetchall()) for level, query in LEVELS.items()}
    return {
        level: {
            int(line.rsplit(":", 1)[1]) - 1: clusters.get(root) or clusters.get(article) or f"unassigned:{line}"
            for line, article, root in documents
        }
        for level, clusters in levels.items()
    }


def pairs_together(labels: list) -> int:
    return sum(n * (n - 1) // 2 for n in collections.Counter(labels).values())


def scores(gold: dict[int, object], pred: dict[int, str]) -> dict[str, object]:
    items = sorted(pred)
    truth = [gold[i] for i in items]
    guess = [pred[i] for i in items]
    true_pairs, pred_pairs = pairs_together(truth), pairs_together(guess)
    hits = pairs_together(list(zip(truth, guess, strict=True)))
    precision = hits / pred_pairs if pred_pairs else 1.0
    recall = hits / true_pairs if true_pairs else 1.0
    gold_size, pred_size = collections.Counter(truth), collections.Counter(guess)
    joint = collections.Counter(zip(truth, guess, strict=True))
    b_precision = sum(joint[(t, g)] / pred_size[g] for t, g in zip(truth, guess, strict=True)) / len(items)
    b_recall = sum(joint[(t, g)] / gold_size[t] for t, g in zip(truth, guess, strict=True)) / len(items)
    return {
        "documents": len(items),
        "clusters": len(pred_size),
        "gold_clusters": len(gold_size),
        "pairwise": {
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(2 * precision * recall / (precision + recall), 3) if hits else 0.0,
            "true_pairs": hits,
            "predicted_pairs": pred_pairs,
            "gold_pairs": true_pairs,
        },
        "bcubed": {
            "precision": round(b_precision, 3),
            "recall": round(b_recall, 3),
            "f1": round(2 * b_precision * b_recall / (b_precision + b_recall), 3),
        },
    }


def worst(gold: list[dict], pred: dict[int, str], show: int) -> None:
    """The clusters with the most pairs from different gold events, and the gold events split most."""
    by_pred, by_gold = collections.defaultdict(list), collections.defaultdict(list)
    for i, cluster in pred.items():
        by_pred[cluster].append(i)
        by_gold[gold[i]["gold"]].append(i)

    def apart(members: list[int], label: dict[int, object]) -> int:
        return len(members) * (len(members) - 1) // 2 - pairs_together([label[i] for i in members])

    gold_of = {i: gold[i]["gold"] for i in pred}
    print(f"\n== {show} worst merged events ==")
    for members in sorted(by_pred.values(), key=lambda m: -apart(m, gold_of))[:show]:
        print(f"-- {len(members)} articles, {apart(members, gold_of)} pairs from different gold events")
        for i in sorted(members, key=lambda i: (gold_of[i], gold[i]["date"])):
            print(f"   gold {gold_of[i]} {gold[i]['date'][:10]} {gold[i]['source'][:20]:20} {gold[i]['title'][:80]}")
    print(f"\n== {show} worst split gold events ==")
    for members in sorted(by_gold.values(), key=lambda m: -apart(m, pred))[:show]:
        roundup = gold[members[0]]["roundup"][:70]
        print(f"-- gold {gold_of[members[0]]} ({roundup}): {apart(members, pred)} missed pairs")
        for i in members:
            print(f"   {pred[i][:12]:12} {gold[i]['date'][:10]} {gold[i]['source'][:20]:20} {gold[i]['title'][:80]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=DATASET)
    parser.add_argument("gold", nargs="?", type=Path, default=GOLD)
    parser.add_argument("--db", type=Path, help="a warehouse that ingested the dataset already")
    parser.add_argument("--show", type=int, default=0)
    args = parser.parse_args()
    gold = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as directory:
        db = args.db or Path(directory) / "events.duckdb"
        if args.db is None:
            run_ingest(IngestRequest.from_inputs([str(args.dataset)]), Settings.from_env(db_path=db))
        levels = predicted(db)
    result = {level: scores({i: row["gold"] for i, row in enumerate(gold)}, pred) for level, pred in levels.items()}
    print(json.dumps(result, indent=2))
    if args.show:
        worst(gold, levels["events"], args.show)


if __name__ == "__main__":
    main()
