#!/usr/bin/env python3
"""Helpers of bench/run.sh that turn the peers' measurements into the load generator's JSON shape
(label, requests, throughput_rps, latency_ms p50/p90/p99/p999/max, status_classes, errors,
duration_s, cpu), so that report.py treats every server alike.

  pgbench  --prefix P --warmup W --duration D --label L --rc RC --stderr FILE --stdout FILE
           --json OUT
           pgbench's per-transaction logs (--log --log-prefix P): the window starts when the
           first transaction ends (every connection is open by then); transactions that ended
           in the warm-up are dropped, the rest give the latencies and the throughput over D
           seconds.
           A window shorter than D/2 (pgbench's -T, which counts connecting, ran out) is
           marked aborted.
  sweep    --warmup W --duration D --label L --json OUT URL...
           GETs the URLs one after the other on one keep-alive connection, again and again; a
           sweep (all URLs) is one measured operation. Every answer must be 200.
  timed    --label L --seconds S --json OUT
           one operation that took S seconds (a COPY, say).
  sample   --out FILE --max-seconds S NAME=PID...
           every second, for each process tree (the PID and its descendants): the sum of the
           proportional set sizes (PSS: shared pages such as PostgreSQL's shared buffers count
           once) and its peak, and the CPU time (user + system, with reaped children's); writes
           FILE as JSON each time. Ends when its parent ends or after S seconds.
"""

import argparse
import glob
import http.client
import json
import sys
import time
import urllib.parse


