#!/usr/bin/env python3
"""Helpers of Scripts/bench-replicate (run by it; not meant to be run by hand).

  prefill DB SIZE_BYTES                     a WAL database: a table of blobs, an empty markers table
  write DB RATE DURATION LOG                commits one marker row a transaction at RATE/s until
                                            DURATION s pass or SIGTERM; LOG: "id end_time latency"
  sample OUT DB [REPO ...]                  until SIGTERM: the WAL's size and frames (from the
                                            -shm, 20 times a second) and, twice a second, the
                                            newest segment each repository lists (each in a
                                            thread of its own: a frozen S3 server blocks only
                                            its own samples, which are written as unknown)
  analyze ...                               figures of one run as JSON (see analyze)
"""
import bisect, json, os, random, signal, sqlite3, struct, sys, threading, time
from array import array


def prefill(db, size):
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA page_size=4096")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE attachments(id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
    con.execute("CREATE TABLE markers(id INTEGER PRIMARY KEY, t REAL NOT NULL, note TEXT)")
    blob = 16000  # four pages a row, incompressible
    rows = max(1, size // (blob + 400))
    done = 0
    while done < rows:
        n = min(2000, rows - done)
        con.execute("BEGIN")
        con.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
                    "INSERT INTO attachments(name, data) SELECT 'attachment-' || x, randomblob(?) FROM c", (n, blob))
        con.execute("COMMIT")
        done += n
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def write(db, rate, duration, log_path):
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    con = sqlite3.connect(db, isolation_level=None, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    first = con.execute("SELECT coalesce(max(id), 0) FROM markers").fetchone()[0] + 1
    note = "approved by reviewer 42; task handed over to the next step of the workflow"  # ~80 bytes
    ids, ends, lats = array("q"), array("d"), array("d")
    period = 1.0 / rate
    p0 = time.perf_counter()
    start = time.time()
    i = 0
    pc, now = time.perf_counter, time.time
    while not stop[0]:
        t = pc()
        if t - p0 >= duration:
            break
        due = p0 + i * period
        if due > t:
            time.sleep(due - t)
            if stop[0]:
                break
        mid = first + i
        i += 1
        a = pc()
        con.execute("BEGIN")
        con.execute("INSERT INTO markers(id, t, note) VALUES (?, ?, ?)", (mid, now(), note))
        con.execute("COMMIT")
        b = pc()
        ends.append(now())
        ids.append(mid)
        lats.append(b - a)
    elapsed = pc() - p0
    con.close()
    with open(log_path, "w") as f:
        f.write(f"# start {start:.6f} elapsed {elapsed:.6f} rate {rate}\n")
        for k in range(len(ids)):
            f.write(f"{ids[k]} {ends[k]:.6f} {lats[k]:.7f}\n")


_s3_clients, _s3_lock = {}, threading.Lock()


def s3_client(endpoint, timeout):
    """One boto3 client per endpoint and timeout (creating clients is not thread-safe). With a
    timeout: one attempt, no retry, so a listing of a frozen server fails within about 2 x
    timeout instead of boto3's minutes of retries."""
    with _s3_lock:
        c = _s3_clients.get((endpoint, timeout))
        if c is None:
            import boto3
            from botocore.config import Config
            cfg = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1, "mode": "standard"}) if timeout else None
            c = _s3_clients[(endpoint, timeout)] = boto3.client("s3", endpoint_url=endpoint, verify=os.environ.get("LIFEBOAT_CACERT"), config=cfg)
        return c


def segment_names(repo, timeout=None, after=None):
    """[(name, size)] of the objects under segments/; on S3 with `after` (a key), only the keys
    after it (StartAfter), so a sample lists what is new rather than every segment again."""
    names = []
    if repo.startswith("s3:"):
        scheme, rest = repo[3:].split("://", 1)
        host, _, path = rest.partition("/")
        bucket, _, prefix = path.partition("/")
        s3 = s3_client(f"{scheme}://{host}", timeout)
        pre = (prefix.rstrip("/") + "/" if prefix else "") + "segments/"
        extra = {"StartAfter": after} if after else {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=pre, **extra):
            for o in page.get("Contents", []):
                names.append((o["Key"], o["Size"]))
    else:
        for root, _, files in os.walk(os.path.join(repo, "segments")):
            for f in files:
                try:
                    names.append((os.path.join(root, f), os.stat(os.path.join(root, f)).st_size))
                except FileNotFoundError:
                    pass
    return names


def segment_totals(names):
    """(max lastMs, count, bytes, max lastSeq) of [(key or path, size)]."""
    last_ms, count, size, last_seq = 0, 0, 0, 0
    for key, sz in names:
        p = key.rsplit("/", 1)[-1].split("-")
        if len(p) != 7 or len(p[6]) != 64:
            continue
        count += 1
        size += sz
        last_ms = max(last_ms, int(p[5], 16))
        last_seq = max(last_seq, int(p[3], 16))
    return last_ms, count, size, last_seq


def list_segments(repo, timeout=None):
    """(max lastMs, count, bytes, max lastSeq) of the objects under segments/."""
    return segment_totals(segment_names(repo, timeout))


