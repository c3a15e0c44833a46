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
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from popular_names import WordFrequency, popular, write  # noqa: E402


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/relevance/pypi/docs.ndjson.gz"
    frequency = WordFrequency(r"[a-z]+")

    docs, _ = popular(path, lambda name: re.fullmatch(r"[a-z]{7,}", name.lower()), frequency)
    write("NJ", typed_as_two_words(docs, frequency))


def typed_as_two_words(docs, frequency):
    for _, id_, name in docs:
        name = name.lower()
        splits = [(min(frequency[name[:i]], frequency[name[i:]]), i) for i in range(2, len(name) - 1)]
        best, at = max(splits)
        if best >= 100:
            yield f"{name[:at]} {name[at:]}", id_


if __name__ == "__main__":
    main()
