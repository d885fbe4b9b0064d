#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The poolev Authors
"""bench/report.py - run poolev's benchmarks and write doc/performance.md's
generated tables and the plots under doc/plots/ (make bench-report).

    bench/report.py [--builddir DIR] [--doc FILE] [--plots DIR] [--out DIR]
                    [--from-tsv FILE] [--quick]

Runs bench/bench_timer, bench/bench_bus, bench/bench_echo and
bench/bench_pubsub from the build directory, each with POOLEV_BENCH_TSV set,
so that besides its usual output it writes one tab-separated line per median
(bench/benchutil.h describes the columns). The lines of every benchmark, and
what this script records of the machine (CPU model, cores, kernel, the load
average at the start and at the end of each benchmark, the date, the peers'
versions), go to OUT/results.tsv; each benchmark's output to OUT/NAME.log.

Then, in the document (--doc), the text between each pair of marker lines

    <!-- bench-report:NAME begin -->
    <!-- bench-report:NAME end -->

(NAME: timers, bus, echo, pubsub) is replaced by a generated block: the
machine, the date, the peers' versions and the method, the table, and a link
to the plot. Everything outside the markers is left as it is; a benchmark
that was not run (BENCH_ONLY) leaves its block alone. The plots are SVG files
drawn by gnuplot in --plots; without gnuplot the tables are still written
and the script says that the plots were skipped.

--from-tsv FILE regenerates the blocks and plots from an earlier
results.tsv without running anything.

Environment (all optional):
  BENCH_QUICK=1       tiny sizes, one round each: a smoke that takes seconds
                      (the figures mean nothing)
  BENCH_RUNS=N        rounds per median, every benchmark (default: each
                      benchmark's own: timer 7, bus 7, echo 5, pub/sub 5)
  BENCH_SECONDS=S     timed seconds per round of echo and pub/sub (default 2)
  BENCH_TIMER_SIZES   timer counts, comma-separated (default
                      1000,10000,100000,1000000)
  BENCH_ONLY          benchmarks to run, comma-separated, of timers, bus,
                      echo, pubsub (default: all four)
  POOLEV_BENCH_CLOCK  passed to bench_timer (cpu: the thread's CPU time)
  REDIS_SERVER        the redis-server to compare pubsubd with (default
                      /usr/bin/redis-server; absent: pubsubd alone)
  GNUPLOT             the gnuplot program (default gnuplot)

Only the Python standard library is used.
"""

import argparse
import datetime
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time

BENCHES = ("timers", "bus", "echo", "pubsub")
PROGRAM = {"timers": "bench/bench_timer", "bus": "bench/bench_bus",
           "echo": "bench/bench_echo", "pubsub": "bench/bench_pubsub"}
# the first column of each program's TSV rows
TSV_NAME = {"timers": "timer", "bus": "bus", "echo": "echo", "pubsub": "pubsub"}
DEFAULT_RUNS = {"timers": 7, "bus": 7, "echo": 5, "pubsub": 5}

# The goals the tables judge (the benchmarks print the same targets):
# poolev / peer ratios, and the bus's absolute targets (bench/bench_bus.c).
TIMER_GOAL = {"libev": 1.0, "libevent": 0.5}          # poolev / peer <=
PUBSUB_GOAL = {"deliveries": (">=", 1.0), "p99": ("<=", 1.0),
               "server-cpu": ("<=", 1.0), "memory": ("<=", 0.5)}
ECHO_GOAL = {"round-trips": (">=", 1.2), "server-cpu": ("<=", 1.0)}

# colours of the sides, the same in every plot
COLOUR = {"poolev": "#1f5fbf", "pubsubd": "#1f5fbf", "libev": "#d95f02",
          "libevent": "#7f7f7f", "redis": "#c0392b", "indirect-call": "#2ca02c",
          "glib": "#9467bd", "proftpd": "#8c564b"}
LABEL = {"poolev": "poolev", "pubsubd": "pubsubd", "libev": "libev",
         "libevent": "libevent", "redis": "Redis", "indirect-call":
         "indirect-call floor", "glib": "GLib signals",
         "proftpd": "ProFTPD-style list"}


def die(msg):
    sys.stderr.write("bench-report: %s\n" % msg)
    sys.exit(1)


def say(msg):
    sys.stderr.write("bench-report: %s\n" % msg)
    sys.stderr.flush()


# --------------------------------------------------------------------------
# Results