def pct(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    k = min(len(sorted_ms) - 1, max(0, int(round(p / 100.0 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def result(label, latencies_ms, window_s, failed, first_error=""):
    lat = sorted(latencies_ms)
    n = len(lat)
    return {
        "label": label,
        "requests": n + failed,
        "throughput_rps": n / window_s if window_s > 0 else 0.0,
        "duration_s": window_s,
        "latency_ms": {
            "p50": pct(lat, 50),
            "p90": pct(lat, 90),
            "p99": pct(lat, 99),
            "p999": pct(lat, 99.9),
            "max": lat[-1] if lat else 0.0,
            "mean": sum(lat) / n if n else 0.0,
        },
        "status_classes": {"2xx": n},
        "status_codes": {"ok": n, "failed": failed},
        "errors": {"failed": failed} if failed else {},
        "first_error": first_error,
        "cpu_user_s": 0.0,
        "cpu_sys_s": 0.0,
    }


def cmd_pgbench(a):
    rows, rows3 = [], []  # (end, ms) and (end, ms, connection)
    for path in glob.glob(a.prefix + ".*"):
        for line in open(path):
            f = line.split()
            # client_id transaction_no time script_no time_epoch time_us
            if len(f) >= 6 and f[2].isdigit():
                end = int(f[4]) + int(f[5]) / 1e6
                rows.append((end, int(f[2]) / 1000.0))
                rows3.append((end, int(f[2]) / 1000.0, (path, f[0])))
    failed = 0
    err = open(a.stderr).read() if a.stderr else ""
    out = open(a.stdout).read() if a.stdout else ""
    connect_ms = None
    for line in out.splitlines():
        if line.startswith("initial connection time = "):
            connect_ms = float(line.split("=")[1].split()[0])
    if a.rc != 0 or "aborted" in err or "ERROR" in err:
        failed = max(1, err.count("ERROR"))
    # What pgbench said, for a run that measured nothing: its errors, else its summary.
    said = (err.strip() or " / ".join(l.strip() for l in out.splitlines()
                                      if "processed" in l or "connection" in l))[-300:]
    if not rows:
        r = result(a.label, [], a.duration, failed or 1, said or f"no transactions, rc {a.rc}")
        r["connect_ms"] = connect_ms
        json.dump(r, open(a.json, "w"))
        return
    if a.transactions:
        # A fixed number of transactions per connection (pgbench -t), for a peer too slow for
        # the timed window: every transaction but each connection's first (its PREPARE and
        # cold caches), the window from the end of the first to the end of the last.
        first = {}
        for end, ms, client in rows3:
            first[client] = min(first.get(client, end), end)
        kept = [ms for end, ms, client in rows3 if end > first[client]]
        t0 = min(first.values())
        window = max(1e-3, max(end for end, _ in rows) - t0)
        r = result(a.label, kept, window, failed, said if failed else "")
        r["connect_ms"] = connect_ms
        r["note"] = (f"{len(kept)} transactions after each connection's first (pgbench -t "
                     f"{a.transactions}): too slow for the {a.duration:g} s window")
        json.dump(r, open(a.json, "w"))
        return
    # The window starts when the first transaction ends. pgbench opens every connection first,
    # and then each new backend's first statements (PREPARE, cold catalog caches) take a while:
    # 64 of them took 1.3-1.9 s on this machine under load, during which nothing ended.
    t0 = min(end for end, _ in rows)
    lo, hi = t0 + a.warmup, t0 + a.warmup + a.duration
    kept = [ms for end, ms in rows if lo <= end <= hi]
    last = max(end for end, _ in rows)
    window = max(1e-3, min(hi, last) - lo)
    r = result(a.label, kept, window, failed, said if failed else "")
    r["connect_ms"] = connect_ms
    if window < 0.5 * a.duration:
        # pgbench's -T ran out (its clock includes connecting): too short a sample to publish.
        r["aborted"] = True
        r["first_error"] = (f"measured {window:.2f} s of {a.duration:g} s: pgbench's -T ended "
                            f"early (connections took {connect_ms} ms)")
    json.dump(r, open(a.json, "w"))


def cmd_sweep(a):
    urls = [urllib.parse.urlsplit(u) for u in a.urls]
    conn = http.client.HTTPConnection(urls[0].hostname, urls[0].port, timeout=60)
    lat, failed, first_error = [], 0, ""
    start = time.monotonic()
    lo, hi = start + a.warmup, start + a.warmup + a.duration
    sweeps = 0
    while True:
        t = time.monotonic()
        if t >= hi or sweeps >= a.max_sweeps:
            break
        ok = True
        for u in urls:
            path = u.path + ("?" + u.query if u.query else "")
            conn.request("GET", path, headers={"Accept": "application/json"})
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                ok = False
                if not first_error:
                    first_error = f"{r.status} {body[:300]!r}"
        e = time.monotonic()
        sweeps += 1
        if e < lo:
            continue
        if ok:
            lat.append((e - t) * 1000.0)
        else:
            failed += 1
    conn.close()
    window = max(1e-3, min(time.monotonic(), hi) - lo)
    json.dump(result(a.label, lat, window, failed, first_error), open(a.json, "w"))


def cmd_timed(a):
    r = result(a.label, [a.seconds * 1000.0], a.seconds, 0)
    json.dump(r, open(a.json, "w"))


def read_stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        # rest[0] is the state (field 3); ppid 4, utime 14, stime 15, cutime 16, cstime 17
        return int(rest[1]), sum(int(x) for x in rest[11:15])
    except (OSError, IndexError, ValueError):
        return None


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmd_sample(a):
    import os
    roots = dict(x.split("=", 1) for x in a.roots)
    tck = os.sysconf("SC_CLK_TCK")
    peak = {name: 0 for name in roots}
    parent = os.getppid()
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline and os.getppid() == parent:
        stats = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                st = read_stat(d)
                if st:
                    stats[int(d)] = st
        children = {}
        for pid, (ppid, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        out = {}
        for name, root in roots.items():
            todo, tree = [int(root)], []
            while todo:
                p = todo.pop()
                if p in stats:
                    tree.append(p)
                    todo.extend(children.get(p, []))
            mem = sum(pss_kb(p) for p in tree)
            peak[name] = max(peak[name], mem)
            out[name] = {"peak_pss_kb": peak[name], "pss_kb": mem,
                         "cpu_s": sum(stats[p][1] for p in tree) / tck, "processes": len(tree)}
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f)
        os.replace(tmp, a.out)
        time.sleep(a.interval)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pgbench")
    p.add_argument("--prefix", required=True)
    p.add_argument("--warmup", type=float, default=0)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--label", required=True)
    p.add_argument("--rc", type=int, default=0)
    p.add_argument("--stderr", default="")
    p.add_argument("--stdout", default="")
    p.add_argument("--json", required=True)
    p.add_argument("--transactions", type=int, default=0)
    s = sub.add_parser("sweep")
    s.add_argument("--warmup", type=float, default=0)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--max-sweeps", type=int, default=100000)
    s.add_argument("--label", required=True)
    s.add_argument("--json", required=True)
    s.add_argument("urls", nargs="+")
    t = sub.add_parser("timed")
    t.add_argument("--label", required=True)
    t.add_argument("--seconds", type=float, required=True)
    t.add_argument("--json", required=True)
    m = sub.add_parser("sample")
    m.add_argument("--out", required=True)
    m.add_argument("--interval", type=float, default=1.0)
    m.add_argument("--max-seconds", type=float, required=True)
    m.add_argument("roots", nargs="+")
    a = ap.parse_args()
    {"pgbench": cmd_pgbench, "sweep": cmd_sweep, "timed": cmd_timed, "sample": cmd_sample}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
