#!/usr/bin/env python3
"""Judgments for popular names typed with one typo, for `sift-bench eval --judgments`.

  scripts/name-typos.py ../shared/relevance/pypi/docs.ndjson.gz > name-typos.tsv

From the packages with a popularity above 0, 300 drawn with seed 7; each name lower-cased,
with one typo in its longest word of 6 letters or more, never on the first letter: two
letters swapped, one left out, or one replaced (one of the three, at random). The package
itself is the target (set `NT`). Standard library only.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from popular_names import popular, write  # noqa: E402


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/relevance/pypi/docs.ndjson.gz"
    docs, rng = popular(path)
    write("NT", typed_with_a_typo(docs, rng))


def typed_with_a_typo(docs, rng):
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
        yield name.lower().replace(word, typo, 1), id_


if __name__ == "__main__":
    main()