class Results:
    """Rows of results.tsv: (benchmark, case, size, impl, metric, value,
    unit, rounds), value a float unless unit is "text"."""

    def __init__(self):
        self.rows = []

    def load(self, path):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                cols = line.split("\t")
                if len(cols) != 8:
                    die("%s:%d: %d columns, expected 8" % (path, n, len(cols)))
                if cols[6] != "text":
                    try:
                        cols[5] = float(cols[5])
                    except ValueError:
                        die("%s:%d: value %r is not a number" % (path, n, cols[5]))
                self.rows.append(tuple(cols))

    def get(self, bench, case, size, impl, metric):
        """The last matching value, or None."""
        found = None
        for r in self.rows:
            if r[:5] == (bench, case, str(size), impl, metric):
                found = r[5]
        return found

    def info(self, bench, impl, key):
        return self.get(bench, "info", "-", impl, key)

    def rounds(self, bench):
        for r in self.rows:
            if r[0] == bench and r[1] != "info":
                return int(r[7])
        return None

    def get_any(self, bench, impl):
        """Whether @impl has a measurement in @bench."""
        return any(r[0] == bench and r[1] != "info" and r[3] == impl for r in self.rows)

    def has(self, bench):
        return any(r[0] == bench and r[1] != "info" for r in self.rows)

    def sizes(self, bench, case):
        seen = []
        for r in self.rows:
            if r[0] == bench and r[1] == case and r[2] not in seen:
                seen.append(r[2])
        return seen

    def impls(self, bench):
        seen = []
        for r in self.rows:
            if r[0] == bench and r[1] != "info" and r[3] not in seen:
                seen.append(r[3])
        return seen


def tsv_line(*cols):
    return "\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in cols) + "\n"


# --------------------------------------------------------------------------
# The machine

def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def loadavg():
    try:
        return "%.2f" % os.getloadavg()[0]
    except OSError:
        return "?"


def redis_version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"v=(\S+)", out)
    return m.group(1) if m else None


def machine_rows():
    now = datetime.datetime.now(datetime.timezone.utc)
    return [("report", "info", "-", "-", "date", now.strftime("%Y-%m-%d %H:%M UTC")),
            ("report", "info", "-", "-", "cpu", cpu_model()),
            ("report", "info", "-", "-", "cores", str(os.cpu_count() or "?")),
            ("report", "info", "-", "-", "kernel", "%s %s" % (platform.system(),
                                                              platform.release()))]


# --------------------------------------------------------------------------
# Running the benchmarks

def run_benchmarks(args, quick, only, out):
    """Run the chosen benchmarks; return the path of the results file."""
    builddir = os.path.abspath(args.builddir)
    results = os.path.join(out, "results.tsv")
    redis = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
    runs_env = os.environ.get("BENCH_RUNS", "")
    seconds = os.environ.get("BENCH_SECONDS", "")
    sizes = os.environ.get("BENCH_TIMER_SIZES", "")

    for name in only:
        prog = os.path.join(builddir, PROGRAM[name])
        if not os.access(prog, os.X_OK):
            die("%s is not built (make bench-report builds it)" % prog)
    with open(results, "w", encoding="utf-8") as f:
        f.write("#benchmark\tcase\tsize\timpl\tmetric\tvalue\tunit\trounds\n")
        for r in machine_rows():
            f.write(tsv_line(*r, "text", 0))
        if quick:
            f.write(tsv_line("report", "info", "-", "-", "quick", "1", "text", 0))

    for name in only:
        env = dict(os.environ)
        env["POOLEV_BENCH_TSV"] = results
        runs = "1" if quick else runs_env
        cmd = [os.path.join(builddir, PROGRAM[name])]
        if name == "timers":
            env["POOLEV_BENCH_SIZES"] = "1000,10000" if quick else sizes
            env["POOLEV_BENCH_RUNS"] = runs
        elif name in ("bus", "echo"):
            env["POOLEV_BENCH_RUNS"] = runs
            if name == "echo":
                env["BENCH_ECHO_SECONDS"] = "0.2" if quick else seconds
        else:
            env["BENCH_RUNS"] = runs
            env["BENCH_SECONDS"] = seconds
            env.pop("BENCH_SHAPES", None)   # the report's tables have the four
            if quick:
                cmd.append("--smoke")
            cmd += [os.path.join(builddir, "examples/pubsubd"), redis]
        # empty means "the benchmark's default"
        for k in ("POOLEV_BENCH_SIZES", "POOLEV_BENCH_RUNS", "BENCH_RUNS",
                  "BENCH_SECONDS", "BENCH_ECHO_SECONDS"):
            if env.get(k) == "":
                del env[k]
        log = os.path.join(out, name + ".log")
        say("running %s (output in %s)" % (" ".join(cmd), log))
        la0, t0 = loadavg(), time.time()
        with open(log, "w", encoding="utf-8") as lf:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, cwd=builddir)
            for line in proc.stdout:
                lf.write(line)
                sys.stdout.write(line)
                sys.stdout.flush()
            rc = proc.wait()
        la1, t1 = loadavg(), time.time()
        if rc != 0:
            die("%s failed (exit status %d); see %s" % (cmd[0], rc, log))
        check = Results()
        check.load(results)
        if not check.has(TSV_NAME[name]):
            die("%s wrote no results to POOLEV_BENCH_TSV (see %s)" % (cmd[0], log))
        with open(results, "a", encoding="utf-8") as f:
            b = TSV_NAME[name]
            f.write(tsv_line(b, "info", "-", "-", "loadavg-start", la0, "text", 0))
            f.write(tsv_line(b, "info", "-", "-", "loadavg-end", la1, "text", 0))
            f.write(tsv_line(b, "info", "-", "-", "seconds", "%.0f" % (t1 - t0), "text", 0))
            if name == "pubsub":
                v = redis_version(redis) if os.access(redis, os.X_OK) else None
                if v:
                    f.write(tsv_line(b, "info", "-", "redis", "version", v, "text", 0))
    return results


