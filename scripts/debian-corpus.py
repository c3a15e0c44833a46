#!/usr/bin/env python3
"""A second corpus of the practice set's kind, to check that a change helps a kind of query
and not only the PyPI rows: Debian's packages, from this machine's package lists.

  scripts/debian-corpus.py OUT_DIR [--url http://127.0.0.1:8080]
  sift-bench eval --url http://127.0.0.1:8080 --collection debian --judgments OUT_DIR/queries.tsv

Writes OUT_DIR/docs.ndjson (one package a line: id, name, the one-line description as
`summary`, section, and as `popularity` how many packages depend on or recommend it) and
OUT_DIR/queries.tsv, judgments made the way ../shared/relevance/pypi/README.md describes its
sets, 200 each, seed 11: KI 2-3 words of the description (not stop words, in 2 to 3,000
documents, in their order), TY the same with one typo in each word of 5+ letters (one in ten
in the first letter), PF the last one cut to 2-4 letters, XW one common word the package
lacks put in, NM the first half of a name with a separator (by parts or by characters),
PO the first 3-5 letters of one of the 3,000 most depended-on names that is the most
depended-on name beginning so. With --url it also creates the collection `debian` (name
boost 3, summary, section keyword, popularity sortable) and imports the documents. The
corpus follows `apt-cache dumpavail`, so it differs with the machine's package lists (63,697
packages on Debian 12 here). Standard library only.
"""
import argparse
import collections
import json
import os
import random
import re
import subprocess
import sys
import urllib.request

STOP = set(
    "a an and are as at be by can for from in into is it its of on or over the this that "
    "to under use used using via with without you your based".split()
)
EXTRA = (
    "fast simple client tool library linux free small modern easy lightweight python "
    "utility open"
).split()
PER_SET = 200


def packages():
    """Each package's fields (the first of each name), and its reverse dependencies."""
    dump = subprocess.run(
        ["apt-cache", "dumpavail"], capture_output=True, text=True, check=True
    ).stdout
    fields, rdeps = [], collections.Counter()
    for block in dump.split("\n\n"):
        f = {}
        for line in block.split("\n"):
            if line and not line.startswith(" ") and ":" in line:
                key, _, value = line.partition(":")
                f[key] = value.strip()
        if "Package" not in f:
            continue
        fields.append(f)
        for key in ("Depends", "Recommends", "Pre-Depends"):
            for dep in re.split(r"[,|]", f.get(key, "")):
                dep = dep.strip().split(" ")[0].split(":")[0]
                if dep:
                    rdeps[dep] += 1
    seen, docs = set(), []
    for f in fields:
        name = f["Package"]
        if name in seen:
            continue
        seen.add(name)
        docs.append({
            "id": re.sub(r"[^A-Za-z0-9_-]", "_", name),
            "name": name,
            "summary": f.get("Description", ""),
            "section": f.get("Section", ""),
            "popularity": rdeps.get(name, 0),
        })
    return docs


def words(text):
    return re.findall(r"[a-z]+", text.lower())


def typo(rng, word):
    """One edit (substitution, deletion, insertion or transposition) in a word of 5+ letters."""
    if len(word) < 5:
        return word
    at = 0 if rng.random() < 0.1 else rng.randrange(1, len(word))
    letters = "abcdefghijklmnopqrstuvwxyz"
    op = rng.choice("sdit")
    if op == "d":
        return word[:at] + word[at + 1:]
    if op == "i":
        return word[:at] + rng.choice(letters) + word[at:]
    if op == "t" and at + 1 < len(word) and word[at] != word[at + 1]:
        return word[:at] + word[at + 1] + word[at] + word[at + 2:]
    return word[:at] + rng.choice(letters.replace(word[at], "")) + word[at + 1:]