def sample(out, db, repos):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    wal = {"max_bytes": 0, "frames": 0, "generations": 0, "max_frames": 0}

    def watch_wal():
        # The wal-index header (first copy, native byte order): mxFrame at 16, salts at 32.
        last = None
        while not stop.is_set():
            try:
                wal["max_bytes"] = max(wal["max_bytes"], os.stat(db + "-wal").st_size)
                with open(db + "-shm", "rb") as f:
                    h = f.read(48)
                if len(h) == 48:
                    mx = struct.unpack_from("<I", h, 16)[0]
                    salt = h[32:40]
                    if last is not None and (salt != last[0] or mx < last[1]):
                        wal["frames"] += last[1]
                        wal["generations"] += 1
                    last = (salt, mx)
                    wal["max_frames"] = max(wal["max_frames"], mx)
            except FileNotFoundError:
                pass
            stop.wait(0.05)
        if last is not None:
            wal["frames"] += last[1]
            wal["generations"] += 1

    t = threading.Thread(target=watch_wal)
    t.start()
    period = 0.5
    lock = threading.Lock()
    busy = {}  # replica -> time its outstanding listing started

    def emit(o):
        with lock:
            if not f.closed:
                f.write(json.dumps(o) + "\n")
                f.flush()

    def watch_repo(k, repo):
        # Its own thread: a listing that hangs (a frozen S3 server) holds up no other replica.
        # The bench's own requests must cost the machine little (moto shares its cores with the
        # writer): S3 is listed after the last key seen, and whole only every 20th sample (a new
        # lineage's keys can sort before it).
        nxt = time.time()
        seen, n = {}, 0
        while not stop.is_set():
            busy[k] = t0 = time.time()
            try:
                whole = not repo.startswith("s3:") or n % 20 == 0 or not seen
                listed = segment_names(repo, timeout=5, after=None if whole else max(seen))
                if whole:
                    seen = {}
                seen.update(listed)
                n += 1
                last_ms, count, size, _ = segment_totals(seen.items())
                o = {"t": time.time(), "t0": t0, "replica": k, "last_ms": last_ms, "segments": count, "bytes": size}
            except Exception as e:  # a listing that fails is a sample unknown, said in the file
                o = {"t": time.time(), "t0": t0, "replica": k, "error": str(e)[:200]}
            busy.pop(k, None)
            emit(o)
            nxt = max(nxt + period, time.time())
            stop.wait(nxt - time.time())

    with open(out, "w") as f:
        workers = [threading.Thread(target=watch_repo, args=(k, repo), daemon=True) for k, repo in enumerate(repos)]
        for w in workers:
            w.start()
        # Every period, a replica whose listing has been outstanding longer than a period gets an
        # "unknown" sample: its state at that moment is not known (never counted as lag 0).
        while not stop.wait(period):
            now = time.time()
            for k, since in list(busy.items()):
                if now - since > period:
                    emit({"t": now, "replica": k, "unknown": f"listing outstanding for {now - since:.1f} s"})
        t.join()
        for w in workers:
            w.join(timeout=12)
        with lock:
            f.write(json.dumps({"wal": wal}) + "\n")


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def read_log(path):
    ids, ends, lats = [], [], []
    start = elapsed = None
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                w = line.split()
                start, elapsed = float(w[2]), float(w[4])
                continue
            a, b, c = line.split()
            ids.append(int(a)); ends.append(float(b)); lats.append(float(c))
    return start, elapsed, ids, ends, lats


def lag_stats(samples, unknown):
    """samples: lags in s (known); unknown: how many samples could not be taken."""
    return {"lag_samples": len(samples), "lag_unknown": unknown, "lag_p50": pct(samples, 50), "lag_p99": pct(samples, 99),
            "lag_max": max(samples) if samples else None, "lag_over_1s": sum(1 for x in samples if x > 1.0)}


def check_restore(restored, ids, ends, t_del):
    """Which markers committed before the deletion the restored database lacks."""
    con = sqlite3.connect(f"file:{restored}?mode=ro", uri=True)
    have = [row[0] for row in con.execute("SELECT id FROM markers ORDER BY id")]
    r = {"quick_check": con.execute("PRAGMA quick_check").fetchone()[0]}
    con.close()
    have_set = set(have)
    before = [(i, e) for i, e in zip(ids, ends) if e < t_del]
    missing = [(i, e) for i, e in before if i not in have_set]
    r["markers_committed_before_deletion"] = len(before)
    r["markers_restored"] = len(have)
    r["markers_missing"] = len(missing)
    r["markers_missing_older_than_1s"] = sum(1 for _, e in missing if t_del - e > 1.0)
    r["oldest_missing_age"] = (t_del - missing[0][1]) if missing else 0.0
    r["newest_missing_age"] = (t_del - missing[-1][1]) if missing else None
    newest_restored = max(have) if have else 0
    # The restored state must be a prefix of the commits: no marker missing below the newest restored.
    r["holes"] = sum(1 for i, _ in before if i < newest_restored and i not in have_set)
    return r


