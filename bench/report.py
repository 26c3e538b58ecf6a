#!/usr/bin/env python3
"""report.py - turns one benchmark run's raw outputs into the table.

    python3 bench/report.py RESULTS_DIR [--write docs/performance.md] [--quiet]

RESULTS_DIR is what bench/run.sh wrote (build/bench/<date>): wrk outputs with
their BENCH_JSON summary line, CPU ticks and VmHWM per run, pgbench outputs,
the server log of a few requests and pgbench transactions (the statements,
in order), pg_stat_statements dumps, optional perf and strace reports, and
meta.env.  It prints the table and
the targets of issue 3 (met or missed, with the numbers) and, with --write,
rewrites the performance page, keeping its hand-written section (between
the "analysis" markers) as it is.  Exit status: 0 when every target is met,
1 when one is missed, 2 on unusable input.

Standard library only.  Must not run anything: it reads files and writes
the one page it is asked to.
"""
import argparse
import glob
import json
import os
import re
import sys

ENDPOINTS = {
    "balance": "GET /v1/members/{id}/balance",
    "purchase": "POST /v1/purchases",
    "redeem": "POST /v1/members/{id}/redemptions",
    "purchase_keyed": "POST /v1/purchases with an Idempotency-Key",
    "redeem_keyed": "POST /v1/members/{id}/redemptions with an Idempotency-Key",
}
# Issue 3's targets.  A keyed request (what a till sends) is held to its
# endpoint's, against the ceiling of its own statements.
RATIO_TARGET = {"balance": 0.6, "purchase": 0.8, "redeem": 0.8, "purchase_keyed": 0.8,
                "redeem_keyed": 0.8}
CPU_TARGET_US = {"balance": 30.0, "purchase": 60.0, "purchase_keyed": 60.0}
P99_OVER_P50 = 3.0
BALANCE_P99_MS_AT_64 = 10.0
RSS_LIMIT_MIB = 64.0

ANALYSIS_BEGIN = "<!-- analysis:begin -->"
ANALYSIS_END = "<!-- analysis:end -->"
# Marks an analysis section that report.py wrote itself (a list of the
# missed targets): it is rewritten on the next run, a hand-written one kept.
ANALYSIS_AUTO = "<!-- analysis:auto -->"


class Bad(Exception):
    """Unusable input: a file missing or not in the expected shape."""


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise Bad(f"cannot read {path}: {exc.strerror}") from None


def read_meta(d):
    meta = {}
    for line in read(os.path.join(d, "meta.env")).splitlines():
        k, sep, v = line.partition("=")
        if sep:
            meta[k.strip()] = v.strip()
    return meta


def read_pairs(path):
    """Lines 'name v1 v2 ...' as {name: [ints]}."""
    out = {}
    for line in read(path).splitlines():
        parts = line.split()
        if parts:
            out[parts[0]] = [int(x) for x in parts[1:]]
    return out


def parse_wrk(path):
    text = read(path)
    m = re.search(r"^BENCH_JSON (\{.*\})$", text, re.M)
    if not m:
        raise Bad(f"{path}: no BENCH_JSON line (did wrk run the bench script?)")
    r = json.loads(m.group(1))
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs if secs > 0 else 0.0
    r["socket_errors"] = (r["connect_errors"] + r["read_errors"] + r["write_errors"]
                          + r["timeouts"])
    return r


def parse_pgbench(path):
    text = read(path)
    m = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", text, re.M)
    if not m:
        raise Bad(f"{path}: no tps line")
    lat = re.search(r"^latency average = ([0-9.]+) ms", text, re.M)
    failed = re.search(r"^number of failed transactions: (\d+)", text, re.M)
    done = re.search(r"^number of transactions actually processed: (\d+)", text, re.M)
    return {
        "tps": float(m.group(1)),
        "latency_ms": float(lat.group(1)) if lat else None,
        "failed": int(failed.group(1)) if failed else 0,
        "transactions": int(done.group(1)) if done else 0,
        # A client that hit an error stops; the others go on.
        "aborted": "Run was aborted" in text,
    }


def pgbench_latency(path):
    """p50 and p99 in microseconds of the transactions pgbench logged (-l,
    one in ten: OUTFILE.lat.<pid>[.<thread>], the latency in the third
    column), or (None, None) when it logged none."""
    lat = []
    for f in glob.glob(path + ".lat.*"):
        for line in read(f).splitlines():
            parts = line.split()
            if len(parts) >= 3:
                lat.append(int(parts[2]))
    if not lat:
        return None, None
    lat.sort()
    return (lat[min(len(lat) - 1, int(0.50 * len(lat)))],
            lat[min(len(lat) - 1, int(0.99 * len(lat)))])


