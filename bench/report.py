#!/usr/bin/env python3
"""Turns the measurements of one bench/run.sh run into the results table.

Inputs: the run's metadata (machine, settings, city, resources, notes, the notification
benchmark's rows), the Bench load's result, and a directory of per-run results named
<scenario>@<server>.<round>.json in the load generator's shape (bench_tools.py converts pgbench's
and COPY's). Outputs a markdown report and a JSON document with, per scenario and server, the
median and min-max spread over the rounds of throughput (and items/s where a request carries many:
attribute updates, observations), p50, p99 and p99.9; the ratios Civitas/peer of the medians and
the spread of the per-round ratios (the rounds interleave scenarios and servers, so each round's
ratio compares runs made moments apart); and each figure against its goal from the issues.
Exits 1 when any run had a failed request (an error or a non-2xx answer) or completed nothing,
or a correctness check failed, so that the smoke test catches a misbehaving server or harness.
"""

import argparse
import glob
import json
import os
import statistics
import sys

SERVERS = ["civitas", "nginx", "postgres", "influxdb"]

# name: (what is measured, the unit of items/s or None for requests/s)
SCENARIOS = {
    "nginx": ("nginx static GET of an entity-sized JSON (the HTTP ceiling)", None),
    "get": ("GET one Bench entity by id, random ids (PostgreSQL: SELECT data by primary key "
            "from the same entities)", None),
    "patch": ("PATCH one attribute of a Bench entity, random ids, durable (PostgreSQL: UPDATE "
              "... SET data = jsonb_set(data, '{v,value}', ...) of the same entities)", None),
    "create": ("create one entity, durable (POST /entities; PostgreSQL: INSERT ... ON CONFLICT "
               "DO NOTHING of the same JSON)", None),
    "batch-upsert": ("batch upsert of 1,000 entities × 3 attributes per request, durable; "
                     "Civitas: the whole city twice per round, rate over the whole time "
                     "(PostgreSQL: multi-row INSERT ... ON CONFLICT DO UPDATE data || excluded, "
                     "pgbench for the round's duration)",
                     "attribute updates/s"),
    "query-q": ("type=AirQualityObserved&q=NO2>40, page of 100 with count "
                "(PostgreSQL: JSONB predicate, count(*) OVER (), ORDER BY id LIMIT 100)", None),
    "query-q2": ("type=AirQualityObserved&q=NO2>40;PM10<30, page of 100 with count", None),
    "geo-near": ("georel=near;maxDistance==500 around a point in Aarhus C, page of 100 with count "
                 "(PostGIS: ST_DWithin on geography, GiST)", None),
    "geo-within": ("georel=within the Aarhus C district polygon (880 vertices), page of 100 with "
                   "count (PostGIS: ST_Within, GiST)", None),
    "temporal-ingest": ("history ingest, durable: Civitas batch upserts of 1,000 sensors with "
                        "observedAt; PostgreSQL COPY into the narrow history table (btree on "
                        "entity, attribute, time); InfluxDB line protocol, one batch per request",
                        "observations/s"),
    "temporal-agg-one": ("hourly avg of NO2 of one sensor over the history window, 1 connection "
                         "(Civitas aggregatedValues; PG GROUP BY date_trunc; InfluxDB GROUP BY "
                         "time(1h))", None),
    "temporal-agg-all": ("hourly avg of NO2 of every AirQualityObserved sensor (one series per "
                         "sensor) over the window, 1 connection; Civitas: all pages of 1,000",
                         None),
}

# The goal each scenario's Civitas figure is measured against, from the issues (shown beside the
# figures; the goals table below says whether it is met).
SCENARIO_GOALS = {
    "nginx": "the ceiling: no goal",
    "get": "p99 < 5 ms (issue 2)",
    "patch": ">= 50% of nginx's rate, p99 < 5 ms, durable (issue 2)",
    "create": "durable (issue 2); no rate stated",
    "batch-upsert": ">= 1,000,000 attribute updates/s, durable (issue 3)",
    "query-q": "p50 < 5 ms at 1,000,000 entities (issue 3)",
    "query-q2": "p50 < 5 ms at 1,000,000 entities (issue 3)",
    "geo-near": "p50 < 1 ms at 1,000,000 entities (issue 4)",
    "geo-within": "p50 < 5 ms at 1,000,000 entities (issue 4)",
    "temporal-ingest": ">= 1,000,000 observations/s, durable (issue 5)",
    "temporal-agg-one": "p50 < 1 ms over 24 h (issue 5)",
    "temporal-agg-all": "p50 < 50 ms, 10,000 sensors over 24 h (issue 5)",
}


