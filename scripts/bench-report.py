#!/usr/bin/env python3
"""bench-report.py RAW META: the markdown report of `make bench`.

RAW holds `REP<TAB>name.metric<TAB>value` lines (scripts/bench-lonc.sh, bench-ipsynd.sh),
META `key=value` lines (date, commit, load before and after, nproc, repetitions). Every ratio
is computed within one repetition (a figure against the baseline measured beside it), then
the median over the repetitions is taken; each cell shows the median and, in brackets, the
lowest and highest repetition. A target line says met / not met for the median, with the
target from the issue it comes from.
"""
import statistics
import sys
from collections import defaultdict


def load(raw_path):
    reps = defaultdict(dict)
    for line in open(raw_path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 3:
            continue
        rep, key, value = parts
        try:
            reps[rep][key] = float(value)
        except ValueError:
            pass
    return [reps[r] for r in sorted(reps, key=int)]


def series(reps, fn):
    out = []
    for r in reps:
        try:
            x = fn(r)
        except (KeyError, ZeroDivisionError):
            continue
        if x is not None:
            out.append(x)
    return out


def fmt_num(x):
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def cell(xs, unit=""):
    if not xs:
        return "n/a"
    m = statistics.median(xs)
    s = fmt_num(m) + unit
    if len(xs) > 1:
        s += f" [{fmt_num(min(xs))}–{fmt_num(max(xs))}]"
    return s


# (key, op, threshold): the verdict compares the median of the figure's `key` column
# ("ratio" or "value") with the threshold.
def verdict(xs, op, limit):
    if not xs:
        return "not measured"
    m = statistics.median(xs)
    ok = m <= limit if op == "<=" else m >= limit
    return "**met**" if ok else "**not met**"


def count(meta, key):
    try:
        return f"{int(meta[key]):,}"
    except (KeyError, ValueError):
        return "?"


def placement(reps):
    """The header line on the CPU placement of lonc's relay rows (scripts/bench-lonc.sh)."""
    seen = sorted({(int(r["placement.load_cpu"]), int(r["placement.relay_cpu"]))
                   for r in reps if "placement.load_cpu" in r and "placement.relay_cpu" in r})
    lonc_reps = [r for r in reps if "relay_64.rps" in r]
    if not seen:
        return ("- CPU placement: not pinned (`BENCH_CPUS=off` or one CPU): lonc's relay rows "
                "depend on where the scheduler puts the processes")
    text = " / ".join(f"`bench-load` on CPU {a}; `bench-peer`, `bench-relay` and lonc (parent "
                      f"and children) on CPU {b}" for a, b in seen)
    partly = " (not in every repetition)" if len(lonc_reps) > len(
        [r for r in lonc_reps if "placement.load_cpu" in r]) else ""
    return ("- CPU placement of lonc's relay rows, the same for the baselines, the minimal relay "
            f"and lonc (`taskset`){partly}: {text}. The relay and the peer hand every request "
            "to each other over the one link, so they share a CPU; left to the scheduler on 2 "
            "CPUs, whether it co-located them moved either relay between about 37k and 63k "
            "requests/s with 64 clients from run to run. lonc's regression figures and ipsynd "
            "are not pinned.")


def v(key):
    return lambda r: r[key]


def ratio(a, b):
    return lambda r: r[a] / r[b]


def main():
    reps = load(sys.argv[1])
    meta = dict(line.rstrip("\n").split("=", 1) for line in open(sys.argv[2]) if "=" in line)
    out = []
    w = out.append
    w("# make bench: results")
    w("")
    w(f"- date: {meta.get('date', '?')} (UTC), {meta.get('duration', '?')} s in all")
    w(f"- commit measured: `{meta.get('commit', '?')}`")
    w(f"- machine: {meta.get('nproc', '?')} CPUs ({meta.get('cpu', '?')}); "
      f"`/proc/loadavg` before: `{meta.get('load_before', '?')}`, "
      f"after: `{meta.get('load_after', '?')}`")
    w(f"- repetitions: {len(reps)}{' (BENCH_QUICK: short runs, not for quoting)' if meta.get('quick') == '1' else ''}; "
      f"{meta.get('secs', '?')} s per lonc measurement; TMPDIR filesystem: {meta.get('fs', '?')}; "
      f"ipsynd's FIP trees on {meta.get('ipsynd_fs', meta.get('fs', '?'))}")
    w(placement(reps))
    w("- each cell: median over the repetitions [lowest–highest]; ratios are taken within a "
      "repetition, against the baseline measured beside the figure, then their median. "
      f"64 clients: each repetition measures {meta.get('pairs', '?')} adjacent pairs of the "
      "minimal relay and lonc (the order alternating); each side's figures are the medians "
      "over its runs, the requests/s ratio the median of the pairs' ratios.")
    w("")

    def table(title, rows, note=None):
        w(f"## {title}")
        w("")
        if note:
            w(note)
            w("")
        w("| figure | baseline, same run | measured | ratio | target | |")
        w("|---|---|---|---|---|---|")
        for row in rows:
            label, base, val, rat, target = row
            base_s = "; ".join(f"{name} {cell(series(reps, fn), unit)}" for name, fn, unit in base) or ""
            val_s = "; ".join(f"{name} {cell(series(reps, fn), unit)}" for name, fn, unit in val)
            rat_xs = series(reps, rat) if rat else []
            rat_s = cell(rat_xs) if rat else ""
            if isinstance(target, str):
                tgt_s, ver_s = target, ""
            elif target:
                what, op, limit, text = target
                xs = rat_xs if what == "ratio" else series(reps, val[0][1])
                tgt_s, ver_s = text, verdict(xs, op, limit)
            else:
                tgt_s, ver_s = "regression figure", ""
            w(f"| {label} | {base_s} | {val_s} | {rat_s} | {tgt_s} | {ver_s} |")
        w("")

    us = " µs"
    table(
        "lonc: the relay path (issue 10 §1)",
        [
            ("one client, kept Unix connection, p50",
             [("Unix ping-pong", v("unix_pp.p50_us"), us), ("direct TCP", v("tcp_1.p50_us"), us),
              ("minimal relay", v("relay_kept.p50_us"), us)],
             [("lonc", v("lonc_kept.p50_us"), us)],
             ratio("lonc_kept.p50_us", "relay_kept.p50_us"),
             ("ratio", "<=", 1.10, "lonc / minimal relay ≤ 1.10")),
            ("one client, kept Unix connection, p99",
             [("Unix ping-pong", v("unix_pp.p99_us"), us), ("direct TCP", v("tcp_1.p99_us"), us),
              ("minimal relay", v("relay_kept.p99_us"), us)],
             [("lonc", v("lonc_kept.p99_us"), us)],
             ratio("lonc_kept.p99_us", "relay_kept.p99_us"),
             ("ratio", "<=", 1.2, "lonc / minimal relay ≤ 1.2")),
            ("one client, a new Unix connection per request (as lonnet), p50",
             [("minimal relay", v("relay_new.p50_us"), us)],
             [("lonc", v("lonc_new.p50_us"), us)],
             ratio("lonc_new.p50_us", "relay_new.p50_us"),
             ("ratio", "<=", 1.15, "lonc / minimal relay ≤ 1.15")),
            ("one client, a new Unix connection per request, p99",
             [("minimal relay", v("relay_new.p99_us"), us)],
             [("lonc", v("lonc_new.p99_us"), us)],
             ratio("lonc_new.p99_us", "relay_new.p99_us"),
             ("ratio", "<=", 1.2, "lonc / minimal relay ≤ 1.2")),
            ("64 clients, one peer, requests/s",
             [("direct TCP, one link (1 client)", v("tcp_1.rps"), "/s"),
              ("direct TCP, 64 connections", v("tcp_64.rps"), "/s"),
              ("minimal relay", v("relay_64.rps"), "/s")],
             [("lonc", v("lonc_64.rps"), "/s")],
             v("lonc_64.pair_ratio_rps"),
             ("ratio", ">=", 0.95, "lonc / minimal relay ≥ 0.95")),
            ("64 clients, one peer, p99",
             [("minimal relay", v("relay_64.p99_us"), us)],
             [("lonc", v("lonc_64.p99_us"), us)],
             ratio("lonc_64.p99_us", "relay_64.p99_us"),
             ("ratio", "<=", 1.2, "lonc / minimal relay ≤ 1.2")),
            ("CPU per request, 64 clients (lonc: parent and children)",
             [("minimal relay", v("relay_64.cpu_us_per_req"), us)],
             [("lonc", v("lonc_64.cpu_us_per_req"), us)],
             ratio("lonc_64.cpu_us_per_req", "relay_64.cpu_us_per_req"),
             None),
            ("CPU per request, one client, kept connection",
             [("minimal relay", v("relay_kept.cpu_us_per_req"), us)],
             [("lonc", v("lonc_kept.cpu_us_per_req"), us)],
             ratio("lonc_kept.cpu_us_per_req", "relay_kept.cpu_us_per_req"),
             None),
            ("`encrypt:` (both ways), one client, kept, requests/s",
             [("lonc, plain", v("lonc_kept.rps"), "/s")],
             [("lonc, `encrypt:encecho:`", v("lonc_enc.rps"), "/s")],
             ratio("lonc_enc.rps", "lonc_kept.rps"),
             "regression figure (issue 10: 0.97)"),
        ],
        "The minimal relay (`bench-relay`) is one poll loop doing the four syscalls per request "
        "(Unix recv, TCP send, TCP recv, Unix send) over one link, one request at a time, to "
        "the same `bench-peer` as lonc; it skips lond's handshake (the peer serves plain lines "
        "to a connection that does not start with `init`), which lonc does once per link "
        "before the clock runs. One `bench-load` process drives every path; one client is a "
        "blocking loop, 64 are one `ppoll` loop.",
    )
    table(
        "lonc: parallel links per peer (issue 10 §2)",
        [
            ("peer taking 1 ms per request, 64 clients, requests/s",
             [("loncLinks 1", v("links1_64.rps"), "/s")],
             [("loncLinks 4", v("links4_64.rps"), "/s")],
             ratio("links4_64.rps", "links1_64.rps"),
             ("ratio", ">=", 3.5, "loncLinks 4 / loncLinks 1 ≥ 3.5")),
            ("head of line: 8 clients' p50 (1 ms peer, loncLinks 4)",
             [("without a slow request", v("hol_base.p50_us"), us)],
             [("one 2 s request always in flight", v("hol_slow.p50_us"), us)],
             ratio("hol_slow.p50_us", "hol_base.p50_us"),
             ("ratio", "<=", 2.0, "with / without ≤ 2")),
        ],
        meta.get("links_note", ""),
    )
    table(
        "lonc: regression figures (issue 10)",
        [
            (f"idle clients: memory per connected client ({count(meta, 'idle_clients')} clients, never sent)",
             [("child before them, VmRSS", v("idle.child_rss_kib"), " KiB")],
             [("VmRSS", v("idle.idle_rss_b_per_client"), " B"),
              ("Private_Dirty", v("idle.idle_private_b_per_client"), " B")],
             None,
             "regression figure (issue 10: 186 B)"),
            ("the same clients after one request each, idle again",
             [],
             [("VmRSS", v("idle.used_rss_b_per_client"), " B"),
              ("Private_Dirty", v("idle.used_private_b_per_client"), " B")],
             None,
             "regression figure"),
            ("a child's private memory (`Private_Dirty`, smaps_rollup)",
             [],
             [("child", lambda r: r["idle.child_private_kib"] / 1024, " MiB")],
             None,
             "regression figure (issue 10: 0.1 MiB)"),
            (f"{count(meta, 'fleet')} hosts: lonc started → every socket answered",
             [("first socket answered", v("fleet.first_ms"), " ms")],
             [("all", lambda r: r["fleet.serving_ms"] / 1000, " s")],
             None,
             "regression figure (issue 10: 1.1 s)"),
            (f"a killed child (SIGKILL) → its socket answers again, p50 of {count(meta, 'kills')}",
             [("fastest", v("restart.min_ms"), " ms"), ("slowest", v("restart.max_ms"), " ms")],
             [("lonc", v("restart.p50_ms"), " ms")],
             None,
             "regression figure (issue 10: 5.6 ms)"),
        ],
        "`bench-lonc-ops` measures a lonc whose only host is the immediate `bench-peer`: the "
        "child's memory after one request, then with that many clients connected and idle "
        "(accepted, nothing sent), then after one request each (the differences per client); "
        "then it SIGKILLs the "
        "child repeatedly and times each until the socket answers again (a try every 100 µs). "
        "The fleet is a lonc whose hosts.tab holds that many hosts on loopback addresses "
        "127.250.x.y, all served by one more `bench-peer` listening on each.",
    )
    ms = " ms"
    table(
        "ipsynd (issue 9)",
        [
            ("record created → transmitter exec'd, p50",
             [("bare fork+exec", v("forkexec.p50_ms"), ms)],
             [("ipsynd", v("dispatch.p50_ms"), ms)],
             ratio("dispatch.p50_ms", "forkexec.p50_ms"),
             ("ratio", "<=", 2.0, "ipsynd / fork+exec ≤ 2")),
            ("record created → transmitter exec'd, p99",
             [("bare fork+exec", v("forkexec.p99_ms"), ms)],
             [("ipsynd", v("dispatch.p99_ms"), ms)],
             None,
             ("value", "<=", 5.0, "ipsynd p99 ≤ 5 ms (quiet machine)")),
            (f"{meta.get('drain_n', '?')} trivial transmissions, `multi:50` port, per transmission",
             [("fork+exec+wait, 50 at a time", v("drain_base.per_tx_ms"), ms),
              ("fork+exec+wait, one at a time", v("forkexec.fork_exec_wait_ms"), ms)],
             [("ipsynd", v("drain.per_tx_ms"), ms)],
             ratio("drain.per_tx_ms", "drain_base.per_tx_ms"),
             ("ratio", "<=", 1.2, "ipsynd / fork+exec+wait (50 at a time) ≤ 1.2")),
        ]
        + backlog_rows(meta, ms),
        "The transmitter is `bench-transmit` (compiled; it stamps its exec time on the "
        "monotonic clock, deletes its record and flag, exits 0); `bench-ipsynd` creates the "
        "records, runs the baselines (fork+`execv` of the same transmitter, no daemon) and "
        "reads ipsynd's CPU time (`/proc/<pid>/schedstat`), wake-ups "
        "(`voluntary_ctxt_switches`) and VmRSS. CPU per event: each new record, and each "
        "release of a transmitter on a free port, after ipsynd has finished with the "
        "previous one, plus a 1.2 s tail for deferred work. The backlog trees have "
        "`rescan:3600`, so an idle wake-up is never the rescan.",
    )
    sys.stdout.write("\n".join(out) + "\n")


def backlog_rows(meta, ms):
    ws = [int(x) for x in meta.get("waiting", "").split()]
    if not ws:
        return []
    big, small = max(ws), min(ws)
    rows = []
    for w in sorted(ws):
        rows.append((f"ipsynd CPU per new record, {w:,} waiting for a busy port", [],
                     [("ipsynd", v(f"backlog{w}.new_cpu_ms"), ms)], None,
                     ("value", "<=", 1.0, "≤ 1 ms") if w == big else "no target"))
    for w in sorted(ws):
        rows.append((f"ipsynd CPU per reaped transmitter, {w:,} waiting", [],
                     [("ipsynd", v(f"backlog{w}.reap_cpu_ms"), ms)], None,
                     ("value", "<=", 1.0, "≤ 1 ms") if w == big else "no target"))
    rows.append((f"ipsynd CPU per reaped transmitter, {big:,} waiting for ONE client", [],
                 [("ipsynd", v("oneclient.reap_cpu_ms"), ms)], None,
                 ("value", "<=", 1.0, "≤ 1 ms")))
    idle = meta.get("idle", "?")
    rows.append((f"idle, {big:,} waiting, over {idle} s: CPU", [],
                 [("ipsynd", v(f"backlog{big}.idle_cpu_ms"), ms)], None,
                 ("value", "<=", 1.0, "no CPU (≤ 1 ms)")))
    rows.append((f"idle, {big:,} waiting, over {idle} s: wake-ups", [],
                 [("ipsynd", v(f"backlog{big}.idle_wakeups"), "")], None,
                 ("value", "<=", 1.0, "none beyond the rescan period (`rescan:3600`: ≤ 1)")))
    if big != small:
        def per_record(r):
            d = r[f"backlog{big}.waiting"] - r[f"backlog{small}.waiting"]
            return (r[f"backlog{big}.rss_kib"] - r[f"backlog{small}.rss_kib"]) * 1024 / d
        rows.append((f"memory per waiting record (VmRSS at {big:,} − at {small:,}, "
                     "per record)",
                     [(f"VmRSS at {small:,}", lambda r: r[f"backlog{small}.rss_kib"], " KiB")],
                     [("per record", per_record, " B")], None,
                     ("value", "<=", 1024.0, "≤ 1 KiB")))
    return rows


main()