def client_cpu_s(path):
    """user+system seconds of wrk or pgbench, from /usr/bin/time's file."""
    if not os.path.exists(path):
        return None
    m = re.search(r"client_cpu_s ([0-9.]+) ([0-9.]+)", read(path))
    return float(m.group(1)) + float(m.group(2)) if m else None


def cpu_split(cpu, clk, ncpu, client_s):
    """Where the machine's CPU went during a run, in cores (busy CPU-seconds
    over wall seconds): the daemon, the bench cluster, the load generator,
    and everything else on the machine."""
    busy = cpu["busy_ticks"]
    if len(busy) == 6:
        b0, tot0, irq0, b1, tot1, irq1 = busy
    else:
        (b0, tot0, b1, tot1), irq0, irq1 = busy, 0, 0
    wall = (tot1 - tot0) / ncpu / clk
    if wall <= 0:
        return None
    out = {"busy": (b1 - b0) / clk / wall}
    if "daemon_ticks" in cpu:
        out["daemon"] = (cpu["daemon_ticks"][1] - cpu["daemon_ticks"][0]) / clk / wall
    if "postgres_ticks" in cpu:
        out["postgres"] = (cpu["postgres_ticks"][1] - cpu["postgres_ticks"][0]) / clk / wall
    if client_s is not None:
        out["client"] = client_s / wall
    if "kthread_ticks" in cpu:
        k = cpu["kthread_ticks"]
        out["kernel"] = ((k[1] - k[0]) + (irq1 - irq0)) / clk / wall
    out["other"] = max(0.0, out["busy"] - sum(v for k, v in out.items() if k != "busy"))
    return out


SPLIT_KEYS = ("daemon", "postgres", "client", "kernel", "other")


def split_text(sp, keys=SPLIT_KEYS):
    if not sp:
        return "-"
    return " / ".join(f"{sp[k]:.2f}" if k in sp else "-" for k in keys)


def ints(s):
    return [int(x) for x in s.split()]


def load(d):
    meta = read_meta(d)
    eps = [e for e in meta.get("endpoints", "").split(",") if e]
    if not eps:
        raise Bad("meta.env names no endpoint")
    conns = ints(meta.get("connections", "16 64"))
    clients = ints(meta.get("clients", "1 2 4 8"))
    clk = int(meta.get("clk_tck", "100"))
    ncpu = int(meta.get("nproc", "1"))
    runs, ceilings = {}, {}
    for ep in eps:
        for c in conns:
            path = os.path.join(d, f"wrk-{ep}-{c}.txt")
            r = parse_wrk(path)
            cpu = read_pairs(os.path.join(d, f"cpu-{ep}-{c}.txt"))
            t0, t1 = cpu["daemon_ticks"]
            r["cpu_us"] = ((t1 - t0) / clk * 1e6 / r["requests"]) if r["requests"] else None
            r["split"] = cpu_split(cpu, clk, ncpu, client_cpu_s(path + ".time"))
            r["hwm_kb"] = cpu.get("vm_hwm_kb", [0])[0]
            r["autovacuum"] = autovacuum_overlap(cpu)
            r["per_group"] = per_group(cpu)
            runs[(ep, c)] = r
        per = {}
        for c in clients:
            path = os.path.join(d, f"pgbench-{ep}-{c}.txt")
            p = parse_pgbench(path)
            cpu_path = os.path.join(d, f"pgcpu-{ep}-{c}.txt")
            client_s = client_cpu_s(path + ".time")
            pgcpu = read_pairs(cpu_path) if os.path.exists(cpu_path) else None
            p["split"] = cpu_split(pgcpu, clk, ncpu, client_s) if pgcpu else None
            p["autovacuum"] = autovacuum_overlap(pgcpu) if pgcpu else None
            p["p50_us"], p["p99_us"] = pgbench_latency(path)
            # pgbench's own CPU per transaction: what a C client that only
            # runs the endpoint's statements spends, the floor under the
            # daemon's CPU per request.
            p["client_us"] = (client_s * 1e6 / p["transactions"]
                              if client_s is not None and p["transactions"] else None)
            per[c] = p
        best = max(per, key=lambda c: per[c]["tps"])
        ceilings[ep] = {"per_client": per, "best_clients": best, "tps": per[best]["tps"]}
    return meta, eps, conns, clients, runs, ceilings


# ------------------------------------------------------------ statements --