def judgments(docs):
    rng = random.Random(11)
    df = collections.Counter()
    for d in docs:
        df.update(set(words(d["summary"])))
    rows = []
    described = [d for d in docs if len(d["summary"]) > 15]
    rng.shuffle(described)
    n = 0
    for d in described:
        if n == PER_SET:
            break
        found = [w for w in dict.fromkeys(words(d["summary"]))
                 if w not in STOP and len(w) >= 3 and 2 <= df[w] <= 3000]
        if len(found) < 2:
            continue
        picked = sorted(rng.sample(range(len(found)), min(len(found), rng.choice([2, 3]))))
        ki = [found[i] for i in picked]
        n += 1
        rows.append(("KI", n, " ".join(ki), d["id"]))
        rows.append(("TY", n, " ".join(typo(rng, w) for w in ki), d["id"]))
        cut = max(2, min(len(ki[-1]) - 1, rng.choice([2, 3, 4])))
        rows.append(("PF", n, " ".join(ki[:-1] + [ki[-1][:cut]]), d["id"]))
        lacking = [w for w in EXTRA if w not in words(d["summary"] + " " + d["name"])] or EXTRA
        xw = list(ki)
        xw.insert(rng.randrange(len(xw) + 1), rng.choice(lacking))
        rows.append(("XW", n, " ".join(xw), d["id"]))
    named = [d for d in docs if re.search(r"[-.+]", d["name"]) and len(d["name"]) >= 8]
    rng.shuffle(named)
    for n, d in enumerate(named[:PER_SET], start=1):
        name = d["name"]
        parts = re.split(r"([-.+])", name)
        if len(parts) >= 3 and rng.random() < 0.5:
            query = "".join(parts[: 2 * ((len(parts[0::2]) + 1) // 2) - 1])
            if query == name:
                query = name[: len(name) // 2]
        else:
            query = name[: (len(name) + 1) // 2]
        rows.append(("NM", n, query, d["id"]))
    top = {}
    for d in docs:
        for length in (3, 4, 5):
            start = d["name"][:length]
            if start not in top or d["popularity"] > top[start]["popularity"]:
                top[start] = d
    popular = sorted(docs, key=lambda d: -d["popularity"])[:3000]
    rng.shuffle(popular)
    asked, n = set(), 0
    for d in popular:
        if n == PER_SET:
            break
        start = d["name"][: rng.choice([3, 4, 5])]
        if len(start) < 3 or start in asked or top[start]["id"] != d["id"]:
            continue
        asked.add(start)
        n += 1
        rows.append(("PO", n, start, d["id"]))
    order = "KI TY PF XW NM PO".split()
    rows.sort(key=lambda r: (order.index(r[0]), r[1]))
    return rows


def load(url, docs):
    def call(method, path, body=None, ctype="application/json"):
        request = urllib.request.Request(url + path, data=body, method=method,
                                         headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(request, timeout=600) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, None
    call("DELETE", "/v1/collections/debian")
    schema = {"name": "debian", "fields": [
        {"name": "name", "type": "text", "boost": 3.0},
        {"name": "summary", "type": "text", "boost": 1.0},
        {"name": "section", "type": "keyword"},
        {"name": "popularity", "type": "integer", "sortable": True, "filterable": True}]}
    status, body = call("POST", "/v1/collections", json.dumps(schema).encode())
    assert status == 201, status
    token = None
    for at in range(0, len(docs), 10000):
        lines = "".join(json.dumps(d) + "\n" for d in docs[at:at + 10000]).encode()
        status, report = call("POST", "/v1/collections/debian/documents:import", lines,
                              "application/x-ndjson")
        assert status == 200 and report["failed"] == 0, (status, report)
        token = report["consistencyToken"]
    while call("GET", f"/v1/collections/debian/search?q=&limit=1&after={token}")[0] != 200:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--url")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    docs = packages()
    if not docs:
        sys.exit("apt-cache dumpavail listed no package: run `apt-get update` first")
    with open(os.path.join(args.out, "docs.ndjson"), "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(os.path.join(args.out, "queries.tsv"), "w", encoding="utf-8") as f:
        f.write("qid\tset\tquery\ttarget_id\n")
        for set_name, n, query, target in judgments(docs):
            f.write(f"{set_name}-{n:03}\t{set_name}\t{query}\t{target}\n")
    print(f"{len(docs)} packages")
    if args.url:
        load(args.url.rstrip("/"), docs)
        print("collection `debian` loaded")


if __name__ == "__main__":
    main()
