#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the reports scripts/bench leaves in target/bench/.

Usage: report.py OUT_DIR BENCHMARKS.md CASE...
Each CASE (fanout-W, busy-W, roundtrip, storm-W) has OUT_DIR/CASE-{ours,node}.json
(the loadtest report), CASE-{ours,node}.run.json (exit code, CPU seconds of
both sides) and CASE-{ours,node}.server.log. The client rows (ingest, wall)
have no Node side and are read by client_rows.py.
"""

import datetime
import json
import os
import platform
import resource
import subprocess
import sys

import client_rows

out, md_path, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
SIDES = ("ours", "node")


def load(case, side, suffix):
    try:
        with open(os.path.join(out, f"{case}-{side}{suffix}")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def mem_gib():
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def num(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, float) and digits == 0:
        return f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.{digits}f}×"


def walls_of(case):
    return int(case.split("-", 1)[1]) if case.startswith(("fanout-", "busy-", "storm-")) else 1


def thousands(w):
    return f"{w // 1000}k" if w % 1000 == 0 else f"{w}"


def label(case):
    if case.startswith("fanout-"):
        return f"fan-out {thousands(walls_of(case))}"
    if case.startswith("busy-"):
        return f"busy fan-out {thousands(walls_of(case))}" + (f" × {meta['busy_rate']}/s" if meta.get("busy_rate") else "")
    if case.startswith("storm-"):
        return f"reconnect storm {thousands(walls_of(case))}"
    return "mutation round-trip" if case == "roundtrip" else case


def node_log_lines(case):
    try:
        lines = open(os.path.join(out, f"{case}-node.server.log")).read().splitlines()
    except OSError:
        return []
    return [l for l in lines if not l.startswith("listening ")]


def ours_log_lines(case):
    try:
        return open(os.path.join(out, f"{case}-ours.server.log")).read().splitlines()
    except OSError:
        return []


data = {c: {s: (load(c, s, ".json"), load(c, s, ".run.json")) for s in SIDES} for c in cases}


def rep(c, s):
    return data[c][s][0] or {}


def run(c, s):
    return data[c][s][1] or {}


def lat(c, s, q):
    r = rep(c, s)
    return r.get("latency_ms", {}).get(q) if r else None


def per_cpu(c, s):
    r, u = rep(c, s), run(c, s)
    if not r or not u.get("server_cpu_s"):
        return None
    return r.get("delivered", 0) / u["server_cpu_s"]


def frames_per_entry(c, s):
    """`events` frames the walls read per delivered entry; None for reports
    from a load generator that did not count frames."""
    r = rep(c, s)
    f, d = r.get("event_frames"), r.get("delivered")
    if f and d:
        return f / d
    e = r.get("entries_per_frame")
    return 1 / e if e else None


def cpu_per_m(c, s, who):
    """CPU-s of `who` ("gateway" or "loadgen") per million delivered entries,
    from the operator's first write until every wall read the last entry."""
    return rep(c, s).get(f"{who}_cpu_s_per_m_entries")


def cpu_cell(c, s, who):
    per, used = cpu_per_m(c, s, who), rep(c, s).get(f"{who}_cpu_s")
    if per is None:
        return "n/a"
    return f"{per:,.2f}" + (f" ({used:,.1f} s)" if used is not None else "")


def clean(c, s):
    r, u = rep(c, s), run(c, s)
    return bool(r) and u.get("rc") == 0 and r.get("lost") == 0 and r.get("duplicated") == 0 \
        and r.get("walls_subscribed") == r.get("walls") and u.get("server_alive", False)


def busiest(u):
    b = u.get("busiest_5s") or {}
    if not b:
        return "n/a"
    return f"{b['server_cores']:.2f} / {b['loadgen_cores']:.2f} / {b['other_cores']:.2f}"


def quiet_of(c, s):
    return load(c, s, ".quiet.json") or {}


def lostdup(c, s):
    r = rep(c, s)
    if not r:
        return "no report"
    return f"{r.get('lost')} / {r.get('duplicated')}"


