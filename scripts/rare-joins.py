#!/usr/bin/env python3
"""Judgments for names of two words, one of them rare, typed joined, for
`sift-bench eval --judgments`.

  scripts/rare-joins.py ../shared/relevance/pypi/docs.ndjson.gz > rare-joins.tsv

From the packages with a popularity above 0 whose name is two words of letters (3 or more
each) joined by a hyphen (`ruamel-yaml`, `walkscore-api`), 300 drawn with seed 7 among those
whose joined form (`ruamelyaml`) no package holds and whose rarer word is in fewer than one
package in 10,000 (but in two at least): the name typed without its hyphen. The package
itself is the target (set `RJ`). Standard library only.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from popular_names import WordFrequency, popular, write  # noqa: E402


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/relevance/pypi/docs.ndjson.gz"
    frequency = WordFrequency()

    docs, _ = popular(path, lambda name: re.fullmatch(r"[a-z]{3,}-[a-z]{3,}", name.lower()), frequency)
    write("RJ", typed_joined(docs, frequency, frequency.documents // 10_000))


def typed_joined(docs, frequency, rare):
    for _, id_, name in docs:
        left, right = name.lower().split("-")
        if frequency[left + right] == 0 and 2 <= min(frequency[left], frequency[right]) < rare:
            yield left + right, id_


if __name__ == "__main__":
    main()