# --------------------------------------------------------------------------
# Formatting

def fmt(v, unit=""):
    """A figure with three significant digits and thousands separators."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    a = abs(v)
    if a >= 1000:
        s = "{:,.0f}".format(v)
    elif a >= 100:
        s = "%.0f" % v
    elif a >= 10:
        s = "%.1f" % v
    else:
        s = "%.2f" % v
    return s + (" " + unit if unit else "")


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def judged(r, goal):
    """A ratio, in bold when it misses @goal (op, target)."""
    if r is None:
        return "–"
    op, target = goal
    ok = r <= target if op == "<=" else r >= target
    s = "%.2f" % r
    return s if ok else "**%s**" % s


def runs_label(n, word):
    """"7 runs", "1 run"."""
    return "%s %s%s" % (n, word, "" if n == 1 else "s")


def n_label(size):
    try:
        return "{:,}".format(int(size))
    except ValueError:
        return size


def header_lines(res, bench, peers, method):
    """The paragraph beside a table: when, where, against what, how."""
    date = res.info("report", "-", "date") or "?"
    cpu = res.info("report", "-", "cpu") or "?"
    cores = res.info("report", "-", "cores") or "?"
    kernel = res.info("report", "-", "kernel") or "?"
    la0 = res.info(bench, "-", "loadavg-start") or "?"
    la1 = res.info(bench, "-", "loadavg-end") or "?"
    secs = res.info(bench, "-", "seconds")
    pv = res.info(bench, "poolev", "version") or "?"
    cc = res.info(bench, "poolev", "compiler")
    apr = res.info(bench, "apr", "version")
    built = ", ".join(x for x in (cc, "APR " + apr if apr else None) if x)
    vs = []
    for impl, label in peers:
        v = res.info(bench, impl, "version")
        if res.get_any(bench, impl):
            vs.append("%s %s" % (label, v) if v else label)
    lines = ["**Latest `make bench-report` run.** Measured %s on %s, %s cores, %s; load average (1 min) %s at the start "
             "and %s at the end%s." % (date, cpu, cores, kernel, la0, la1,
                                       " of its %s s" % secs if secs else ""),
             "poolev %s%s%s." % (pv, " (%s)" % built if built else "",
                                 " against " + " and ".join(vs) if vs else
                                 "; no peer was measured"),
             "Method: " + method]
    out = [" ".join(lines), ""]
    if res.info("report", "-", "quick"):
        out += ["**BENCH_QUICK run: tiny sizes and one round, a smoke of the "
                "pipeline; these figures mean nothing.**", ""]
    try:
        busy = max(float(la0), float(la1)) > 0.5 * float(cores)
    except ValueError:
        busy = False
    if busy:
        out += ["*The machine was busy during this run (load average above half "
                "its cores): other work shared the cores, so the figures are "
                "indicative; the ratios, taken side by side in the same run, hold "
                "better than the absolute figures.*", ""]
    return out


def plot_line(plotdir_rel, plot, name, alt):
    if plot is None:
        return []
    if plot is False:
        return ["(Plot not drawn: gnuplot was not found when the report ran.)", ""]
    return ["![%s](%s/%s)" % (alt, plotdir_rel, name), ""]


# --------------------------------------------------------------------------
# The blocks

OPS = ("add", "cancel", "fire", "mix")


def block_timers(res, rel, plot):
    b = "timer"
    clock = res.info(b, "-", "clock") or "CLOCK_MONOTONIC"
    if clock == "thread CPU time":
        clock = ("the thread's CPU time (`POOLEV_BENCH_CLOCK=cpu`, which leaves out "
                 "the waits for a core on a shared machine)")
    rounds = res.rounds(b)
    method = ("medians of %s after a warm-up run, all in one process on the real "
              "monotonic clock; within a run the three sides take turns round by "
              "round (one add and cancel round, one fire round, a tenth of the "
              "mix), in six orders in turn, so that each side comes after each "
              "other side as often; each ratio is the median of the runs' own "
              "ratios; ns per operation, timed with %s. "
              "`bench/bench_timer` prints what each row times." %
              (runs_label(rounds, "run"), clock))
    peers = [p for p in ("libev", "libevent") if res.get_any(b, p)]
    out = header_lines(res, b, [("libev", "libev"), ("libevent", "libevent")], method)
    head = "| timers | operation | poolev |" + "".join(" %s |" % p for p in peers) + \
        "".join(" poolev / %s |" % p for p in peers)
    out.append(head)
    out.append("|---:|---|---:|" + "---:|" * (2 * len(peers)))
    for size in res.sizes(b, "add"):
        for op in OPS:
            pv = res.get(b, op, size, "poolev", "time")
            cells = [n_label(size), op, fmt(pv)]
            cells += [fmt(res.get(b, op, size, p, "time")) for p in peers]
            # the benchmark's median of per-run ratios when it wrote one
            cells += [judged(res.get(b, op, size, p, "ratio")
                             if res.get(b, op, size, p, "ratio") is not None
                             else ratio(pv, res.get(b, op, size, p, "time")),
                             ("<=", TIMER_GOAL[p])) for p in peers]
            out.append("| " + " | ".join(cells) + " |")
    out.append("")
    if peers:
        out += ["A ratio in bold misses its goal (%s)." % ", ".join(
            "poolev / %s ≤ %.1f" % (p, TIMER_GOAL[p]) for p in peers), ""]
    out += plot_line(rel, plot, "timers.svg",
                     "Timers: ns per operation against the number of timers, "
                     "poolev, libev and libevent")
    return out


BUS_ROWS = [  # case, size, label, unit, target (op, value) or None
    ("generate-name", "1", "generate by name, 1 listener", "ns", ("<=", 25)),
    ("generate-name", "4", "generate by name, 4 listeners", "ns", None),
    ("generate-name", "16", "generate by name, 16 listeners", "ns", None),
    ("generate-handle", "1", "generate by handle (interned), 1 listener", "ns",
     ("<=", 10)),
    ("per-listener", "1-16", "per extra listener, (16 − 1) / 15", "ns", ("<=", 3)),
    ("lookup-hot", "10", "generate by name, 10 names in the bus", "ns", None),
    ("lookup-hot", "100000", "generate by name, 100,000 names in the bus "
     "(same hot names)", "ns", None),
    ("lookup-ratio", "", "ratio 100,000 names / 10 names", "×", ("<=", 1.5)),
    ("lookup-cold", "100000", "generate by name, cycling all 100,000 names "
     "(cache-cold)", "ns", None),
    ("churn-random", "10000", "register + unregister, 10,000 held, random order",
     "ns", ("<=", 100)),
    ("churn-random-base", "10000", "same churn, one APR cleanup per listener "
     "(baseline)", "ns", None),
    ("churn-random-speedup", "", "speedup over the baseline", "×", (">=", 20)),
    ("churn-newest", "10000", "register, then unregister that one (newest item)",
     "ns", None),
    ("churn-newest-base", "10000", "same, APR cleanup register + kill of the "
     "newest (baseline)", "ns", None),
    ("destroy", "100000", "pool destroy, 100,000 listeners, per listener", "ns",
     ("<=", 50)),
]


def bus_value(res, case, size):
    b = "bus"
    if case == "lookup-ratio":
        return ratio(res.get(b, "lookup-hot", "100000", "poolev", "time"),
                     res.get(b, "lookup-hot", "10", "poolev", "time"))
    if case == "churn-random-speedup":
        return ratio(res.get(b, "churn-random", "10000", "apr-cleanup", "time"),
                     res.get(b, "churn-random", "10000", "poolev", "time"))
    if case.endswith("-base"):
        return res.get(b, case[:-5], size, "apr-cleanup", "time")
    return res.get(b, case, size, "poolev", "time")


PF_CASES = (("names-random", "random"), ("names-same-head", "the same, head of the list"),
            ("names-same-tail", "the same, tail of the list"))


def proftpd_lines(res):
    """The table of poolev against the ProFTPD-style event list."""
    b = "bus"
    if not res.get_any(b, "proftpd"):
        return []
    out = ["**Against ProFTPD's event list** (`bench/bench_bus_proftpd.c`, a "
           "reimplementation of the lookup and dispatch structure of ProFTPD's "
           "`pr_event_generate`: a list of names searched with `strncmp` from "
           "the newest, its one-entry cache, which ProFTPD clears when a dispatch "
           "ends, and, in the trace column, the per-handler check of a default "
           "build without a TraceLog, another walk of the whole list). One "
           "listener per name; the generated name is drawn uniformly from one "
           "seeded sequence, the same for every side, or is the same each time, "
           "the name registered last (the head of ProFTPD's list) or first (its "
           "tail). The four sides are timed in turn within each run, the order "
           "rotated. ns per generate:", "",
           "| event names | name generated | poolev by name | poolev by handle "
           "| ProFTPD-style list | list + trace check | list / poolev by name "
           "| list / poolev by handle | list + trace / poolev by name |",
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]

    def r(v):
        return "–" if v is None else "%.0f" % v if v >= 10 else "%.2f" % v

    for case, label in PF_CASES:
        for size in res.sizes(b, case):
            name, handle, lst, trace = (res.get(b, case, size, impl, "time") for impl in
                                        ("poolev", "poolev-handle", "proftpd",
                                         "proftpd-trace"))
            out.append("| %s |" % n_label(size) + " %s |" * 8 % (
                label, fmt(name, "ns"), fmt(handle, "ns"), fmt(lst, "ns"),
                fmt(trace, "ns"), r(ratio(lst, name)), r(ratio(lst, handle)),
                r(ratio(trace, name))))
    return out + [""]


def block_bus(res, rel, plot):
    b = "bus"
    rounds = res.rounds(b)
    method = ("medians of %s, each a loop calibrated to at least 50 ms after "
              "a warm-up, ns per operation. The floor is the same callbacks called "
              "through an array of function pointers (no lookup, no list, no "
              "checks); GLib's side (when configure found gobject-2.0) is a "
              "signal with one pointer argument (the VOID:POINTER marshaller, no "
              "class handler) and the same number of handlers, emitted with "
              "`g_signal_emit_by_name` (`g_signal_emit` by id in the handle row). "
              "poolev, the floor and GLib are timed in turn within each run, the "
              "order rotated from run to run; so are the other comparisons with a "
              "baseline." % runs_label(rounds, "run"))
    peers = [("indirect-call", "the indirect-call floor")]
    if res.get_any(b, "glib"):
        peers.append(("glib", "GLib signals"))
    out = header_lines(res, b, peers, method)
    sides = [p for p, _ in peers]
    out.append("| listeners | poolev |" + "".join(
        " %s |" % LABEL[p] for p in sides) + "".join(" poolev / %s |" % LABEL[p]
                                                     for p in sides))
    out.append("|---:|---:|" + "---:|" * (2 * len(sides)))
    for case, size, label in (("generate-name", "1", "1"), ("generate-name", "4", "4"),
                              ("generate-name", "16", "16"),
                              ("per-listener", "1-16", "per extra listener"),
                              ("generate-handle", "1", "1, by handle (GLib: by id)")):
        pv = res.get(b, case, size, "poolev", "time")
        cells = [label, fmt(pv, "ns")]
        # the floor has no name to look up: its by-handle row is its 1-listener row
        theirs = [res.get(b, case, size, p, "time") if (p, case) != (
            "indirect-call", "generate-handle") else
            res.get(b, "generate-name", "1", p, "time") for p in sides]
        cells += [fmt(v, "ns") for v in theirs]
        cells += ["%.2f" % r if r is not None else "–" for r in
                  (ratio(pv, v) for v in theirs)]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "| benchmark | median | target |", "|---|---:|---|"]
    met = total = 0
    for case, size, label, unit, target in BUS_ROWS:
        v = bus_value(res, case, size)
        tgt = ""
        if target and v is not None:
            op, t = target
            ok = v <= t if op == "<=" else v >= t
            met += ok
            total += 1
            tgt = "%s %g%s: %s" % ("≤" if op == "<=" else "≥", t,
                                   unit if unit == "×" else " " + unit,
                                   "met" if ok else "**missed**")
        if unit == "×":
            cell = ("–" if v is None else "%.0f×" % v if v >= 10 else "%.2f×" % v)
        else:
            cell = fmt(v, unit)
        out.append("| %s | %s | %s |" % (label, cell, tgt))
    out += ["", "Targets met: %d of %d." % (met, total), ""]
    out += proftpd_lines(res)
    out += plot_line(rel, plot, "bus.svg",
                     "Event bus: ns per generate against the number of listeners, "
                     "poolev and the indirect-call floor")
    return out


def block_echo(res, rel, plot):
    b = "echo"
    rounds = res.rounds(b)
    size = (res.sizes(b, "echo") or ["100"])[0]
    method = ("medians of %s per server, the servers alternating (which one "
              "goes first alternates too); %s loopback TCP "
              "connections with one 64-byte line in flight each, every response "
              "checked byte for byte; server-thread CPU time per round trip from "
              "the thread's CPU clock." % (runs_label(rounds, "round"), n_label(size)))
    out = header_lines(res, b, [("libevent", "libevent")], method)
    lev = res.get_any(b, "libevent")
    out.append("| | poolev |" + (" libevent | poolev / libevent | goal |" if lev else ""))
    out.append("|---|---:|" + ("---:|---:|---|" if lev else ""))
    for metric, label, unit in (("round-trips", "round trips per second", ""),
                                ("server-cpu", "server-thread CPU per round trip",
                                 "ns")):
        pv = res.get(b, "echo", size, "poolev", metric)
        cells = [label, fmt(pv, unit)]
        if lev:
            lv = res.get(b, "echo", size, "libevent", metric)
            op, t = ECHO_GOAL[metric]
            cells += [fmt(lv, unit), judged(ratio(pv, lv), ECHO_GOAL[metric]),
                      "%s %.1f" % ("≥" if op == ">=" else "≤", t)]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    if lev:
        out += ["A ratio in bold misses its goal.", ""]
    out += plot_line(rel, plot, "echo.svg",
                     "Echo: round trips per second and server CPU per round trip, "
                     "poolev and libevent")
    return out


def block_pubsub(res, rel, plot):
    b = "pubsub"
    rounds = res.rounds(b)
    method = ("medians of %s per shape, the servers alternating (which one "
              "goes first alternates too); one load client, "
              "one publisher keeping W publishes of 64 bytes in flight, S "
              "subscribers, every delivery checked for order and loss; latency "
              "from the publish written to the delivery read; server CPU is the "
              "server process's utime + stime; memory per idle connection is the "
              "server's RSS growth over that many idle connections." %
              runs_label(rounds, "round"))
    redis = res.get_any(b, "redis")
    out = header_lines(res, b, [("redis", "Redis")], method)
    metrics = (("deliveries", "deliveries/s", ""), ("p99", "p99 latency", "µs"),
               ("server-cpu", "server CPU per delivery", "ns"))
    if redis:
        out.append("| subscribers, W |" + "".join(
            " %s: pubsubd | Redis | ratio |" % label for _, label, _ in metrics))
        out.append("|---|" + "---:|---:|---:|" * len(metrics))
    else:
        out.append("| subscribers, W |" + "".join(" %s |" % l for _, l, _ in metrics))
        out.append("|---|" + "---:|" * len(metrics))
    for size in res.sizes(b, "deliver"):
        cells = [size.replace(",", ", ")]
        for metric, _, unit in metrics:
            pv = res.get(b, "deliver", size, "pubsubd", metric)
            cells.append(fmt(pv, unit))
            if redis:
                rv = res.get(b, "deliver", size, "redis", metric)
                cells += [fmt(rv, unit), judged(ratio(pv, rv), PUBSUB_GOAL[metric])]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    for size in res.sizes(b, "idle"):
        pv = res.get(b, "idle", size, "pubsubd", "memory")
        line = "Memory per idle connection at %s connections: pubsubd %s" % (
            n_label(size), fmt(pv, "B"))
        if redis:
            rv = res.get(b, "idle", size, "redis", "memory")
            line += ", Redis %s (ratio %s)" % (fmt(rv, "B"),
                                               judged(ratio(pv, rv),
                                                      PUBSUB_GOAL["memory"]))
        out += [line + ".", ""]
    if redis:
        out += ["Ratios are pubsubd / Redis; one in bold misses its goal "
                "(deliveries/s ≥ 1.0, p99 ≤ 1.0, CPU per delivery ≤ 1.0, memory "
                "≤ 0.5).", ""]
    out += plot_line(rel, plot, "pubsub.svg",
                     "Pub/sub: deliveries per second, p99 latency and server CPU "
                     "per delivery, pubsubd and Redis, per shape")
    return out


BLOCKS = {"timers": ("timer", block_timers), "bus": ("bus", block_bus),
          "echo": ("echo", block_echo), "pubsub": ("pubsub", block_pubsub)}


def write_doc(doc, res, names, plots, rel):
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    for name in names:
        bench, fn = BLOCKS[name]
        if not res.has(bench):
            continue
        begin = "<!-- bench-report:%s begin -->" % name
        end = "<!-- bench-report:%s end -->" % name
        i, j = text.find(begin), text.find(end)
        if i < 0 or j < i:
            die("%s: no %s ... %s markers" % (doc, begin, end))
        body = ["<!-- generated by `make bench-report` (bench/report.py): "
                "edits between these markers are overwritten -->", ""]
        body += fn(res, rel, plots.get(name))
        while body and body[-1] == "":
            body.pop()
        text = text[:i + len(begin)] + "\n" + "\n".join(body) + "\n" + text[j:]
        say("wrote the %s table into %s" % (name, doc))
    tmp = doc + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, doc)


# --------------------------------------------------------------------------
# Plots

GP_HEAD = """set terminal svg size %d,%d font "sans,11" background rgb "white"
set output '%s'
set datafile missing "NaN"
set datafile separator "\\t"
set grid lc rgb "#dddddd"
set key below
"""


def lc(impl):
    return 'lc rgb "%s"' % COLOUR.get(impl, "#000000")


def val(v):
    return "NaN" if v is None else "%.6g" % v


def plot_timers(res, d, svg):
    b = "timer"
    impls = [p for p in ("poolev", "libev", "libevent") if res.get_any(b, p)]
    sizes = res.sizes(b, "add")
    dat = os.path.join(d, "timers.dat")
    with open(dat, "w") as f:
        for op in OPS:
            f.write("# %s\n" % op)
            for s in sizes:
                f.write("\t".join([s] + [val(res.get(b, op, s, p, "time"))
                                         for p in impls]) + "\n")
            f.write("\n\n")
    gp = GP_HEAD % (960, 720, svg)
    gp += """set multiplot layout 2,2 title "Timers: ns per operation (medians; lower is better)"