def storm(c, s):
    return rep(c, s).get("storm") or {}


def storm_recovery(c, s):
    st = storm(c, s)
    if not rep(c, s):
        return "no report"
    if not st:
        return "no storm in the report"
    if st.get("recovery_s") is None:
        return f"not recovered ({st.get('walls_recovered')}/{st.get('walls')} walls within 60 s)"
    return f"{st['recovery_s']:.2f}"


def storm_caught(c, s):
    st = storm(c, s)
    if not rep(c, s):
        return "no report"
    return f"{st['walls_recovered']}/{st['walls']}" if st else "no storm in the report"


def storm_resumes(c, s):
    r = rep(c, s)
    if not r:
        return "no report"
    return f"{r.get('resumed_by_replay', 0)} / {r.get('resumed_by_snapshot', 0)}"


try:
    meta = json.load(open(os.path.join(out, "meta.json")))
except (OSError, ValueError):
    meta = {}
started = meta.get("started_utc") or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
commit = meta.get("commit") or sh("git", "rev-parse", "--short", "HEAD")
dirty = meta.get("dirty") if "dirty" in meta else sh("git", "status", "--porcelain", "--untracked-files=no") not in ("", "?")
pinned = meta.get("pin", os.environ.get("BENCH_PIN") == "1")
rows = (meta.get("rows") or "fanout busy roundtrip storm ingest wall").split()
no_build = meta.get("no_build", os.environ.get("BENCH_NO_BUILD") == "1")
try:
    sio = json.load(open("bench/node-baseline/node_modules/socket.io/package.json"))["version"]
    eio = json.load(open("bench/node-baseline/node_modules/engine.io/package.json"))["version"]
    ws = json.load(open("bench/node-baseline/node_modules/ws/package.json"))["version"]
except (OSError, ValueError, KeyError):
    sio = eio = ws = "?"
fd_soft, fd_hard = resource.getrlimit(resource.RLIMIT_NOFILE)

fan = [c for c in cases if c.startswith("fanout-")]
busy = [c for c in cases if c.startswith("busy-")]
storms = [c for c in cases if c.startswith("storm-")]

L = []
w = L.append
w("# Benchmarks")
w("")
w(f"Generated by `scripts/bench` from a run started {started} at commit `{commit}`"
  + (" (with uncommitted changes)" if dirty else "") + ". "
  "Every number below comes from one run of that script on the machine described; rerun it to regenerate this file. "
  "The raw reports are in `target/bench/`.")
w("")
w("Ours: the release `vizora-gateway` (Rust; axum, its own Engine.IO WebSocket transport (engineioxide for long-polling), SQLite store, one sequencer thread). "
  f"Baseline: `bench/node-baseline/server.js`, one Node.js process with Socket.IO {sio} (engine.io {eio}, ws {ws}), "
  "state in memory, fan-out by room broadcast. Both are driven by the same load generator, `vizora loadtest`, "
  "with the same flags, one server at a time. The client rows (sync engine ingest, wallboard frame time) measure "
  "our client alone: the baseline has no client, so their Node and ratio columns are n/a.")
w("")
w("Ratios are **ours ÷ Node**: above 1 is better for delivered entries/s and entries per CPU-second, "
  "below 1 is better for time to subscribe, latency, memory, reconnect-storm recovery, `events` frames per entry "
  "and CPU-seconds per million entries. "
  "Rows with no Node counterpart show n/a in both columns.")
w("")
w("## Results")
w("")
w("| row | metric | ours | Node | ours ÷ Node |")
w("|---|---|---:|---:|---:|")
for r_, n_ in (("fanout", "fan-out"), ("busy", "busy fan-out"), ("roundtrip", "mutation round-trip")):
    if r_ not in rows:
        w(f"| {n_} | not run (`BENCH_ROWS`) | | | |")