def analyze(args):
    """analyze LOG SAMPLES DELETED_AT|- RESTORED|- PAGE_SIZE FREEZE|- REPO... -> JSON on stdout.

    RESTORED: the database `restore latest` wrote, or (one restore per replica) their paths
    joined by ':', '-' for a replica whose restore failed. FREEZE: 'T_FREEZE,T_THAW,K' (epoch
    seconds; K the frozen replica's index) splits each replica's lag into before, during and
    after the freeze, and says when replica K's lag was back under 1 s after the thaw."""
    log, samples, deleted, restored, page_size, freeze = args[:6]
    repos = args[6:]
    start, elapsed, ids, ends, lats = read_log(log)
    r = {"commits": len(ids), "elapsed": elapsed, "rate": len(ids) / elapsed if elapsed else 0,
         "lat_p50_ms": pct(lats, 50) * 1e3, "lat_p99_ms": pct(lats, 99) * 1e3, "lat_max_ms": max(lats) * 1e3,
         "lat_mean_ms": sum(lats) / len(lats) * 1e3}
    wal, rows = None, []
    with open(samples) as f:
        for line in f:
            o = json.loads(line)
            if "wal" in o:
                wal = o["wal"]
            else:
                rows.append(o)
    r["wal_max_bytes"] = wal["max_bytes"] if wal else None
    r["wal_frames"] = wal["frames"] if wal else None
    r["wal_generations"] = wal["generations"] if wal else None
    r["wal_bytes_written"] = wal["frames"] * (24 + int(page_size)) if wal else None
    t_del = float(deleted) if deleted != "-" else None
    end_of_writes = t_del if t_del else (ends[-1] if ends else 0)
    fz = None
    if freeze != "-":
        a, b, k = freeze.split(",")
        fz = {"at": float(a), "thaw": float(b), "replica": int(k)}
        r["freeze"] = {"at": fz["at"], "thaw": fz["thaw"], "seconds": fz["thaw"] - fz["at"], "replica": fz["replica"],
                       "at_s_into_run": fz["at"] - start, "thaw_s_into_run": fz["thaw"] - start}
    # Lag at a sample: the age of the oldest commit no replica listing shows yet (a segment's
    # lastMs is its last transaction's date, when replicate's commit clock first saw it
    # committed: every commit before is in it, or, when one look of the clock, 10 ms apart, saw
    # several, in the next segment). 0 when every commit so far is stored. Only samples while the writer ran. A listing
    # that failed, or was outstanding at a sampling moment (a frozen server), is a sample of
    # unknown lag: counted apart, never as 0.
    r["replicas"] = []
    for k, _ in enumerate(repos):
        points, errors = [], 0  # (t, lag or None)
        for o in rows:
            if o.get("replica") != k:
                continue
            t = o["t"]
            errors += "error" in o
            if not ends or t < ends[0] + 1 or t > end_of_writes:
                continue
            if "last_ms" not in o:
                points.append((t, None))
                continue
            stored = o["last_ms"] / 1000
            i = bisect.bisect_right(ends, stored)
            points.append((t, t - ends[i] if i < len(ends) and ends[i] <= t else 0.0))
        points.sort()
        known = [x for _, x in points if x is not None]
        rep = lag_stats(known, len(points) - len(known))
        rep["listing_errors"] = errors
        if fz:
            phases = {"before": lambda t: t < fz["at"], "during": lambda t: fz["at"] <= t < fz["thaw"], "after": lambda t: t >= fz["thaw"]}
            rep["phases"] = {}
            for name, inside in phases.items():
                sel = [x for t, x in points if inside(t)]
                rep["phases"][name] = lag_stats([x for x in sel if x is not None], sum(1 for x in sel if x is None))
            if k == fz["replica"]:
                back = next((t for t, x in points if t >= fz["thaw"] and x is not None and x < 1.0), None)
                rep["caught_up_after"] = back - fz["thaw"] if back is not None else None
                if back is not None:
                    rest = [x for t, x in points if t > back and x is not None]
                    rep["lag_max_once_caught_up"] = max(rest) if rest else None
        r["replicas"].append(rep)
    r["writer_start"] = start
    if t_del:
        r["deleted_at"] = t_del
    if ":" in restored:
        for k, path in enumerate(restored.split(":")):
            r["replicas"][k]["disaster"] = check_restore(path, ids, ends, t_del) if path != "-" else None
    elif restored != "-":
        r.update(check_restore(restored, ids, ends, t_del))
    return r


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "prefill":
        prefill(rest[0], int(rest[1]))
    elif cmd == "write":
        write(rest[0], float(rest[1]), float(rest[2]), rest[3])
    elif cmd == "sample":
        sample(rest[0], rest[1], rest[2:])
    elif cmd == "segments":
        for repo in rest:
            print(json.dumps(dict(zip(["last_ms", "segments", "bytes", "last_seq"], list_segments(repo)))))
    elif cmd == "analyze":
        print(json.dumps(analyze(rest)))
    elif cmd == "random":
        print(f"{random.uniform(float(rest[0]), float(rest[1])):.3f}")
    else:
        sys.exit(f"bench-replicate.py: unknown command {cmd}")