def norm_sql(q):
    """Statement text with every parameter, constant and NULL written as $,
    blanks collapsed and a final semicolon dropped.

    The daemon and pgbench number parameters differently, and the pgbench
    scripts must write a few things differently (a NULL that pgbench cannot
    bind, a literal with a colon as E'..\\072..' because pgbench would take
    ':MI' in 'HH24:MI' for a variable); all of that looks alike here."""
    q = " ".join(q.split()).rstrip(";").strip()
    q = re.sub(r"(?<![\w$])[Ee]?'(?:[^']|'')*'", "$", q)
    q = re.sub(r"(?<![\w$.])\d+(?:\.\d+)?(?![\w.])", "$", q)
    q = re.sub(r"\bNULL\b", "$", q)
    return re.sub(r"\$\d+", "$", q)


def loose_sql(q):
    """A coarser key that also matches pg_stat_statements' own
    normalisation (which turns extract(month ...) and -1 into $n)."""
    q = norm_sql(q)
    q = re.sub(r"extract\(\w+ FROM", "extract($ FROM", q)
    return q.replace("-$", "$")


# What a pgbench script has to write differently from the daemon, and why.
# Applied to pgbench's side before comparing; listed on the page.
KNOWN_REWRITES = [
    ("string_to_array($ || $ || $ || $ || $, $)", "string_to_array($, $)",
     "redeem: the coupon code is joined in SQL from three random numbers"
     " (pgbench cannot make a string); the daemon binds the code it made in C"),
]

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] (\S*) ?"
                      r"(LOG|DETAIL|ERROR|STATEMENT|WARNING|FATAL|HINT|CONTEXT):  (.*)$")


def statement_log(path, app):
    """The statements application `app` ran, in order, from a server log
    captured with log_statement = 'all': [(statement name, text)], and the
    errors it got."""
    entries = []
    for line in read(path).splitlines():
        m = LOG_LINE.match(line)
        if m:
            entries.append([m.group(2), m.group(3), m.group(4)])
        elif entries and line.startswith("\t"):
            entries[-1][2] += " " + line[1:]
    seq, errors = [], []
    for a, level, text in entries:
        if a != app:
            continue
        m = re.match(r"(?:execute (\S+?)|statement): (.*)$", text, re.S)
        if level == "LOG" and m:
            seq.append((m.group(1) or "(simple query)", m.group(2)))
        elif level == "ERROR":
            errors.append(text)
    return seq, errors


def pss_means(path):
    """{loose key: (calls, mean ms)} from a pg_stat_statements dump."""
    if not os.path.exists(path):
        return {}
    try:
        rows = json.loads(read(path))
    except json.JSONDecodeError as exc:
        raise Bad(f"{path}: {exc}") from None
    out = {}
    for row in rows:
        out[loose_sql(row["query"])] = (row["calls"], float(row["mean_ms"]))
    return out


def compare_statements(d, ep):
    """Compares, in order, what the daemon ran for three requests and what
    pgbench ran for three transactions of the endpoint's script.
    Returns (one request's statements as rows for the page, problems)."""
    dpath = os.path.join(d, f"seq-daemon-{ep}.log")
    ppath = os.path.join(d, f"seq-pgbench-{ep}.log")
    if not (os.path.exists(dpath) and os.path.exists(ppath)):
        return [], [f"{ep}: statement logs missing"]
    dseq, derr = statement_log(dpath, "loyaltyd")
    pseq, perr = statement_log(ppath, "pgbench")
    problems = [f"{ep}: the daemon got an error: {x}" for x in derr]
    problems += [f"{ep}: pgbench got an error: {x}" for x in perr]
    dnorm = [norm_sql(t) for _, t in dseq]
    pnorm = []
    for _, t in pseq:
        n = norm_sql(t)
        for theirs, ours, _why in KNOWN_REWRITES:
            n = n.replace(theirs, ours)
        pnorm.append(n)
    if not dnorm:
        problems.append(f"{ep}: no statement of the daemon in the log")
    elif dnorm != pnorm:
        import difflib
        short = lambda xs: [x if len(x) <= 160 else x[:157] + "..." for x in xs]  # noqa: E731
        diff = difflib.unified_diff(short(dnorm), short(pnorm), "daemon", "pgbench", lineterm="",
                                    n=1)
        problems.append(f"{ep}: the statements differ (3 requests vs 3 transactions):\n    "
                        + "\n    ".join(diff))
    per = len(dseq) // 3 if len(dseq) % 3 == 0 else len(dseq)
    dmeans = pss_means(os.path.join(d, f"stmts-daemon-{ep}.json"))
    pmeans = pss_means(os.path.join(d, f"stmts-pgbench-{ep}.json"))
    rows = []
    for theirs, ours, _why in KNOWN_REWRITES:
        pmeans = {k.replace(theirs, ours): v for k, v in pmeans.items()}
    for name, text in dseq[:per]:
        k = loose_sql(text)
        rows.append((name, dmeans.get(k), pmeans.get(k), norm_sql(text)))
    return rows, problems