for c in fan + busy:
    n = label(c)
    w(f"| {n} | delivered entries/s | {num(rep(c,'ours').get('delivered_per_s'), 0)} | {num(rep(c,'node').get('delivered_per_s'), 0)} | "
      f"{ratio(rep(c,'ours').get('delivered_per_s'), rep(c,'node').get('delivered_per_s'))} |")
    w(f"| {n} | time to all walls subscribed, s | {num(rep(c,'ours').get('time_to_all_subscribed_s'), 2)} | "
      f"{num(rep(c,'node').get('time_to_all_subscribed_s'), 2)} | {ratio(rep(c,'ours').get('time_to_all_subscribed_s'), rep(c,'node').get('time_to_all_subscribed_s'))} |")
    w(f"| {n} | delivered entries per server CPU-second | {num(per_cpu(c,'ours'), 0)} | {num(per_cpu(c,'node'), 0)} | "
      f"{ratio(per_cpu(c,'ours'), per_cpu(c,'node'))} |")
    for who, what in (("gateway", "server"), ("loadgen", "load generator")):
        a, b = cpu_per_m(c, "ours", who), cpu_per_m(c, "node", who)
        w(f"| {n} | {what} CPU-seconds per million delivered entries | {num(a, 2)} | {num(b, 2)} | {ratio(a, b)} |")
    a, b = frames_per_entry(c, "ours"), frames_per_entry(c, "node")
    w(f"| {n} | `events` frames per delivered entry | {num(a, 3)} | {num(b, 3)} | {ratio(a, b)} |")
    for q in ("p50", "p99", "p999"):
        w(f"| {n} | publish → deliver {q}, ms | {num(lat(c,'ours',q), 2)} | {num(lat(c,'node',q), 2)} | {ratio(lat(c,'ours',q), lat(c,'node',q))} |")
    w(f"| {n} | lost / duplicated entries (must be 0) | {lostdup(c,'ours')} | {lostdup(c,'node')} | |")
    w(f"| {n} | walls disconnected (must be 0) | {rep(c,'ours').get('walls_disconnected', 'no report')} | "
      f"{rep(c,'node').get('walls_disconnected', 'no report')} | |")
for c in [c for c in cases if c == "roundtrip"]:
    for q in ("p50", "p90", "p99", "p999"):
        w(f"| mutation round-trip | publish → deliver {q}, ms | {num(lat(c,'ours',q), 2)} | {num(lat(c,'node',q), 2)} | {ratio(lat(c,'ours',q), lat(c,'node',q))} |")
    w(f"| mutation round-trip | mutations applied / sent | {rep(c,'ours').get('mutations_applied')} / {rep(c,'ours').get('mutations_sent')} | "
      f"{rep(c,'node').get('mutations_applied')} / {rep(c,'node').get('mutations_sent')} | |")
    w(f"| mutation round-trip | lost / duplicated entries (must be 0) | {lostdup(c,'ours')} | {lostdup(c,'node')} | |")
for c in fan + busy:
    a, b = rep(c, "ours").get("gateway_rss_per_wall_kib"), rep(c, "node").get("gateway_rss_per_wall_kib")
    w(f"| memory per idle connection | server RSS per subscribed wall, KiB ({label(c)}) | {num(a)} | {num(b)} | {ratio(a, b)} |")
if "storm" not in rows:
    w("| reconnect storm | not run (`BENCH_ROWS`) | | | |")
for c in storms:
    n = label(c)
    at = meta.get("storm_at_s", "?")
    w(f"| {n} | walls caught up after every wall's connection was cut {at} s into the writing | "
      + " | ".join(storm_caught(c, s) for s in SIDES) + " | |")
    a, b = storm(c, "ours").get("recovery_s"), storm(c, "node").get("recovery_s")
    w(f"| {n} | time from the cut until every wall re-subscribed and caught up, s | {storm_recovery(c,'ours')} | "
      f"{storm_recovery(c,'node')} | {ratio(a, b)} |")
    w(f"| {n} | re-subscribes resumed by replay / by snapshot | {storm_resumes(c,'ours')} | {storm_resumes(c,'node')} | |")
    w(f"| {n} | publish → deliver p99 over the run, storm included, ms | {num(lat(c,'ours','p99'), 2)} | "
      f"{num(lat(c,'node','p99'), 2)} | {ratio(lat(c,'ours','p99'), lat(c,'node','p99'))} |")
    w(f"| {n} | lost / duplicated entries (must be 0) | {lostdup(c,'ours')} | {lostdup(c,'node')} | |")