def spread(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def failures(r):
    return (r["requests"] - r["status_classes"]["2xx"]) + sum(r["errors"].values())


def fmt(s, digits, scale=1.0):
    if s is None:
        return "n/a"
    f = f"{{:,.{digits}f}}"
    return (f"{f.format(s['median'] * scale)} "
            f"({f.format(s['min'] * scale)}–{f.format(s['max'] * scale)})")


def rate(r):
    return r.get("items_per_s", r["throughput_rps"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meta", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()

    meta = json.load(open(a.meta))
    load = json.load(open(a.load)) if os.path.exists(a.load) else None
    runs = {}  # (scenario, server) -> {round: result}
    for path in sorted(glob.glob(os.path.join(a.runs, "*.json"))):
        key, rnd = os.path.basename(path)[: -len(".json")].rsplit(".", 1)
        scenario, server = key.split("@", 1)
        runs.setdefault((scenario, server), {})[int(rnd)] = json.load(open(path))

    problems = []
    results = {}
    for name in meta["scenarios"]:
        if name not in SCENARIOS:
            continue
        desc, unit = SCENARIOS[name]
        entry = {"description": desc, "unit": unit or "requests/s", "servers": {}}
        if name in meta["not_available"]:
            entry["available"] = False
            results[name] = entry
            continue
        entry["available"] = any((name, s) in runs for s in SERVERS)
        for server in SERVERS:
            rs = runs.get((name, server))
            if not rs:
                continue
            ordered = [rs[k] for k in sorted(rs)]
            for k in sorted(rs):
                r = rs[k]
                if failures(r) or r["requests"] == 0 or r.get("aborted"):
                    problems.append(
                        f"{name} on {server}, round {k}: {r['requests']} answered, "
                        f"status {r.get('status_codes')}, errors {r['errors']}, "
                        f"aborted {r.get('aborted')}, first error {r.get('first_error')!r}, "
                        f"first non-2xx {r.get('first_unexpected')!r}")
                elif r.get("note") and k == sorted(rs)[0]:
                    problems.append(f"{name} on {server}: {r['note']}")
            entry["servers"][server] = {
                "rounds": sorted(rs),
                "throughput_rps": spread([r["throughput_rps"] for r in ordered]),
                "items_per_s": spread([r["items_per_s"] for r in ordered])
                if all("items_per_s" in r for r in ordered) else None,
                "p50_ms": spread([r["latency_ms"]["p50"] for r in ordered]),
                "p99_ms": spread([r["latency_ms"]["p99"] for r in ordered]),
                "p999_ms": spread([r["latency_ms"]["p999"] for r in ordered]),
                "max_ms": spread([r["latency_ms"]["max"] for r in ordered]),
                "failed_requests": sum(failures(r) for r in ordered),
                "runs": ordered,
            }
        # Ratios Civitas/peer of the rates (items/s, else requests/s): > 1 means Civitas is faster.
        ratios = {}
        mine = runs.get((name, "civitas"), {})
        peers = [(s, s) for s in ("postgres", "influxdb")]
        if name in ("get", "patch"):
            peers = [("nginx", "nginx")] + peers
        for peer, label in peers:
            theirs = runs.get((name, peer)) if peer != "nginx" else runs.get(("nginx", "nginx"))
            if not mine or not theirs:
                continue
            per_round = [rate(mine[k]) / rate(theirs[k]) for k in sorted(mine)
                         if k in theirs and rate(theirs[k]) > 0]
            med_mine = statistics.median(rate(r) for r in mine.values())
            med_theirs = statistics.median(rate(r) for r in theirs.values())
            if med_theirs > 0:
                ratios[label] = {"of_medians": med_mine / med_theirs,
                                 "per_round": spread(per_round)}
        entry["ratios"] = ratios
        results[name] = entry

    # --- goals (issues 2, 3, 4, 5) ---
    res = meta["resources"]
    st = meta["settings"]
    city = meta.get("city", {})
    goals = []

    def civ(name, field="p50_ms"):
        e = results.get(name)
        if not e or not e.get("available") or "civitas" not in e["servers"]:
            return None
        s = e["servers"]["civitas"][field]
        return s["median"] if s else None

    def goal(text, value, shown, met):
        if value is not None:
            goals.append({"goal": text, "value": shown, "met": bool(met)})

    r = results.get("patch", {}).get("ratios", {}).get("nginx")
    if r:
        goal("PATCH throughput >= 50% of nginx's (issue 2)", r["of_medians"],
             f"{r['of_medians']:.1%}", r["of_medians"] >= 0.5)
    for name in ("get", "patch"):
        v = civ(name, "p99_ms")
        goal(f"{name.upper()} p99 < 5 ms, 64 connections (issue 2)", v, f"{v:.2f} ms" if v else "",
             v is not None and v < 5)
    v = civ("batch-upsert", "items_per_s")
    goal("batch upsert >= 1,000,000 attribute updates/s, durable, 8 connections (issue 3)", v,
         f"{v:,.0f}/s" if v else "", v is not None and v >= 1e6)
    for name in ("query-q", "query-q2"):
        v = civ(name)
        goal(f"{name} p50 < 5 ms for a page of 100 with count (issue 3; goal stated at "
             f"1,000,000 entities)", v, f"{v:.2f} ms" if v else "", v is not None and v < 5)
    grown = res["civitas_rss_after_city_kb"] - res["civitas_rss_start_kb"]
    if st["sensors"] > 0:
        per = grown * 1024 / st["sensors"]
        goal("RSS per entity <= 1 KiB (issue 3): RSS growth while loading the city / entities",
             per, f"{per:,.0f} B", per <= 1024)
    # (scenario, figure, goal text, format, met) for the latency and rate goals of issues 4, 5.
    for name, key, text, shown, met in [
        ("geo-near", None, "geo near;maxDistance==500 p50 < 1 ms (issue 4; at 1,000,000 entities)",
         "{:.2f} ms", lambda v: v < 1),
        ("geo-within", None,
         "geo within a district p50 < 5 ms, page of 100 with count (issue 4; at 1,000,000)",
         "{:.2f} ms", lambda v: v < 5),
        ("temporal-ingest", "items_per_s",
         "history ingest >= 1,000,000 observations/s, durable (issue 5)", "{:,.0f}/s",
         lambda v: v >= 1e6),
        ("temporal-agg-one", None, "hourly avg of one sensor p50 < 1 ms (issue 5; over 24 h)",
         "{:.2f} ms", lambda v: v < 1),
        ("temporal-agg-all", None,
         "hourly avg across all sensors p50 < 50 ms (issue 5; 10,000 sensors over 24 h)",
         "{:.2f} ms", lambda v: v < 50),
    ]:
        v = civ(name, key) if key else civ(name)
        goal(text, v, shown.format(v) if v else "", v is not None and met(v))
    notify = meta.get("notify") or []

    def notified(scn, key):
        v = [n["result"][key] for n in notify if n["scenario"] == scn and key in n["result"]]
        return statistics.median(v) if v else None

    ingest = meta.get("mqtt_ingest") or {}
    v = ingest.get("civitas_mqtt_vs_mosquitto")
    goal("MQTT measures into durable state >= 80% of mosquitto alone (issue 8)", v,
         f"{v:.2f} ({ingest['civitas_mqtt_msgs_per_s']:,.0f} vs "
         f"{ingest['mosquitto_alone_msgs_per_s']:,.0f} msgs/s)" if v is not None else "",
         v is not None and v >= 0.8)
    v = ingest.get("lag_p99_ms")
    goal("MQTT publish-to-queryable lag p99 < 50 ms at half that rate (issue 8)", v,
         f"{v:.1f} ms at {ingest['lag_rate']:,.0f} msgs/s" if v is not None else "",
         v is not None and 0 <= v < 50)
    v = notified("latency", "latency_p99_ms")
    rate_ = notified("latency", "updates_per_s")
    goal("notification latency p99 < 5 ms at 10,000 updates/s, 1 subscription (issue 6)", v,
         f"{v:.2f} ms at {rate_:,.0f} updates/s" if v is not None else "",
         v is not None and v < 5 and rate_ >= 9500)
    v = notified("fanout", "notified_entities_per_s")
    posts = notified("fanout", "notification_posts_per_s")
    goal("fan-out >= 100,000 notifications/s delivered, 1,000 subscriptions (issue 6)", v,
         f"{v:,.0f} notified entities/s" + (f" in {posts:,.0f} POSTs/s" if posts else "")
         if v is not None else "", v is not None and v >= 1e5)
    if res["observations"] and res["civitas_data_bytes"]:
        per = res["civitas_data_bytes"] / res["observations"]
        goal("history <= 2 B per observation on disk (issue 5): the whole data directory "
             "(entities, WAL, uncompacted files included) / observations, an upper bound", per,
             f"{per:.1f} B", per <= 2)
    goals.append({"goal": "durable writes on (issues 2, 3, 5)",
                  "value": "fsync on: a write is answered after its WAL fsync", "met": True})
    if load is not None and (failures(load) or load["requests"] != st["entities"]):
        problems.append(f"load: {load['requests']} created, status {load['status_codes']}")
    for n in meta["notes"]:
        if n.startswith("CHECK FAILED"):
            problems.append(n)

    doc = dict(meta)
    doc.update({"load": load, "results": results, "goals": goals, "problems": problems})
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    # --- markdown ---
    m = meta["machine"]
    L = []
    L.append(f"## {meta['timestamp']}" + (" (smoke)" if meta["smoke"] else ""))
    L.append("")
    took = meta.get("elapsed_s")
    L.append(f"- Command: `{meta['command']}` (git {meta['git']})"
             + (f"; the run took {took // 60} min {took % 60} s" if took is not None else ""))
    L.append(
        f"- Machine: {m['nproc']} × {m['cpu']}, {m['memory_kb'] / 1048576:.1f} GiB, "
        f"Linux {m['kernel']}; load average {m['loadavg_start']} at the start, "
        f"{m['loadavg_end']} at the end (a shared machine: other sessions were working)")
    L.append(
        f"- City: {st['sensors']:,} sensors (seed {st['seed']}), {st['hours']:g} h of history "
        f"every 60 s = {res['observations']:,} observations; plus {st['entities']:,} Bench "
        f"entities for get/patch")
    L.append(
        f"- Setup: {st['runs']} rounds × {st['duration_s']:g} s (+{st['warmup_s']:g} s warm-up) "
        f"per scenario and server, interleaved; {st['connections']} connections for "
        f"nginx/get/patch/create, {st['query_connections']} for batch upsert, queries, geo and "
        f"ingest, 1 for temporal aggregation; Civitas --threads {st['civitas_threads']}, fsync "
        f"on; nginx {st['nginx']} (2 workers); {st['postgres']} (fsync, synchronous_commit on; "
        f"pgbench -M prepared); InfluxDB {st['influxdb']} (wal-fsync-delay 0s)")
    L.append("")
    L.append("| scenario | server | throughput | p50 ms | p99 ms | Civitas/peer | failed | "
             "goal (Civitas) |")
    L.append("|---|---|---|---|---|---|---|---|")
    for name in meta["scenarios"]:
        e = results.get(name)
        if e is None:
            continue
        if not e["available"]:
            L.append(f"| {name} | | not available | | | | | {SCENARIO_GOALS.get(name, '')} |")
            continue
        first = True
        for server, s in e["servers"].items():
            if s["items_per_s"] is not None:
                thr = f"{fmt(s['items_per_s'], 0)} {e['unit']}"
            else:
                thr = f"{fmt(s['throughput_rps'], 0)} req/s"
            ratio = ""
            if server != "civitas" and server in e["ratios"]:
                rr = e["ratios"][server]
                ratio = f"{rr['of_medians']:.2f}"
                if rr["per_round"]:
                    ratio += f" ({rr['per_round']['min']:.2f}–{rr['per_round']['max']:.2f})"
            if name in ("get", "patch") and server == "civitas" and "nginx" in e["ratios"]:
                rr = e["ratios"]["nginx"]
                ratio = f"{rr['of_medians']:.2f} of nginx"
            L.append(f"| {name if first else ''} | {server} | {thr} | {fmt(s['p50_ms'], 2)} "
                     f"| {fmt(s['p99_ms'], 2)} | {ratio} | {s['failed_requests']} "
                     f"| {SCENARIO_GOALS.get(name, '') if server == 'civitas' else ''} |")
            first = False
    L.append("")
    L.append("Medians over the rounds, (min–max) in parentheses. Civitas/peer: the ratio of the "
             "medians of the rates (> 1: Civitas is faster), (min–max of the per-round ratios).")
    L.append("")
    for name in meta["scenarios"]:
        if name in SCENARIOS and results.get(name, {}).get("available"):
            L.append(f"- {name}: {SCENARIOS[name][0]}")
    L.append("")
    cl = meta.get("city_load") or {}
    if cl.get("civitas"):
        c = cl["civitas"]
        L.append(f"- City load, Civitas: {st['sensors']:,} entities in {c['requests']} upserts of "
                 f"1,000 in {c['duration_s']:.2f} s ({st['sensors'] / c['duration_s']:,.0f} "
                 f"entities/s, durable)")
    if cl.get("postgres"):
        c = cl["postgres"]
        L.append(f"- City load, PostgreSQL: COPY and index builds (type btree, GIN on data, GiST "
                 f"on geometry and geography) in {c['duration_s']:.2f} s "
                 f"({st['sensors'] / c['duration_s']:,.0f} entities/s)")
    if load is not None:
        lat = load["latency_ms"]
        L.append(f"- Bench load: {load['requests']} entities with POST /entities in "
                 f"{load['duration_s']:.2f} s ({load['throughput_rps']:.0f} req/s, p50 "
                 f"{lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms; durable)")
    obs = res["observations"] or 1
    L.append(
        f"- Civitas: peak RSS {res['civitas_peak_rss_kb'] / 1024:.1f} MiB; RSS "
        f"{res['civitas_rss_start_kb'] / 1024:.1f} MiB at start, "
        f"{res['civitas_rss_after_city_kb'] / 1024:.1f} MiB after the city load "
        f"({grown * 1024 / max(1, st['sensors']):,.0f} B per entity), "
        f"{res['civitas_rss_end_kb'] / 1024:.1f} MiB at the end; CPU {res['civitas_cpu_s']:.1f} s;"
        f" data directory {res['civitas_data_bytes'] / 1048576:.1f} MiB "
        f"({res['civitas_data_bytes'] / obs:.1f} B per observation, everything included)")
    if res.get("postgres_data_bytes"):
        L.append(
            f"- PostgreSQL: peak memory (PSS of all its processes) "
            f"{res['postgres_peak_pss_kb'] / 1024:.1f} MiB; CPU {res['postgres_cpu_s']:.1f} s; "
            f"data directory {res['postgres_data_bytes'] / 1048576:.1f} MiB "
            f"({res['postgres_data_bytes'] / obs:.1f} B per observation, everything included)")
    if res.get("influxdb_data_bytes"):
        L.append(
            f"- InfluxDB: peak memory (PSS) {res['influxdb_peak_pss_kb'] / 1024:.1f} MiB; CPU "
            f"{res['influxdb_cpu_s']:.1f} s; data, WAL and meta "
            f"{res['influxdb_data_bytes'] / 1048576:.1f} MiB "
            f"({res['influxdb_data_bytes'] / obs:.1f} B per observation)")
    if res.get("nginx_peak_rss_kb"):
        L.append(f"- nginx: peak RSS (master + workers) {res['nginx_peak_rss_kb'] / 1024:.1f} MiB,"
                 f" CPU {res['nginx_cpu_s']:.1f} s")
    notify = meta.get("notify") or []
    if notify:
        def col(scn, key, digits=2):
            v = [n["result"][key] for n in notify if n["scenario"] == scn and key in n["result"]]
            return fmt(spread(v), digits) if v else "n/a"
        L.append(
            f"- Notifications (bench/notify.sh, own Civitas per round): latency p50 "
            f"{col('latency', 'latency_p50_ms')} ms, p99 {col('latency', 'latency_p99_ms')} ms at "
            f"{col('latency', 'updates_per_s', 0)} updates/s with 1 subscription; writes "
            f"{col('writes-0', 'updates_per_s', 0)} updates/s without subscriptions, "
            f"{col('writes-1k', 'updates_per_s', 0)} with 1,000; fan-out "
            f"{col('fanout', 'notified_entities_per_s', 0)} notified entities/s (1,000 "
            f"subscriptions)")
    ingest = meta.get("mqtt_ingest")
    if ingest:
        L.append(
            f"- Device ingestion (bench/ingest.sh, own Civitas and mosquitto): mosquitto alone "
            f"{ingest['mosquitto_alone_msgs_per_s']:,.0f} msgs/s, through Civitas durable "
            f"{ingest['civitas_mqtt_msgs_per_s']:,.0f} msgs/s "
            f"({ingest['civitas_mqtt_vs_mosquitto']}), HTTP /iot/json "
            f"{ingest['civitas_http_measures_per_s']:,.0f} measures/s; lag at "
            f"{ingest['lag_rate']:,.0f} msgs/s p50 {ingest['lag_p50_ms']} ms, p99 "
            f"{ingest['lag_p99_ms']} ms")
    L.append("")
    L.append("| goal | value | met |")
    L.append("|---|---|---|")
    for g in goals:
        L.append(f"| {g['goal']} | {g['value']} | {'yes' if g['met'] else '**no**'} |")
    L.append("")
    for n in meta["notes"]:
        L.append(f"- {n}")
    if meta["not_available"]:
        L.append("- Not available (Civitas answers 501 or lacks the feature): "
                 + ", ".join(meta["not_available"]))
    for p in problems:
        L.append(f"- PROBLEM: {p}")
    L.append("")
    with open(a.md, "w") as f:
        f.write("\n".join(L))
    if problems:
        for p in problems:
            print(f"report.py: {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
