#!/usr/bin/env python3
"""Judgments for popular names typed with one typo, for `sift-bench eval --judgments`.

  scripts/name-typos.py ../shared/relevance/pypi/docs.ndjson.gz > name-typos.tsv

From the packages with a popularity above 0, 300 drawn with seed 7; each name lower-cased,
with one typo in its longest word of 6 letters or more, never on the first letter: two
letters swapped, one left out, or one replaced (one of the three, at random). The package
itself is the target (set `NT`). Standard library only.
"""
import gzip
import json
import random
import re
import sys


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/relevance/pypi/docs.ndjson.gz"
    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if d.get("popularity", 0) > 0:
                docs.append((d["popularity"], d["id"], d["name"]))
    docs.sort(reverse=True)
    rng = random.Random(7)
    rng.shuffle(docs)
    print("qid\tset\tquery\ttarget_id")
    n = 0
    for _, id_, name in docs:
        words = [w for w in re.findall(r"[a-z]+", name.lower()) if len(w) >= 6]
        if not words:
            continue
        word = max(words, key=len)
        i = rng.randrange(1, len(word) - 1)
        kind = rng.choice("tds")
        if kind == "t":
            typo = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif kind == "d":
            typo = word[:i] + word[i + 1:]
        else:
            letter = rng.choice("abcdefghijklmnopqrstuvwxyz".replace(word[i], ""))
            typo = word[:i] + letter + word[i + 1:]
        if typo == word:
            continue
        n += 1
        print(f"NT-{n:03}\tNT\t{name.lower().replace(word, typo, 1)}\t{id_}")
        if n == 300:
            break


if __name__ == "__main__":
    main()