# --------------------------------------------------------------- targets --

def ceiling_tail(ceiling):
    """pgbench's p99/p50 at the client count of the ceiling, or None."""
    best = ceiling["per_client"][ceiling["best_clients"]]
    return best["p99_us"] / best["p50_us"] if best.get("p50_us") else None


def ceiling_client_us(ceiling):
    """pgbench's CPU per transaction at the client count of the ceiling."""
    return ceiling["per_client"][ceiling["best_clients"]]["client_us"]


def evaluate(eps, conns, runs, ceilings, meta):
    """[(ok, text)] for every target of issue 3 that this run measured."""
    out = []
    for ep in eps:
        ceil = ceilings[ep]["tps"]
        for c in conns:
            r = runs[(ep, c)]
            ratio = r["rps"] / ceil if ceil else 0.0
            r["ratio"] = ratio
            out.append((ratio >= RATIO_TARGET[ep],
                        f"{ep} at {c} connections: {r['rps']:,.0f} req/s = {ratio:.2f} x ceiling "
                        f"{ceil:,.0f}/s (target >= {RATIO_TARGET[ep]})"))
    for ep in eps:
        for c in conns:
            r = runs[(ep, c)]
            q = r["p99_us"] / r["p50_us"] if r["p50_us"] else float("inf")
            out.append((q <= P99_OVER_P50,
                        f"{ep} at {c} connections: p99 {r['p99_us'] / 1000:.2f} ms = {q:.1f} x p50 "
                        f"{r['p50_us'] / 1000:.2f} ms (target <= {P99_OVER_P50:g} x; pgbench "
                        f"at its ceiling: {fmt(ceiling_tail(ceilings[ep]), '.1f')} x)"))
    if "balance" in eps and 64 in conns:
        p99 = runs[("balance", 64)]["p99_us"] / 1000
        out.append((p99 < BALANCE_P99_MS_AT_64,
                     f"balance p99 at 64 connections: {p99:.2f} ms "
                     f"(target < {BALANCE_P99_MS_AT_64:g} ms)"))
    for ep in eps:
        if ep not in CPU_TARGET_US:
            continue
        for c in conns:
            us = runs[(ep, c)]["cpu_us"]
            floor = ceiling_client_us(ceilings[ep])
            out.append((us is not None and us <= CPU_TARGET_US[ep],
                        f"{ep} daemon CPU at {c} connections: {us:.1f} us/request "
                        f"(target <= {CPU_TARGET_US[ep]:g} us; pgbench spends "
                        f"{fmt(floor, '.1f')} us per transaction of the same statements)"))
    bad = [(ep, c, runs[(ep, c)]["status_errors"], runs[(ep, c)]["socket_errors"])
           for ep in eps for c in conns
           if runs[(ep, c)]["status_errors"] or runs[(ep, c)]["socket_errors"]]
    total = sum(runs[k]["requests"] for k in runs)
    if bad:
        detail = "; ".join(f"{ep} c{c}: {s} non-2xx, {e} socket errors" for ep, c, s, e in bad)
        out.append((False, f"errors under load: {detail} (target: none)"))
    else:
        out.append((True, f"no non-2xx answer and no socket error in {total:,} requests"))
    mib = int(meta.get("vm_hwm_kb", "0")) / 1024
    out.append((0 < mib < RSS_LIMIT_MIB,
                f"daemon peak RSS (VmHWM) {mib:.1f} MiB (target < {RSS_LIMIT_MIB:g} MiB)"))
    return out


NOISE_CORES = 0.25


def per_group(cpu):
    """Requests per group transaction over the run (api/gather.h), from
    run.sh's /metrics counters of the endpoint's kind of group; None when no
    group ran."""
    g = cpu.get("groups")
    m = cpu.get("group_members")
    if not g or not m or g[1] <= g[0]:
        return None
    return (m[1] - m[0]) / (g[1] - g[0])


def autovacuum_overlap(cpu):
    """Did PostgreSQL's autovacuum or autoanalyze run during the run?  From
    run.sh's 'autovacuum <finished> <running> <finished> <running>' line;
    None when the run did not record it."""
    a = cpu.get("autovacuum")
    if not a or len(a) != 4:
        return None
    return a[2] > a[0] or a[1] > 0 or a[3] > 0


