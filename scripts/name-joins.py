#!/usr/bin/env python3
"""Judgments for popular names typed as two words, for `sift-bench eval --judgments`.

  scripts/name-joins.py ../shared/relevance/pypi/docs.ndjson.gz > name-joins.tsv

From the packages with a popularity above 0 whose name is one word of letters (7 or more),
300 drawn with seed 7; each name typed as the two words it is made of (`pyyaml` as
`py yaml`, `fastapi` as `fast api`): split where both parts are words of their own in the
corpus, taking the split whose rarer part is in the most documents (each part in 100 or
more, and 2 letters or more). The package itself is the target (set `NJ`). Standard
library only.
"""
import collections
import gzip
import json
import random
import re
import sys


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/relevance/pypi/docs.ndjson.gz"
    docs = []
    frequency = collections.Counter()
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            text = f'{d["name"]} {d.get("summary") or ""}'.lower()
            frequency.update(set(re.findall(r"[a-z]+", text)))
            if d.get("popularity", 0) > 0 and re.fullmatch(r"[a-z]{7,}", d["name"].lower()):
                docs.append((d["popularity"], d["id"], d["name"].lower()))
    docs.sort(reverse=True)
    rng = random.Random(7)
    rng.shuffle(docs)
    print("qid\tset\tquery\ttarget_id")
    n = 0
    for _, id_, name in docs:
        splits = [(min(frequency[name[:i]], frequency[name[i:]]), i) for i in range(2, len(name) - 1)]
        best, at = max(splits)
        if best < 100:
            continue
        n += 1
        print(f"NJ-{n:03}\tNJ\t{name[:at]} {name[at:]}\t{id_}")
        if n == 300:
            break


if __name__ == "__main__":
    main()
