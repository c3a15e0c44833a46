"""What the name scripts (`name-typos.py`, `name-joins.py`, `rare-joins.py`,
`number-joins.py`) share: the corpus's packages, drawn in a fixed order, how many packages
hold each word, and the judgments TSV they are written as (`sift-bench eval --judgments`)."""
import collections
import gzip
import json
import random
import re

# How many queries a set holds.
QUERIES = 300


def popular(path, keep=lambda name: True, each=None, least=1):
    """(popularity, id, name) of every package with a popularity of `least` or more (above
    0 by default) whose name `keep` takes, shuffled with seed 7 (most popular first before
    the shuffle, so the draw does not depend on the file's order); `each(doc)` sees every
    package on the way. Returns the list and the random generator, for the draws that
    follow."""
    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if each:
                each(d)
            if d.get("popularity", 0) >= least and keep(d["name"]):
                docs.append((d["popularity"], d["id"], d["name"]))
    docs.sort(reverse=True)
    rng = random.Random(7)
    rng.shuffle(docs)
    return docs, rng


class WordFrequency:
    """How many packages hold each word (`[word]`) of their name and summary, lower-cased,
    words being runs of `pattern`; pass it to `popular` as `each`. `documents` counts the
    packages seen."""

    def __init__(self, pattern=r"[a-z0-9]+"):
        self.pattern = re.compile(pattern)
        self.holding = collections.Counter()
        self.documents = 0

    def __call__(self, d):
        self.documents += 1
        text = f'{d["name"]} {d.get("summary") or ""}'.lower()
        self.holding.update(set(self.pattern.findall(text)))

    def __getitem__(self, word):
        return self.holding[word]


def write(set_name, judged):
    """Prints the first `QUERIES` of `judged`, (query, target id) pairs, as judgments."""
    print("qid\tset\tquery\ttarget_id")
    for n, (query, target) in enumerate(judged, start=1):
        print(f"{set_name}-{n:03}\t{set_name}\t{query}\t{target}")
        if n == QUERIES:
            break
