#!/usr/bin/env python3
"""Judgments for names of a word and a number typed without the hyphen between them, for
`sift-bench eval --judgments`.

  scripts/number-joins.py ../shared/relevance/pypi/docs.ndjson.gz > number-joins.tsv

From all the packages (few with a popularity above 0 are named so) whose name is a word of
letters (3 or more) and a number of up to 4 digits joined by a hyphen (`spiderkeeper-3`, `exceltool-2025`),
300 drawn with seed 7 among those whose joined form (`spiderkeeper3`) no package holds:
the name typed without its hyphen. The package itself is the target (set `DJ`).
Standard library only.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from popular_names import WordFrequency, popular, write  # noqa: E402


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/relevance/pypi/docs.ndjson.gz"
    frequency = WordFrequency()
    named = lambda name: re.fullmatch(r"[a-z]{3,}-[0-9]{1,4}", name.lower())  # noqa: E731
    docs, _ = popular(path, named, frequency, least=0)
    write("DJ", typed_joined(docs, frequency))


def typed_joined(docs, frequency):
    for _, id_, name in docs:
        joined = name.lower().replace("-", "")
        if frequency[joined] == 0:
            yield joined, id_


if __name__ == "__main__":
    main()
