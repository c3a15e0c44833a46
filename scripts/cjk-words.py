#!/usr/bin/env python3
"""Judgments for words of Chinese, Japanese or Korean text, for `sift-bench eval --judgments`.

  scripts/cjk-words.py ../shared/relevance/pypi/docs.ndjson.gz > cjk-words.tsv

From the packages whose summary holds a run of 6 or more Chinese, Japanese or Korean
characters (written without spaces between words), 300 drawn with seed 7; the query is 4
characters from within the longest such run, at a place drawn too (`服务器状态查询工具` →
`状态查询`), and the package itself is the target (set `CJ`). Such text is cut into pairs of
characters at index and query time; before that, a run was one word that only the whole
run typed found. Standard library only.
"""
import gzip
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from popular_names import write  # noqa: E402

RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]{6,}")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/relevance/pypi/docs.ndjson.gz"
    runs = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            found = RUN.findall(d.get("summary") or "")
            if found:
                runs[d["id"]] = max(found, key=len)
    rng = random.Random(7)
    ids = sorted(runs)
    rng.shuffle(ids)
    write("CJ", words_within(ids, runs, rng))


def words_within(ids, runs, rng):
    for id_ in ids:
        run = runs[id_]
        at = rng.randint(0, len(run) - 4)
        yield run[at:at + 4], id_


if __name__ == "__main__":
    main()