def maintenance(eps, conns, clients, runs, ceilings):
    """Runs that shared the cluster with autovacuum or autoanalyze: their
    figures are not the daemon's or pgbench's alone."""
    out = [f"wrk {ep} c{c}" for ep in eps for c in conns if runs[(ep, c)].get("autovacuum")]
    out += [f"pgbench {ep} c{c}" for ep in eps for c in clients
            if ceilings[ep]["per_client"][c].get("autovacuum")]
    return out


def noise(eps, conns, clients, runs, ceilings):
    """Runs during which other processes on the machine used more than
    NOISE_CORES: their figures are not the daemon's alone."""
    out = []
    for ep in eps:
        for c in conns:
            sp = runs[(ep, c)]["split"]
            if sp and sp["other"] > NOISE_CORES:
                out.append(f"wrk {ep} c{c}: {sp['other']:.2f} cores")
        for c in clients:
            sp = ceilings[ep]["per_client"][c]["split"]
            if sp and sp["other"] > NOISE_CORES:
                out.append(f"pgbench {ep} c{c}: {sp['other']:.2f} cores")
    return out


# ---------------------------------------------------------------- tables --

def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def main_table(eps, conns, runs, ceilings):
    head = ["endpoint", "conns", "req/s", "p50 ms", "p99 ms", "p99/p50", "non-2xx",
            "sock err", "daemon CPU us/req", "cores: daemon / pg / wrk / kernel / other",
            "VmHWM MiB", "ceiling/s", "ratio"]
    rows = []
    for ep in eps:
        for c in conns:
            r = runs[(ep, c)]
            rows.append([
                ep, str(c), f"{r['rps']:,.0f}", f"{r['p50_us'] / 1000:.2f}",
                f"{r['p99_us'] / 1000:.2f}",
                f"{r['p99_us'] / r['p50_us']:.1f}" if r["p50_us"] else "-",
                str(r["status_errors"]), str(r["socket_errors"]), fmt(r["cpu_us"], ".1f"),
                split_text(r["split"]),
                f"{r['hwm_kb'] / 1024:.1f}", f"{ceilings[ep]['tps']:,.0f}",
                f"{r['ratio']:.2f}"])
    return head, rows


def ceiling_latency_text(ceiling):
    best = ceiling["per_client"][ceiling["best_clients"]]
    if not best.get("p50_us"):
        return "-"
    return f"{best['p50_us'] / 1000:.2f} / {best['p99_us'] / 1000:.2f}"


def ceiling_table(eps, clients, ceilings):
    head = ["statements of", *[f"{c} client{'s' if c > 1 else ''}" for c in clients],
            "ceiling (clients)", "cores at ceiling: pg / pgbench / kernel / other",
            "pgbench CPU us/tx at ceiling", "pgbench p50 / p99 ms at ceiling"]
    rows = []
    for ep in eps:
        per = ceilings[ep]["per_client"]
        best = ceilings[ep]["best_clients"]
        sp = per[best]["split"]
        rows.append([ep, *[f"{per[c]['tps']:,.0f}" + (" (aborted)" if per[c]["aborted"] else "")
                           for c in clients],
                     f"**{ceilings[ep]['tps']:,.0f}** ({best})",
                     split_text(sp, ("postgres", "client", "kernel", "other")),
                     fmt(ceiling_client_us(ceilings[ep]), ".1f"),
                     ceiling_latency_text(ceilings[ep])])
    return head, rows


def markdown(head, rows):
    right = [i > 0 for i in range(len(head))]
    out = ["| " + " | ".join(head) + " |",
           "| " + " | ".join("---:" if r else "---" for r in right) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def plain(head, rows):
    rows = [[c.replace("**", "") for c in row] for row in rows]
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


# ------------------------------------------------------------------ page --

def perf_summary(d, ep, limit=12):
    """The top symbols of perf-<ep>.txt as (percent, dso, symbol)."""
    path = os.path.join(d, f"perf-{ep}.txt")
    if not os.path.exists(path):
        return None
    out = []
    for line in read(path).splitlines():
        m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)$", line)
        if m:
            # perf adds IPC columns ("-  -") after the symbol.
            sym = re.split(r"\s{2,}", m.group(3).strip())[0]
            out.append((float(m.group(1)), m.group(2), sym))
    return out[:limit]


def perf_dso(d, ep, limit=8):
    path = os.path.join(d, f"perf-dso-{ep}.txt")
    if not os.path.exists(path):
        return None
    out = []
    for line in read(path).splitlines():
        m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s*$", line)
        if m:
            out.append((float(m.group(1)), m.group(2)))
    return out[:limit]