for line in client_rows.results(out, rows):
    w(line)
w("")

if fan:
    w("Goal of issue 5: ≥ 5× the Node server's delivered entries/s at ≤ half its p99.")
    w("")
    for c in fan:
        d = (rep(c, "ours").get("delivered_per_s"), rep(c, "node").get("delivered_per_s"))
        p = (lat(c, "ours", "p99"), lat(c, "node", "p99"))
        e = (per_cpu(c, "ours"), per_cpu(c, "node"))
        if None in d or None in p or not d[1] or not p[1]:
            w(f"- {label(c)}: incomplete (see below).")
            continue
        w(f"- {label(c)}: delivered/s {d[0]/d[1]:.2f}×, p99 {p[0]/p[1]:.2f}×"
          + (f", entries per server CPU-second {e[0]/e[1]:.2f}×" if None not in e and e[1] else "")
          + f": goal {'met' if d[0]/d[1] >= 5 and p[0]/p[1] <= 0.5 else 'not met'} on delivered/s × p99.")
    w("")

fan10k = [c for c in fan if walls_of(c) == 10000]
if busy or fan10k:
    w("Goals of issue 11: at 2,000 walls × 200 mutations/s for 15 s (the busy fan-out row), 0 lost entries and 0 "
      "disconnected walls, p99 at most half of Node's and server CPU per delivered entry at most a third of Node's; "
      "at 10k walls, server RSS per idle wall at most half of Node's.")
    w("")

    def goal(ok):
        return "not judged" if ok is None else ("met" if ok else "not met")

    def vs(c, a, b, unit, digits=2):
        if a is None or b is None or not b:
            return f"{label(c)}: incomplete (ours {num(a, digits)}, Node {num(b, digits)})", None
        return f"{label(c)}: {a / b:.2f}× (ours {num(a, digits)}{unit}, Node {num(b, digits)}{unit})", a / b

    for c in busy:
        if "busy_rate" in meta and (walls_of(c), str(meta.get("busy_rate")), str(meta.get("busy_duration_s"))) != (2000, "200", "15"):
            w(f"- {label(c)} ran {walls_of(c):,} walls × {meta.get('busy_rate', '?')} mutations/s for "
              f"{meta.get('busy_duration_s', '?')} s, not the issue's 2,000 walls × 200/s for 15 s "
              "(`BENCH_BUSY_*`): the goals below are judged on it all the same.")
        r = rep(c, "ours")
        if not r:
            w(f"- {label(c)}, lost entries and disconnected walls: no report: goal {goal(None)}.")
        else:
            lost, disc = r.get("lost"), r.get("walls_disconnected")
            w(f"- {label(c)}, lost entries / disconnected walls (ours): {lost} / {disc}: goal "
              f"{goal(None if lost is None or disc is None else lost == 0 and disc == 0)}.")
        t, x = vs(c, lat(c, "ours", "p99"), lat(c, "node", "p99"), " ms")
        w(f"- p99 publish → deliver, {t}: goal (≤ 0.50×) {goal(None if x is None else x <= 0.5)}.")
        t, x = vs(c, cpu_per_m(c, "ours", "gateway"), cpu_per_m(c, "node", "gateway"), " CPU-s per M entries")
        w(f"- server CPU per delivered entry, {t}: goal (≤ 1/3×) {goal(None if x is None else x <= 1 / 3)}.")
    if "busy" in rows and not busy:
        w("- busy fan-out: no run: goals on p99, server CPU, lost entries and disconnects n/a.")
    elif "busy" not in rows:
        w("- busy fan-out: not run (`BENCH_ROWS`): goals on p99, server CPU, lost entries and disconnects not judged.")
    for c in fan10k:
        t, x = vs(c, rep(c, "ours").get("gateway_rss_per_wall_kib"), rep(c, "node").get("gateway_rss_per_wall_kib"), " KiB", 1)
        w(f"- server RSS per idle wall, {t}: goal (≤ 0.50×) {goal(None if x is None else x <= 0.5)}.")
    if not fan10k:
        w("- fan-out 10k: not run (`BENCH_WALLS`): goal on RSS per idle wall not judged.")
    w("")

