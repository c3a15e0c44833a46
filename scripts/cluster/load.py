#!/usr/bin/env python3
"""The cluster test's clients (standard library only).

  load.py write  BASE SECONDS THREADS ACKED_FILE   writes and reads them back, prints a JSON report
  load.py verify BASE ACKED_FILE                   every acknowledged write is stored, prints a count
  load.py search BASE COLLECTION SECONDS THREADS   search throughput, prints searches/s

Writes are PUTs with the client's ids (idempotent: the proxy may retry them on another
replica), each followed by a search with after=<its token> that must find it.
"""
import http.client, json, sys, threading, time, urllib.parse


def connect(base):
    u = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def call(conn, base, method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    for attempt in range(2):
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            r = conn.getresponse()
            data = r.read()
            return conn, r.status, (json.loads(data) if data else None)
        except (http.client.HTTPException, ConnectionError, OSError):
            conn.close()
            conn = connect(base)
            if attempt == 1:
                return conn, 0, None


def word(n):
    """A word of letters only, unique per n (the tokenizer keeps it whole)."""
    letters = ""
    n += 26 * 26
    while n:
        n, r = divmod(n, 26)
        letters += "abcdefghijklmnopqrstuvwxyz"[r]
    return "q" + letters


def write(base, seconds, threads, acked_file):
    acked, lock = [], threading.Lock()
    stats = {"writes": 0, "write_errors": 0, "searches": 0, "search_errors": 0, "not_found": 0, "statuses": {}}
    deadline = time.time() + seconds

    def worker(t):
        conn, i = connect(base), 0
        while time.time() < deadline:
            i += 1
            n = t * 1_000_000 + i
            collection = "shop-a" if i % 5 == 0 else "notes"
            doc_id = f"w{t}-{i}"
            conn, status, answer = call(conn, base, "PUT", f"/v1/collections/{collection}/documents/{doc_id}",
                                        {"title": f"cluster note {word(n)}"})
            with lock:
                stats["writes"] += 1
                stats["statuses"][str(status)] = stats["statuses"].get(str(status), 0) + 1
            if status not in (200, 201):
                with lock:
                    stats["write_errors"] += 1
                continue
            token = answer["consistencyToken"]
            with lock:
                acked.append((collection, doc_id))
            q = urllib.parse.urlencode({"q": word(n), "after": token, "cache": "false", "limit": 5})
            conn, status, answer = call(conn, base, "GET", f"/v1/collections/{collection}/search?{q}")
            with lock:
                stats["searches"] += 1
                if status != 200:
                    stats["search_errors"] += 1
                    stats["statuses"][f"search {status}"] = stats["statuses"].get(f"search {status}", 0) + 1
                elif doc_id not in [h["id"] for h in answer["hits"]]:
                    stats["not_found"] += 1

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with open(acked_file, "w") as f:
        for collection, doc_id in acked:
            f.write(f"{collection} {doc_id}\n")
    stats["acknowledged"] = len(acked)
    print(json.dumps(stats))


def verify(base, acked_file):
    conn, missing, total = connect(base), [], 0
    for line in open(acked_file):
        collection, doc_id = line.split()
        total += 1
        conn, status, _ = call(conn, base, "GET", f"/v1/collections/{collection}/documents/{doc_id}")
        if status != 200:
            missing.append(f"{collection}/{doc_id} ({status})")
    print(json.dumps({"acknowledged": total, "missing": missing[:10], "missing_count": len(missing)}))
    sys.exit(1 if missing else 0)


def search(base, collection, seconds, threads):
    done, errors, lock = [0], [0], threading.Lock()
    deadline = time.time() + seconds

    def worker(t):
        conn, i = connect(base), 0
        while time.time() < deadline:
            i += 1
            q = urllib.parse.urlencode({"q": f"cluster note {word(i % 500)}", "cache": "false", "limit": 10})
            conn, status, _ = call(conn, base, "GET", f"/v1/collections/{collection}/search?{q}")
            with lock:
                done[0] += 1
                errors[0] += status != 200

    started = time.time()
    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps({"searches_per_second": round(done[0] / (time.time() - started), 1), "errors": errors[0]}))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "write":
        write(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif mode == "verify":
        verify(sys.argv[2], sys.argv[3])
    else:
        search(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