def strace_summary(d, ep, limit=10):
    """[(syscall, calls per request)] from strace -c over a wrk run."""
    path = os.path.join(d, f"strace-{ep}.txt")
    wrk = os.path.join(d, f"wrk-strace-{ep}.txt")
    if not (os.path.exists(path) and os.path.exists(wrk)):
        return None
    n = parse_wrk(wrk)["requests"]
    out = []
    for line in read(path).splitlines():
        m = re.match(r"\s*[0-9.]+\s+[0-9.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
        if m and m.group(2) != "total" and n:
            out.append((m.group(2), int(m.group(1)) / n))
    out.sort(key=lambda x: -x[1])
    return [x for x in out if x[1] >= 0.05][:limit], sum(x[1] for x in out), n


def mixed_table(d):
    """The mixed run (balance and purchase at once), or None when not run."""
    rows = []
    for ep in ("balance", "purchase"):
        path = os.path.join(d, f"wrk-mixed-{ep}.txt")
        if not os.path.exists(path):
            return None
        r = parse_wrk(path)
        rows.append([ep, "16", f"{r['rps']:,.0f}", f"{r['p50_us'] / 1000:.2f}",
                     f"{r['p99_us'] / 1000:.2f}",
                     f"{r['p99_us'] / r['p50_us']:.1f}" if r["p50_us"] else "-",
                     str(r["status_errors"]), str(r["socket_errors"])])
    return (["endpoint", "conns", "req/s", "p50 ms", "p99 ms", "p99/p50", "non-2xx",
             "sock err"], rows)


def gib(kb):
    return int(kb) / 1024 / 1024


def page(d, meta, eps, conns, clients, runs, ceilings, targets, stmts, old_analysis):
    h, rows = main_table(eps, conns, runs, ceilings)
    ch, crows = ceiling_table(eps, clients, ceilings)
    missed = [t for ok, t in targets if not ok]
    out = [
        "# Performance",
        "",
        "The latest figures of the benchmark (`bench/run.sh`, issue 3). `bench/report.py` rewrites",
        "everything on this page from a run's raw outputs except the section \"What the numbers",
        "say\", which is written by hand. Absolute numbers drift by 15% or more from machine to",
        "machine; the ratios are measured in one run and are what the targets are about.",
        "",
        "## Machine and command",
        "",
        f"- CPU: {meta.get('nproc')} x {meta.get('cpu_model')} (`nproc` = {meta.get('nproc')}),"
        f" RAM {gib(meta.get('mem_total_kb', '0')):.1f} GiB",
        f"- {meta.get('os')}, kernel {meta.get('kernel')}",
        f"- PostgreSQL {meta.get('postgres')}, durable: {meta.get('pg_settings')};"
        " its own cluster in a temporary folder, unix socket",
        f"- {meta.get('wrk')} and pgbench on the same machine; loyaltyd threads"
        f" {meta.get('daemon_threads_flag')} ({meta.get('daemon_os_threads')} OS threads),"
        " pool at its default, log level at its default",
        f"- command: `{meta.get('command')}` ({meta.get('members')} members loaded in"
        f" {meta.get('load_seconds')} s, {meta.get('duration')} s per wrk and pgbench run)",
        f"- date: {meta.get('date')}, commit {meta.get('commit')}",
        "",
        "## Results",
        "",
        "Every run below, wrk's and pgbench's, starts after a `VACUUM (ANALYZE)` and a",
        "`CHECKPOINT`; autovacuum is off in the bench cluster, so that no run works beside",
        "maintenance that another run's writes set off.",
        "",
        "wrk: 2 threads, keep-alive, `--latency`, one run per row. Daemon CPU is the change in",
        "loyaltyd's utime+stime (`/proc/PID/stat`) over the run divided by its requests. The",
        "cores column splits the machine's busy CPU over the run (CPU-seconds per second): the",
        "daemon, the benchmark's PostgreSQL cluster (every backend), wrk, the kernel's own",
        "threads and interrupts (journal and block I/O for the WAL flushes, loopback network),",
        "and everything else on the machine. VmHWM is the daemon's peak RSS so far. The ratio",
        "is req/s over the endpoint's ceiling.",
        "",
        markdown(h, rows),
        "",
    ]
    grouped = [f"{ep} {'; '.join(per)}" for ep, per in
               ((ep, [f"{c} connections {runs[(ep, c)]['per_group']:.1f}" for c in conns
                      if (ep, c) in runs and runs[(ep, c)].get("per_group")]) for ep in eps)
               if per]
    if grouped:
        out += [
            "Requests per transaction: the daemon records purchases that wait together in one",
            "transaction (api/gather.h), and redemptions likewise, with or without a key. Over",
            "the runs its `/metrics` counted these per group:",
            "; ".join(grouped) + ".",
        ]
        out += [
            "The ceilings below are one request per transaction, as the issue defines them.",
            "",
        ]
    out += [
        "Ceilings: pgbench (`-n -M prepared`, unix socket, `-j` = min(clients, 2)) running the",
        "same statements as the daemon (`bench/pgbench/*.sql`), transactions per second; the",
        "ceiling is the best of 1, 2, 4 and 8 clients. The last column is pgbench's own",
        "utime+stime per transaction at the ceiling: what a C client that only sends the",
        "endpoint's statements and reads their results spends, next to the daemon's CPU per",
        "request. pgbench logs the latency of one transaction in ten (`-l --sampling-rate=0.1`);",
        "its p50 and p99 at the ceiling show how even the database's own answers are.",
        "",
        markdown(ch, crows),
        "",
        f"Daemon peak RSS (VmHWM) at the end of the wrk runs:"
        f" {int(meta.get('vm_hwm_kb', '0')) / 1024:.1f} MiB.",
        "",
    ]
    mixed = mixed_table(d)
    if mixed:
        out += ["Mixed load: balance reads (16 connections) while purchases are posted (16 more",
                "connections), at once; no target of its own, it shows whether reads wait behind",
                "writes.", "", markdown(*mixed), ""]
    busy = noise(eps, conns, clients, runs, ceilings)
    if busy:
        out += [f"**The machine was not quiet**: other processes used more than {NOISE_CORES}"
                f" cores during {len(busy)} run(s) ({'; '.join(busy)}); load average at the"
                f" start {meta.get('loadavg_at_start')}. Those figures are low.", ""]
    vac = maintenance(eps, conns, clients, runs, ceilings)
    if vac:
        out += [f"**PostgreSQL's autovacuum or autoanalyze ran during {len(vac)} run(s)**"
                f" ({'; '.join(vac)}): the cluster was doing its own work beside the load.", ""]
    out += [
        "## Targets",
        "",
    ]
    out += [f"- {'met' if ok else '**MISSED**'}: {t}" for ok, t in targets]
    out += ["", "## Statements: daemon and pgbench", "",
            "The server log (`log_statement = 'all'`) of three requests to the daemon and of three",
            "transactions of the pgbench script, compared in order with parameters and constants",
            "as `$`. Mean execution times are pg_stat_statements' (daemon: the warm-up; pgbench: 500",
            "transactions at 1 client); a prepared BEGIN or COMMIT is counted only once per",
            "connection there, hence no time for them.", ""]
    for ep in eps:
        rows, problems = stmts[ep]
        out.append(f"**{ep}** ({ENDPOINTS[ep]}): "
                   + ("pgbench runs the same statements in the same order."
                      if not problems else "**differences**:"))
        out += [f"    {p}" for p in problems]
        out += ["", "| statement (daemon's name) | daemon mean ms | pgbench mean ms | text |",
                "| --- | ---: | ---: | --- |"]
        for name, dm, pm, text in rows:
            t = text if len(text) <= 120 else text[:117] + "..."
            out.append(f"| `{name}` | {fmt(dm and dm[1], '.3f')} | {fmt(pm and pm[1], '.3f')}"
                       f" | `{t}` |")
        out.append("")
    out += ["Written differently in the pgbench scripts (and accepted as the same):", ""]
    out += [f"- {why}" for _, _, why in KNOWN_REWRITES]
    out += ["- a NULL parameter is written NULL (pgbench cannot bind a NULL); the purchase's id and",
            "  POS id are random numbers, not the sequence value the context statement draws",
            "  (pgbench's `\\gset` cannot store that statement's unnamed columns).",
            "- keyed: the Idempotency-Key is a random number, and the request's path and hash and",
            "  the stored answer are one request's (the daemon's own) for every transaction, as",
            "  pgbench cannot make a string; each key is still a new row.", ""]
    perf = [(ep, perf_summary(d, ep), perf_dso(d, ep)) for ep in ("balance", "purchase")]
    perf = [p for p in perf if p[1]]
    if perf:
        out += ["## Profile of the daemon", "",
                "`perf record -g -F 999 -p <loyaltyd>` during one extra wrk run at 64 connections"
                " per endpoint (not counted in the table); self time.", ""]
        for ep, syms, dsos in perf:
            out.append(f"**{ep}**, by library: "
                       + ", ".join(f"{dso} {pct:.1f}%" for pct, dso in (dsos or [])) + ".")
            out += ["", "| self | library | symbol |", "---:|---|---".join(["| ", " |"])]
            out += [f"| {pct:.1f}% | {dso} | `{sym}` |" for pct, dso, sym in syms]
            out.append("")
            st = strace_summary(d, ep)
            if st:
                calls, total, n = st
                out.append(f"System calls per {ep} request (`strace -c -f` over {n:,} requests at"
                           f" 16 connections): {total:.1f} in all; "
                           + ", ".join(f"{name} {per:.2f}" for name, per in calls) + ".")
                out.append("")
    tables = os.path.join(d, "tables.txt")
    if os.path.exists(tables):
        hot = []
        for line in read(tables).splitlines():
            parts = line.split()
            if len(parts) == 5 and parts[0] in ("members", "rewards") and int(parts[2]) > 0:
                upd, h = int(parts[2]), int(parts[3])
                hot.append(f"{parts[0]} {h:,} of {upd:,} updates ({100 * h / upd:.0f}%)")
        if hot:
            out += ["Heap-only (HOT) updates over the whole run (daemon and pgbench): "
                    + "; ".join(hot) + ".", ""]
    check = os.path.join(d, "check.txt")
    if os.path.exists(check):
        verdict = read(check).strip().splitlines()[-1:] or ["?"]
        out += [f"Ledger invariant after the run (`loyaltyd check`): {verdict[0]}.", ""]
    out.append(ANALYSIS_BEGIN)
    if old_analysis is not None and ANALYSIS_AUTO not in old_analysis:
        out.append(old_analysis.strip("\n"))
    else:
        out += [ANALYSIS_AUTO, "## What the numbers say", ""]
        if missed:
            out += ["Missed in this run (evidence above; analysis to be written):", ""]
            out += [f"- {t}" for t in missed]
        else:
            out.append("Every target was met in this run.")
    out += [ANALYSIS_END, ""]
    return "\n".join(out)


def old_analysis_of(path):
    try:
        text = read(path)
    except Bad:
        return None
    m = re.search(re.escape(ANALYSIS_BEGIN) + r"\n(.*?)" + re.escape(ANALYSIS_END), text, re.S)
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="a run's folder, e.g. build/bench/latest")
    ap.add_argument("--write", metavar="PAGE", help="rewrite this markdown page")
    ap.add_argument("--quiet", action="store_true", help="print nothing; exit status only")
    a = ap.parse_args()
    try:
        meta, eps, conns, clients, runs, ceilings = load(a.results)
        targets = evaluate(eps, conns, runs, ceilings, meta)
        stmts = {ep: compare_statements(a.results, ep) for ep in eps}
    except (Bad, KeyError, ValueError) as exc:
        print(f"report.py: {exc}", file=sys.stderr)
        return 2
    ok = all(t[0] for t in targets)
    if a.quiet:
        return 0 if ok else 1
    h, rows = main_table(eps, conns, runs, ceilings)
    ch, crows = ceiling_table(eps, clients, ceilings)
    print()
    print(plain(h, rows))
    print()
    print("ceilings (pgbench tps by clients)")
    print(plain(ch, crows))
    print()
    print(f"daemon peak RSS (VmHWM): {int(meta.get('vm_hwm_kb', '0')) / 1024:.1f} MiB")
    mixed = mixed_table(a.results)
    if mixed:
        print()
        print("mixed load (balance and purchase at once)")
        print(plain(*mixed))
    busy = noise(eps, conns, clients, runs, ceilings)
    if busy:
        print(f"WARNING: the machine was not quiet (other processes > {NOISE_CORES} cores): "
              + "; ".join(busy))
    vac = maintenance(eps, conns, clients, runs, ceilings)
    if vac:
        print("WARNING: PostgreSQL's autovacuum or autoanalyze ran during: " + "; ".join(vac))
    print()
    for met, text in targets:
        print(f"  {'met   ' if met else 'MISSED'}  {text}")
    problems = [p for ep in eps for p in stmts[ep][1]]
    print()
    if problems:
        print("statements that differ between the daemon and pgbench:")
        for p in problems:
            print(f"  {p}")
    else:
        print("pgbench ran the same statements as the daemon for every endpoint")
    if a.write:
        text = page(a.results, meta, eps, conns, clients, runs, ceilings, targets, stmts,
                    old_analysis_of(a.write))
        with open(a.write, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"\nwrote {a.write}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