if cases:
    w("### Every run")
    w("")
    w("| row | server | walls subscribed | time to all subscribed, s | mutations applied / sent | delivered entries | entries/s | "
      "`events` frames per entry | p50 / p90 / p99 / p999 / max, ms | lost / dup | walls disconnected | RSS before / idle / end, MiB | "
      "RSS per wall, KiB | server CPU, s | load generator CPU, s | server CPU-s per M entries (CPU-s while writing) | "
      "load generator CPU-s per M entries (CPU-s while writing) | busiest 5 s: server / load generator / other, cores | "
      "run wall time, s | exit |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for c in cases:
        for s in SIDES:
            r, u = rep(c, s), run(c, s)
            if not r:
                w(f"| {label(c)} | {s} | no report | | | | | | | | | | | | {num(u.get('loadgen_cpu_s'))} | | | {busiest(u)} | {num(u.get('loadgen_wall_s'))} | {u.get('rc', '?')} |")
                continue
            l = r.get("latency_ms", {})
            w(f"| {label(c)} | {s} | {r['walls_subscribed']}/{r['walls']} | {num(r.get('time_to_all_subscribed_s'), 2)} | "
              f"{r.get('mutations_applied')} / {r.get('mutations_sent')} | {num(r.get('delivered'))} | {num(r.get('delivered_per_s'), 0)} | "
              f"{num(frames_per_entry(c, s), 3)} | "
              f"{num(l.get('p50'), 2)} / {num(l.get('p90'), 2)} / {num(l.get('p99'), 2)} / {num(l.get('p999'), 2)} / {num(l.get('max'), 2)} | "
              f"{r.get('lost')} / {r.get('duplicated')} | {r.get('walls_disconnected')} | "
              f"{num(r.get('gateway_rss_before_mib'))} / {num(r.get('gateway_rss_idle_mib'))} / {num(r.get('gateway_rss_end_mib'))} | "
              f"{num(r.get('gateway_rss_per_wall_kib'))} | {num(u.get('server_cpu_s'))} | {num(u.get('loadgen_cpu_s'))} | "
              f"{cpu_cell(c, s, 'gateway')} | {cpu_cell(c, s, 'loadgen')} | {busiest(u)} | "
              f"{num(u.get('loadgen_wall_s'))} | {u.get('rc', '?')}{'' if u.get('server_alive', True) else ', server died'} |")
    w("")

for line in client_rows.sections(out, rows):
    w(line)

# Findings the numbers show by themselves.
notes = []
ncpu = os.cpu_count() or 1
for c in cases:
    for s in SIDES:
        r, u = rep(c, s), run(c, s)
        who = f"{label(c)}, {'ours' if s == 'ours' else 'Node'}"
        if not r:
            notes.append(f"{who}: no report (load generator exit {u.get('rc', '?')}).")
            continue
        if r.get("walls_subscribed") != r.get("walls"):
            notes.append(f"{who}: only {r['walls_subscribed']} of {r['walls']} walls subscribed within the load generator's 120 s.")
        if r.get("lost") or r.get("duplicated"):
            notes.append(f"{who}: {r.get('lost')} entries lost and {r.get('duplicated')} duplicated over {r.get('walls_with_loss')} walls.")
        st = r.get("storm")
        if c.startswith("storm-") and not st:
            notes.append(f"{who}: the report has no storm (a load generator without `--storm-at-s`?).")
        elif st and st.get("recovery_s") is None:
            notes.append(f"{who}: only {st.get('walls_recovered')} of {st.get('walls')} walls caught up within 60 s of the storm.")
        if st and r.get("resumed_by_snapshot"):
            notes.append(f"{who}: {r['resumed_by_snapshot']} re-subscribes were answered with a snapshot, not a replay "
                         "(the server no longer had every entry since the wall's position, or its epoch changed).")
        # In a storm every wall loses its connection: that is the row.
        if r.get("walls_disconnected") and not st:
            notes.append(f"{who}: {r['walls_disconnected']} walls lost their connection during the run.")
        if not u.get("server_alive", True):
            notes.append(f"{who}: the server process died during the run.")
        q = quiet_of(c, s)
        if q and not q.get("quiet", True):
            notes.append(f"{who}: the machine was not idle before the run ({q.get('busy_cores')} cores busy after waiting {q.get('waited_s')} s); "
                         "the run went ahead anyway.")
        m = u.get("mean_cores") or {}
        if (u.get("peak_other_cores_5s") or 0) > 0.5:
            notes.append(f"{who}: **other processes were busy during the run** ({m.get('other')} cores on average, "
                         f"{u.get('peak_other_cores_5s')} at their busiest 5 s): this row is skewed; rerun on an idle machine.")
        b = u.get("busiest_5s") or {}
        if b and b["server_cores"] + b["loadgen_cores"] + b["other_cores"] >= 0.85 * ncpu:
            notes.append(f"{who}: all {ncpu} CPUs were busy in the busiest 5 s (at {b['at_s']:.0f} s): server {b['server_cores']:.2f} cores, "
                         f"load generator {b['loadgen_cores']:.2f}, other {b['other_cores']:.2f}"
                         + (" — the load generator used more CPU than the server: it is at least as much the limit as the server"
                            if b["loadgen_cores"] > b["server_cores"] else "") + ".")
    extra = node_log_lines(c)
    if extra:
        notes.append(f"{label(c)}, Node: {len(extra)} line(s) on the server's output, first: `{extra[0][:160]}`.")
    warn = [l for l in ours_log_lines(c) if " WARN " in l or " ERROR " in l]
    if warn:
        notes.append(f"{label(c)}, ours: {len(warn)} warning/error line(s) in the gateway log, first: `{warn[0][:160]}`.")
notes += client_rows.notes(out, rows)
if notes:
    w("### Found in this run")
    w("")
    for n in notes:
        w(f"- {n}")
    w("")

# Hand-written sections (headings naming an issue, e.g. "## Soak (issue #10)")
# are measured by other commands: carried over from the previous file as they are.
try:
    previous = open(md_path).read().split("\n## ")
except OSError:
    previous = []
for sec in previous[1:]:
    if "(issue #" in sec.split("\n", 1)[0]:
        w("## " + sec.rstrip("\n"))
        w("")

w("## Machine")
w("")
w(f"- {ncpu} CPUs (`nproc`), {cpu_model()}, {mem_gib()} RAM, Linux {platform.release()}")
w(f"- open files limit during the run: {fd_soft} (hard {fd_hard})")
w(f"- Node.js {sh('node', '--version')}, npm {sh('npm', '--version')}; Socket.IO {sio}, engine.io {eio}, ws {ws}")
def built(b):
    try:
        return datetime.datetime.fromtimestamp(os.path.getmtime(b), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except OSError:
        return "?"


tdir = os.environ.get("CARGO_TARGET_DIR", "target")
w(f"- Rust binaries: `{tdir}/release/vizora-gateway` (built {built(tdir + '/release/vizora-gateway')}), "
  f"`{tdir}/release/vizora` (built {built(tdir + '/release/vizora')}); {sh('rustc', '--version')}"
  + ("; the script did not rebuild them (`BENCH_NO_BUILD=1`), so they may predate the commit named above"
     if no_build else "; built by the script with `cargo build --release`"))
if "ingest" in rows or "wall" in rows:
    w("- Criterion benches (`ingest`, `wall_frame`): built by `cargo bench` from the working tree at the time of the run "
      "(the `bench` profile: release, as in Cargo.toml)")
w("")
w("## Method")
w("")
w("- **One machine, one server at a time.** For every row `scripts/bench` starts a fresh server on a free loopback port "
  "(ours with an empty data dir and `config/gateway.ron`; Node with `PORT=0`), runs `vizora loadtest` against it, stops it, "
  "then does the same for the other server. Ours runs first in each row. Before each run the script waits for the "
  "machine to be idle (under 0.3 cores busy for 3 s), and it samples the CPU of the server, of the load generator and of "
  "everything else every 0.5 s (`bench/measure.py`). "
  + ("The server is pinned to CPU 0 and the load generator to CPU 1 (`BENCH_PIN=1`)."
     if pinned else
     "The load generator shares the machine's cores with the server under test; nothing is pinned."))
w("- **Load.** W `/wall` subscribers connect (200 connects in flight), each `subscribe`s with `since: null` and reads the "
  "ack's `head_seq`; then one operator connection sends `content.create` mutations at a fixed rate for the duration. Each "
  "applied mutation is two log entries (`content.upserted`, `mutation.applied`) in one `events` batch to every wall. "
  "No players (`--players 0`) in these rows."
  + (f" The **busy fan-out** row (issue 11) is the same load with {meta.get('busy_walls', 'W')} walls at "
     f"{meta.get('busy_rate', 'R')} mutations/s for {meta.get('busy_duration_s', 'D')} s."
     if "busy" in rows else ""))
w("- **Delivered entries/s** is every entry every wall received in order, divided by the operator's duration (walls drain "
  "up to 30 s after it). The offered load is fixed by the mutation rate: when both servers keep up, both deliver "
  "W × 2 × rate entries/s and the ratio is 1.0 — throughput differences then show in latency and in "
  "**entries per server CPU-second** (delivered entries ÷ the server process's user + system CPU time over the whole run, "
  "connects included, from `/proc/PID/stat`), which is the fairer capacity figure on a shared 2-core machine.")
w("- **CPU-seconds per million entries** is measured by the load generator itself: it reads the user + system CPU time "
  "of the server (`/proc/PID/stat` of `--gateway-pid`) and of its own process (`/proc/self/stat`) at the operator's "
  "first write and again when every wall has read the last entry, and divides each difference by the delivered entries "
  "in millions. Unlike entries per server CPU-second it leaves out the connects and subscribes; the *server CPU* and "
  "*load generator CPU* columns of *Every run* are the whole run, from `bench/measure.py`.")
w("- **`events` frames per entry** is the number of `events` frames the walls read (counted by the load generator, one "
  "per `events` frame each wall parses, all walls together) divided by the entries delivered. A mutation's two entries "
  "travel together, so 0.5 is one frame per mutation per wall, and below 0.5 means the server put several mutations' "
  "entries in one frame. Fewer frames mean less framing and parsing work on both ends.")
w("- **Latency** is publish → deliver: from the load generator writing the `mutate` frame to a wall parsing the batch "
  "holding its `mutation.applied`, one sample per wall per mutation, in an HDR histogram. It includes the load generator's "
  "own scheduling delay: with thousands of walls in one tokio process on the same cores, the tail measures the generator as "
  "much as the server.")
w("- **Who sets the pace.** The load generator is one process that reads and parses every frame of every wall, on the "
  "same 2 CPUs as the server. The *busiest 5 s* column splits the machine's CPU in the busiest 5 seconds of each run "
  "between the server, the load generator and everything else (*other*: mostly kernel loopback TCP work not charged to "
  "either process, 0.1–0.3 cores at high fan-out; more than 0.5 cores means something else ran and the row is repeated). "
  "When server + load generator fill both CPUs, latency is queueing in both processes and the load generator is as much "
  "the limit as the server; then entries per server CPU-second is the better comparison.")
w("- **Memory per idle connection** is the server's RSS after all walls subscribed and 0.5 s of quiet, minus its RSS "
  "before they connected, divided by W. For Node this includes garbage not yet collected (no GC is forced).")
w("- **Lost / duplicated** is checked per wall against the log head at the end (seq gaps, repeats); any non-zero makes the "
  "load generator exit 3 and is a failed row.")
w("- **What differs between the servers.** Ours commits every batch to SQLite (group commit) before fanning it out and "
  "bounds each socket's queue (a wall that falls 4096 packets behind is disconnected and must resume by replay); the Node "
  "baseline keeps everything in memory and lets socket.io buffer without bound. The baseline does the same protocol work "
  "the load generator exercises: JWT (HS256) auth on CONNECT, subscribe ack + snapshot pages, per-org seq and epoch, "
  "`content.create` validation, duplicate detection, one `events` batch per mutation via `io.of(\"/wall\").to(org).emit`, "
  "`metrics` to every wall once a second (as ours), rate limit per connection; `/device` registration, heartbeats and "
  "time-driven status with alerts. Server options: defaults except `maxHttpBufferSize` 1 MiB, `pingInterval` 10 000, "
  "`pingTimeout` 5 000 (as ours).")
w("- **Noise.** Each row is a single run on a shared virtual machine. In repeated runs, fan-out p50/p99 and entries "
  "per server CPU-second moved by up to about 10 %; the round-trip p99 and every p999/max move much more (they rest on "
  "a handful of samples). Ratios are more stable than absolute numbers. See *Found in this run* for rows where the "
  "machine was saturated or disturbed.")
if "storm" in rows:
    w(f"- **Reconnect storm.** {meta.get('storm_walls', 'W')} walls subscribe and the operator writes as in the fan-out rows; "
      f"{meta.get('storm_at_s', 'S')} s into the writing the load generator drops every wall's socket at once "
      "(`--storm-at-s`; no goodbye, as when a network path or proxy drops them, the same for both servers). Each wall "
      "reconnects at once, with no queueing or back-off, and re-subscribes with `since` = the last entry it holds "
      "(PROTOCOL.md §5); the server answers `replay` (the entries since) or `snapshot` (it no longer has them). "
      "Recovery is the time from the cut until the last wall holds the log head its re-subscribe saw (60 s at most). "
      "Lost and duplicated entries are counted across the storm as in every row. Both servers keep their history "
      "in the run (ours in SQLite, the baseline in memory, 100,000 entries), so both can answer with a replay.")
for line in client_rows.method(rows):
    w(line)
w("")
w("## Commands")
w("")
w("```sh")
w(f"{'BENCH_PIN=1 ' if pinned else ''}{'BENCH_NO_BUILD=1 ' if no_build else ''}scripts/bench    # BENCH_ROWS={' '.join(rows)!r} "
  f"BENCH_WALLS={meta.get('walls', '1000 5000 10000')!r} "
  f"BENCH_RATE={meta.get('rate', '20')} BENCH_RT_RATE={meta.get('rt_rate', '200')} BENCH_DURATION_S={meta.get('duration_s', '20')} "
  f"BENCH_BUSY_WALLS={meta.get('busy_walls', '2000')} BENCH_BUSY_RATE={meta.get('busy_rate', '200')} "
  f"BENCH_BUSY_DURATION_S={meta.get('busy_duration_s', '15')} "
  f"BENCH_STORM_WALLS={meta.get('storm_walls', '1000')} BENCH_STORM_AT_S={meta.get('storm_at_s', '5')} "
  f"BENCH_WALL_SIZES={meta.get('wall_sizes', '1920x1080 3840x2160')!r} BENCH_WALL_FRAMES={meta.get('wall_frames', '120')}"
  + (f" BENCH_CRITERION_ARGS={meta['criterion_args']!r}" if meta.get("criterion_args") else ""))
w(f"ulimit -n {fd_hard}")
w("npm ci --prefix bench/node-baseline   # when node_modules is missing")
w("```")
w("")
w("Per row, in this order (PORT and PID are the server's; the client rows have no server):")
w("")
w("```sh")
try:
    w(open(os.path.join(out, "commands.txt")).read().rstrip())
except OSError:
    w("# commands.txt missing")
w("```")
w("")

with open(md_path, "w") as f:
    f.write("\n".join(L))
