#!/usr/bin/env python3
"""Turns the load generator's JSON results of one bench/run.sh run into the results table.

Inputs: the run's metadata (machine, settings, resources), the load phase's result, and a
directory of per-run results named <scenario>.<round>.json. Outputs a markdown report and a JSON
document with, per scenario, the median and the min-max spread over the rounds of throughput,
p50, p99 and p99.9, and the ratios Civitas/nginx (the ratio of the medians, and the spread of the
per-round ratios: the rounds interleave the scenarios, so each round's ratio compares runs made
moments apart). Exits 1 when any run had a failed request (an error or a non-2xx answer) or
completed nothing, so that the smoke test catches a misbehaving server.
"""

import argparse
import glob
import json
import os
import statistics
import sys

GOAL_PATCH_RATIO = 0.5  # issue 2: PATCH throughput at least 50% of nginx's
GOAL_P99_MS = 5.0  # issue 2: p99 latency under 5 ms

DESCRIPTIONS = {
    "nginx": "nginx static GET (the ceiling)",
    "get": "GET /entities/{id}, random ids",
    "patch": "PATCH /entities/{id}/attrs, 1 attribute, random ids, fsync on",
}


def spread(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def failures(r):
    return (r["requests"] - r["status_classes"]["2xx"]) + sum(r["errors"].values())


def fmt_spread(s, digits):
    if s is None:
        return "n/a"
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'])} ({f.format(s['min'])}–{f.format(s['max'])})"


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
    runs = {}
    for path in sorted(glob.glob(os.path.join(a.runs, "*.json"))):
        name, rnd = os.path.basename(path)[: -len(".json")].rsplit(".", 1)
        runs.setdefault(name, {})[int(rnd)] = json.load(open(path))

    problems = []
    scenarios = {}
    for name in meta["scenarios"]:
        if name not in DESCRIPTIONS:
            continue
        rs = runs.get(name, {})
        if not rs:
            scenarios[name] = {"available": False, "runs": []}
            continue
        ordered = [rs[k] for k in sorted(rs)]
        for k in sorted(rs):
            r = rs[k]
            if failures(r) or r["requests"] == 0 or r.get("aborted"):
                problems.append(
                    f"{name} round {k}: {r['requests']} answered, "
                    f"status {r['status_codes']}, errors {r['errors']}, "
                    f"aborted {r.get('aborted')}, first error {r.get('first_error')}, "
                    f"first non-2xx {r.get('first_unexpected')!r}"
                )
        scenarios[name] = {
            "available": True,
            "description": DESCRIPTIONS[name],
            "throughput_rps": spread([r["throughput_rps"] for r in ordered]),
            "p50_ms": spread([r["latency_ms"]["p50"] for r in ordered]),
            "p99_ms": spread([r["latency_ms"]["p99"] for r in ordered]),
            "p999_ms": spread([r["latency_ms"]["p999"] for r in ordered]),
            "max_ms": spread([r["latency_ms"]["max"] for r in ordered]),
            "failed_requests": sum(failures(r) for r in ordered),
            # CPU the load generator itself used, in cores (it shares the machine).
            "loadgen_cores": spread(
                [(r["cpu_user_s"] + r["cpu_sys_s"]) / r["duration_s"] for r in ordered]
            ),
            "runs": ordered,
        }

    ratios = {}
    ng = runs.get("nginx", {})
    for name in ("get", "patch"):
        mine = runs.get(name, {})
        if not ng or not mine or name not in scenarios:
            continue
        per_round = [
            mine[k]["throughput_rps"] / ng[k]["throughput_rps"]
            for k in sorted(mine)
            if k in ng and ng[k]["throughput_rps"] > 0
        ]
        med = scenarios[name]["throughput_rps"]["median"] / scenarios["nginx"]["throughput_rps"][
            "median"
        ]
        ratios[name] = {"of_medians": med, "per_round": spread(per_round)}

    goals = []
    if "patch" in ratios:
        v = ratios["patch"]["of_medians"]
        goals.append(
            {
                "goal": "PATCH throughput >= 50% of nginx's (issue 2)",
                "value": f"{v:.1%}",
                "met": v >= GOAL_PATCH_RATIO,
            }
        )
    for name in ("get", "patch"):
        s = scenarios.get(name)
        if s and s["available"]:
            v = s["p99_ms"]["median"]
            goals.append(
                {
                    "goal": f"{name.upper()} p99 < {GOAL_P99_MS:g} ms (issue 2)",
                    "value": f"{v:.2f} ms",
                    "met": v < GOAL_P99_MS,
                }
            )
    goals.append(
        {
            "goal": "durable writes on (issue 2)",
            "value": "fsync on: a PATCH is answered after its WAL fsync",
            "met": bool(meta["settings"]["fsync"]),
        }
    )
    if load is not None and (failures(load) or load["requests"] != meta["settings"]["entities"]):
        problems.append(f"load: {load['requests']} created, status {load['status_codes']}")

    doc = dict(meta)
    doc.update(
        {
            "load": load,
            "results": scenarios,
            "ratios_vs_nginx": ratios,
            "goals": goals,
            "problems": problems,
        }
    )
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    st = meta["settings"]
    m = meta["machine"]
    res = meta["resources"]
    L = []
    L.append(f"## {meta['timestamp']}" + (" (smoke)" if meta["smoke"] else ""))
    L.append("")
    L.append(f"- Command: `{meta['command']}` (git {meta['git']})")
    L.append(
        f"- Machine: {m['nproc']} × {m['cpu']}, {m['memory_kb'] / 1048576:.1f} GiB, "
        f"Linux {m['kernel']}; load average {m['loadavg_start']} at the start, "
        f"{m['loadavg_end']} at the end"
    )
    L.append(
        f"- Setup: {st['entities']} entities; {st['connections']} keep-alive connections, "
        f"pipeline {st['pipeline']}; {st['runs']} rounds × {st['duration_s']:g} s "
        f"(+{st['warmup_s']:g} s warm-up) per scenario, scenarios interleaved in each round; "
        f"load generator {st['loadgen_threads']} thread(s); Civitas --threads "
        f"{st['civitas_threads']}, fsync on; nginx {st['nginx']}, worker_processes "
        f"{st['nginx_worker_processes']}"
    )
    L.append("")
    L.append(
        "| scenario | throughput req/s | p50 ms | p99 ms | p99.9 ms | vs nginx (per round) "
        "| failed | loadgen CPU |"
    )
    L.append("|---|---|---|---|---|---|---|---|")
    for name in meta["scenarios"]:
        s = scenarios.get(name)
        if s is None:
            continue
        if not s["available"]:
            L.append(f"| {name} | not available | | | | | | |")
            continue
        ratio = "1 (ceiling)" if name == "nginx" else "n/a"
        if name in ratios:
            r = ratios[name]
            ratio = f"{r['of_medians']:.2f}"
            if r["per_round"]:
                ratio += f" ({r['per_round']['min']:.2f}–{r['per_round']['max']:.2f})"
        L.append(
            f"| {s['description']} | {fmt_spread(s['throughput_rps'], 0)} "
            f"| {fmt_spread(s['p50_ms'], 2)} | {fmt_spread(s['p99_ms'], 2)} "
            f"| {fmt_spread(s['p999_ms'], 2)} | {ratio} | {s['failed_requests']} "
            f"| {s['loadgen_cores']['median']:.2f} cores |"
        )
    L.append("")
    L.append("Medians over the rounds, (min–max) in parentheses.")
    L.append("")
    if load is not None:
        lat = load["latency_ms"]
        L.append(
            f"- Load: {load['requests']} entities created with POST /entities in "
            f"{load['duration_s']:.2f} s ({load['throughput_rps']:.0f} req/s, p50 "
            f"{lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms; durable)"
        )
    L.append(
        f"- Resources: Civitas peak RSS {res['civitas_peak_rss_kb'] / 1024:.1f} MiB, CPU "
        f"{res['civitas_cpu_s']:.1f} s, data directory {res['civitas_data_bytes'] / 1048576:.1f} "
        f"MiB; nginx peak RSS (master + workers) {res['nginx_peak_rss_kb'] / 1024:.1f} MiB, CPU "
        f"{res['nginx_cpu_s']:.1f} s"
    )
    for g in goals:
        L.append(f"- Goal: {g['goal']}: {g['value']}: **{'met' if g['met'] else 'NOT met'}**")
    for n in meta["notes"]:
        L.append(f"- {n}")
    L.append(
        "- Not available yet (issue 7 scenarios whose features do not exist): "
        + ", ".join(meta["not_available"])
    )
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
