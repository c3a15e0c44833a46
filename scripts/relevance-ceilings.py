#!/usr/bin/env python3
"""What the text of a practice-style set can tell, whatever the engine: ceilings for the
name-prefix (NM) and known-item (KI) sets of a judgments file.

  scripts/relevance-ceilings.py DOCS QUERIES [--ranks RANKS.json]

DOCS is the corpus (`docs.ndjson` or `.ndjson.gz`: `id`, `name`, `summary`), QUERIES the
judgments (`qid, set, query, target_id`, TSV), as in ../shared/relevance/pypi/.

- NM: the names that begin with what was typed (case folded) are the candidates; text says
  nothing more about which of them was meant (the query is a name's start, the rest of the
  name is unknown). Prints MRR@10 when they come in a random order (the expected value),
  shortest name first, and, to show what a goal above those would need, the order that
  knows how the set was made (names about twice as long as what was typed first), which is
  not a ranking principle.
- KI: targets whose summary is word for word another document's too (forks, copies): which
  of them was meant is a coin toss for any ranking by text; prints how many, and the MRR@10
  they add at even odds against what an engine got (with --ranks: {qid: {"rank": n, "top":
  [ids]}}, the target's rank in the top 50, 0 when not found, and the first hits' ids).
Standard library only.
"""
import argparse
import bisect
import collections
import csv
import gzip
import json


def harmonic_at_10(n):
    """Expected reciprocal rank (0 past 10) of one item placed at random among n."""
    return sum(1 / r for r in range(1, min(10, n) + 1)) / n if n else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("docs")
    ap.add_argument("queries")
    ap.add_argument("--ranks")
    a = ap.parse_args()
    opener = gzip.open if a.docs.endswith(".gz") else open
    names, summaries = [], {}
    with opener(a.docs, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            names.append((str(d.get("name") or "").lower(), str(d["id"])))
            summaries[str(d["id"])] = str(d.get("summary") or "").strip().lower()
    names.sort()
    keys = [n for n, _ in names]
    rows = list(csv.DictReader(open(a.queries, encoding="utf-8"), delimiter="\t"))
    ranks = json.load(open(a.ranks)) if a.ranks else {}

    nm = [r for r in rows if r["set"] == "NM"]
    if nm:
        def candidates(query):
            q = query.lower()
            return names[bisect.bisect_left(keys, q):bisect.bisect_left(keys, q + "\uffff")]

        def mrr(order):
            total = 0.0
            for r in nm:
                q = r["query"].lower()
                ids = [i for _, i in sorted(candidates(q), key=lambda c: order(q, c))][:10]
                if r["target_id"] in ids:
                    total += 1 / (ids.index(r["target_id"]) + 1)
            return total / len(nm)

        counts = sorted(len(candidates(r["query"])) for r in nm)
        held = sum(r["target_id"] in {i for _, i in candidates(r["query"])} for r in nm)
        random_mrr = sum(harmonic_at_10(len(candidates(r["query"]))) for r in nm) / len(nm)
        print(f"NM: {len(nm)} queries; the target's name begins with the query in {held}; "
              f"names beginning so: median {counts[len(counts) // 2]}, max {counts[-1]}")
        print(f"  MRR@10, those names in a random order (expected): {random_mrr:.3f}")
        print(f"  MRR@10, shortest name first: {mrr(lambda q, c: (len(c[0]), c[0])):.3f}")
        print("  MRR@10, knowing how the set was made (the name typed, then names about twice "
              f"as long first): {mrr(lambda q, c: (c[0] != q, abs(len(c[0]) - 2 * len(q)), c[0])):.3f}")

    ki = [r for r in rows if r["set"] == "KI"]
    if ki:
        copies = collections.Counter(s for s in summaries.values() if s)
        shared = [r for r in ki if copies[summaries.get(r["target_id"], "")] > 1]
        line = f"KI: {len(ki)} queries; the target's summary is another document's too in {len(shared)}"
        if ranks:
            # Where a copy came first, the copies tie on every text rule: which of them is
            # first is the tie-break's coin toss.
            tossed = [r for r in shared
                      if summaries.get((ranks.get(r["qid"], {}).get("top") or [""])[0])
                      == summaries[r["target_id"]]]
            got = sum(1 / ranks[r["qid"]]["rank"] for r in tossed if 0 < ranks[r["qid"]]["rank"] <= 10)
            even = sum(harmonic_at_10(copies[summaries[r["target_id"]]]) for r in tossed)
            won = sum(ranks[r["qid"]]["rank"] == 1 for r in tossed)
            line += (f"; a copy came first in {len(tossed)} (the target itself in {won}): "
                     f"MRR@10 on those {got / len(ki):.3f} of the set's, at even odds among "
                     f"the copies {even / len(ki):.3f}")
        print(line)


if __name__ == "__main__":
    main()