set logscale xy 10
set xrange [%g:%g]
set format x "%%.0s%%c"
set ytics (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
set format y "%%g"
set xlabel "timers armed (n)"
set ylabel "ns per operation"
""" % (float(sizes[0]) / 2, float(sizes[-1]) * 2)
    for k, op in enumerate(OPS):
        gp += 'set title "%s"\nplot ' % op + ", ".join(
            "'%s' index %d using 1:%d with linespoints lw 2 pt 7 %s title '%s'" %
            (dat, k, i + 2, lc(p), LABEL[p]) for i, p in enumerate(impls)) + "\n"
    gp += "unset multiplot\n"
    return gp


def bars(dat, cols, impls, title, ylabel):
    """One clustered histogram panel of @dat (label column 1)."""
    return ("set title \"%s\"\nset ylabel \"%s\"\nplot " % (title, ylabel) +
            ", ".join("'%s' using %d:xtic(1) %s title '%s'" %
                      (dat, c, lc(p), LABEL[p]) for c, p in zip(cols, impls)) + "\n")


BAR_STYLE = """set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
set xtics nomirror
"""


def plot_pubsub(res, d, svg):
    b = "pubsub"
    impls = [p for p in ("pubsubd", "redis") if res.get_any(b, p)]
    sizes = res.sizes(b, "deliver")
    dat = {}
    for metric in ("deliveries", "p99", "server-cpu"):
        dat[metric] = os.path.join(d, "pubsub-%s.dat" % metric)
        with open(dat[metric], "w") as f:
            for s in sizes:
                f.write("\t".join(['"%s"' % s.replace(",", ", ")] +
                                  [val(res.get(b, "deliver", s, p, metric))
                                   for p in impls]) + "\n")
    gp = GP_HEAD % (1200, 440, svg) + BAR_STYLE
    gp += 'set multiplot layout 1,3 title "Pub/sub: pubsubd and Redis, one load ' \
          'client (medians; log scale)"\n'
    gp += 'set xlabel "subscribers, publishes in flight"\n'
    gp += 'set logscale y 10\nset format y "%.0s%c"\n'
    cols = list(range(2, 2 + len(impls)))
    for metric, title, unit in (("deliveries", "deliveries per second (higher is better)",
                                 "deliveries/s"),
                                ("p99", "p99 latency (lower is better)", "µs"),
                                ("server-cpu", "server CPU per delivery (lower is better)",
                                 "ns")):
        vs = [res.get(b, "deliver", sz, p, metric) for sz in sizes for p in impls]
        vs = [v for v in vs if v and v > 0]
        lo = 10 ** math.floor(math.log10(min(vs))) if vs else 1
        hi = 10 ** math.ceil(math.log10(max(vs) * 1.05)) if vs else 10
        gp += "set yrange [%g:%g]\n" % (lo, hi)
        gp += bars(dat[metric], cols, impls, title, unit)
    gp += "unset multiplot\n"
    return gp


def bus_floor_of(res):
    """The bottom of the bus plots' log scale: a power of ten below every figure."""
    vs = [r[5] for r in res.rows if r[0] == "bus" and r[1] in ("generate-name",
                                                               "per-listener")
          and isinstance(r[5], float) and r[5] > 0]
    return 10 ** math.floor(math.log10(min(vs))) if vs else 1


def plot_bus(res, d, svg):
    b = "bus"
    impls = [p for p in ("poolev", "indirect-call", "glib") if res.get_any(b, p)]
    lines = os.path.join(d, "bus-generate.dat")
    with open(lines, "w") as f:
        for s in ("1", "4", "16"):
            f.write("\t".join([s] + [val(res.get(b, "generate-name", s, p, "time"))
                                     for p in impls]) + "\n")
    per = os.path.join(d, "bus-per-listener.dat")
    with open(per, "w") as f:
        for p in impls:
            f.write('"%s"\t%s\n' % (LABEL[p], val(res.get(b, "per-listener", "1-16", p,
                                                           "time"))))
    gp = GP_HEAD % (960, 420, svg)
    gp += 'set multiplot layout 1,2 title "Event bus: dispatch cost (medians; lower ' \
          'is better)"\n'
    gp += 'set logscale y 10\nset ytics (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, ' \
          '2000, 5000, 10000)\nset format y "%g"\n'
    gp += 'set title "ns per generate by name (log scale)"\nset xlabel "listeners"\n' \
          'set ylabel "ns"\nset xrange [0:17]\nset xtics (1, 4, 8, 12, 16)\n' \
          'set yrange [%g:*]\nplot ' % bus_floor_of(res) + ", ".join(
              "'%s' using 1:%d with linespoints lw 2 pt 7 %s title '%s'" %
              (lines, i + 2, lc(p), LABEL[p]) for i, p in enumerate(impls)) + "\n"
    gp += "unset xlabel\nset xrange [*:*]\nset xtics auto\nunset key\n"
    gp += ('set title "ns per extra listener, (16 - 1) / 15 (log scale)"\nset style fill '
           'solid 0.85 border -1\nset boxwidth 0.6\nset yrange [%g:*]\n' % bus_floor_of(res) +
           "plot '%s' using 0:2:($0+1):xtic(1) with boxes lc variable\n" % per)
    gp += "unset multiplot\n"
    # "lc variable" picks linetype N for bar N: give the bars the sides' colours
    colours = "".join("set linetype %d %s\n" % (i, lc(p)) for i, p in enumerate(impls, 1))
    return colours + gp


def plot_echo(res, d, svg):
    b = "echo"
    impls = [p for p in ("poolev", "libevent") if res.get_any(b, p)]
    size = (res.sizes(b, "echo") or ["100"])[0]
    dat = {}
    for metric in ("round-trips", "server-cpu"):
        dat[metric] = os.path.join(d, "echo-%s.dat" % metric)
        with open(dat[metric], "w") as f:
            for p in impls:
                f.write('"%s"\t%s\n' % (LABEL[p], val(res.get(b, "echo", size, p, metric))))
    colours = "".join("set linetype %d %s\n" % (i, lc(p)) for i, p in enumerate(impls, 1))
    gp = GP_HEAD % (900, 400, svg)
    gp = gp.replace("set grid", colours + "set grid", 1)
    gp += ('set multiplot layout 1,2 title "Echo: %s connections, one 64-byte line in '
           'flight each (medians)"\nunset key\nset style fill solid 0.85 border -1\n'
           'set boxwidth 0.6\nset yrange [0:*]\n' % n_label(size))
    gp += ('set title "round trips per second (higher is better)"\n'
           "plot '%s' using 0:2:($0+1):xtic(1) with boxes lc variable\n" %
           dat["round-trips"])
    gp += ('set title "server-thread CPU per round trip, ns (lower is better)"\n'
           "plot '%s' using 0:2:($0+1):xtic(1) with boxes lc variable\n" %
           dat["server-cpu"])
    gp += "unset multiplot\n"
    return gp


PLOTS = {"timers": ("timer", "timers.svg", plot_timers),
         "bus": ("bus", "bus.svg", plot_bus),
         "echo": ("echo", "echo.svg", plot_echo),
         "pubsub": ("pubsub", "pubsub.svg", plot_pubsub)}


def draw_plots(res, names, plotdir, work):
    """Draw the plots; return {name: True} for each drawn, False for each
    skipped for want of gnuplot."""
    gnuplot = os.environ.get("GNUPLOT", "gnuplot")
    todo = [n for n in names if res.has(PLOTS[n][0])]
    if not shutil.which(gnuplot):
        bar = "*" * 72
        sys.stderr.write("\n%s\n* bench-report: gnuplot (%s) not found: the PLOTS WERE SKIPPED.\n"
                         "* The tables are written; install gnuplot (Debian: gnuplot-nox)\n"
                         "* and run make bench-report again to draw doc/plots/*.svg.\n%s\n\n"
                         % (bar, gnuplot, bar))
        return {n: False for n in todo}
    os.makedirs(plotdir, exist_ok=True)
    drawn = {}
    for name in todo:
        bench, svg, fn = PLOTS[name]
        out = os.path.join(plotdir, svg)
        script = fn(res, work, out)
        gpfile = os.path.join(work, name + ".gp")
        with open(gpfile, "w") as f:
            f.write(script)
        p = subprocess.run([gnuplot, gpfile], capture_output=True, text=True)
        if p.returncode != 0 or not os.path.exists(out):
            die("gnuplot failed on %s:\n%s" % (gpfile, p.stderr))
        if p.stderr.strip():
            sys.stderr.write(p.stderr)
        strip_paths(out, work)
        say("drew %s" % out)
        drawn[name] = True
    return drawn


def strip_paths(svg, work):
    """gnuplot names the data files in the SVG's titles: drop the machine's
    scratch directory from them, so the committed file does not depend on it."""
    with open(svg, encoding="utf-8") as f:
        text = f.read()
    text = text.replace(work.rstrip("/") + "/", "")
    with open(svg, "w", encoding="utf-8") as f:
        f.write(text)


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builddir", default=".", help="where the benchmarks are built")
    ap.add_argument("--doc", default=None, help="the document to update "
                    "(default: doc/performance.md beside this script)")
    ap.add_argument("--plots", default=None, help="where the SVG plots go "
                    "(default: the document's directory/plots)")
    ap.add_argument("--out", default=None, help="raw results and logs "
                    "(default: BUILDDIR/bench-report)")
    ap.add_argument("--from-tsv", default=None, help="use this results.tsv; run nothing")
    ap.add_argument("--quick", action="store_true", help="same as BENCH_QUICK=1")
    args = ap.parse_args()

    srcdir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    doc = os.path.abspath(args.doc or os.path.join(srcdir, "doc", "performance.md"))
    plotdir = os.path.abspath(args.plots or os.path.join(os.path.dirname(doc), "plots"))
    out = os.path.abspath(args.out or os.path.join(args.builddir, "bench-report"))
    quick = args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    only = [s.strip() for s in os.environ.get("BENCH_ONLY", ",".join(BENCHES)).split(",")
            if s.strip()]
    for n in only:
        if n not in BENCHES:
            die("BENCH_ONLY: unknown benchmark %r (known: %s)" % (n, ", ".join(BENCHES)))
    if not os.path.exists(doc):
        die("%s does not exist" % doc)
    os.makedirs(out, exist_ok=True)

    if args.from_tsv:
        results = args.from_tsv
    else:
        results = run_benchmarks(args, quick, only, out)
    res = Results()
    res.load(results)
    work = os.path.join(out, "plot-data")
    os.makedirs(work, exist_ok=True)
    plots = draw_plots(res, only, plotdir, work)
    rel = os.path.relpath(plotdir, os.path.dirname(doc))
    write_doc(doc, res, only, plots, rel)
    say("results in %s" % results)
    if any(v is False for v in plots.values()):
        say("PLOTS SKIPPED: gnuplot was not found (tables written)")


if __name__ == "__main__":
    main()
