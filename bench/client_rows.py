"""The rows of BENCHMARKS.md with no Node counterpart: the client sync
engine's ingest and the wallboard's frame time, read from what scripts/bench
left in its output directory:

  ingest.criterion.json, wall-ecs.criterion.json   criterion results
                                                   (bench/measure.py criterion)
  ingest.run.json, wall-ecs.run.json               CPU bookkeeping of the runs
  wall-render-WxH.txt, wall-render-WxH.run.json    `vizora wall --headless`
                                                   stdout and CPU bookkeeping

Each function returns lines of markdown; report.py places them.
"""

import glob
import json
import os
import re

# crates/sync/benches/ingest.rs: group → what its entries are.
INGEST_CASES = [
    ("ingest/status", "`device.status` only"),
    ("ingest/mixed", "mixed (status, upserts, alerts, others' `mutation.applied`)"),
    ("ingest/status+10_pending", "`device.status` only, 10 local mutations pending"),
    ("ingest/mixed+10_pending", "mixed, 10 local mutations pending"),
    ("ingest/status_on_pending+10_pending", "`device.status` on only the 10 devices the 10 pending mutations edit"),
]
# benches/wall_frame.rs: function → what the frame does.
ECS_CASES = [
    ("wall_frame/10k_devices_idle", "10k devices, idle, multi-threaded executor"),
    ("wall_frame/10k_devices_1000_events_per_s", "10k devices, 1000 events/s, multi-threaded executor"),
    ("wall_frame/10k_devices_idle_single_threaded", "10k devices, idle, single-threaded executor"),
    ("wall_frame/10k_devices_1000_events_per_s_single_threaded", "10k devices, 1000 events/s, single-threaded executor"),
]
FRAME_RE = re.compile(r"^frame_ms n=(\d+) mean=([\d.]+) p50=([\d.]+) p99=([\d.]+) max=([\d.]+)\s*$")


def _load(out, name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _per_s(b):
    """Elements per second of one criterion result, from its throughput setting."""
    t = (b or {}).get("throughput") or {}
    n = t.get("Elements") if isinstance(t, dict) else None
    if not n or not b.get("mean_ns"):
        return None
    return n / (b["mean_ns"] / 1e9)


def _ms(ns):
    return "n/a" if ns is None else f"{ns / 1e6:.2f}"


def _sizes(out):
    found = []
    for p in glob.glob(os.path.join(out, "wall-render-*.run.json")):
        size = os.path.basename(p)[len("wall-render-"):-len(".run.json")]
        w, _, h = size.partition("x")
        found.append((int(w) * int(h) if w.isdigit() and h.isdigit() else 0, size))
    return [s for _, s in sorted(found)]


def render_stats(out, size):
    """The headless wall's `frame_ms` line at `size`, as numbers; None if it printed none."""
    try:
        lines = open(os.path.join(out, f"wall-render-{size}.txt")).read().splitlines()
    except OSError:
        return None
    for line in lines:
        m = FRAME_RE.match(line.strip())
        if m:
            n, mean, p50, p99, mx = m.groups()
            return {"n": int(n), "mean": float(mean), "p50": float(p50), "p99": float(p99), "max": float(mx)}
    return None


def _pretty_size(size):
    return {"1920x1080": "1080p", "3840x2160": "4K"}.get(size, size)


def results(out, rows):
    """Lines of the Results table; `rows` is what BENCH_ROWS asked for."""
    L = []
    ingest = _load(out, "ingest.criterion.json")
    if "ingest" not in rows:
        L.append("| client engine ingest | not run (`BENCH_ROWS`) | | | |")
    elif not ingest:
        L.append("| client engine ingest | no criterion results (see the run's output) | | n/a | n/a |")
    else:
        for group, what in INGEST_CASES:
            b = ingest.get(f"{group}/1024")
            if b:
                L.append(f"| client engine ingest | entries/s applied to a 10,000-device view, {what}, batches of 1024 | "
                         f"{_per_s(b):,.0f} | n/a | n/a |")
        for group, what in (INGEST_CASES[0], INGEST_CASES[-1]):
            b = ingest.get(f"{group}/1")
            if b:
                L.append(f"| client engine ingest | entries/s applied to a 10,000-device view, {what}, one entry a batch | "
                         f"{_per_s(b):,.0f} | n/a | n/a |")
    ecs = _load(out, "wall-ecs.criterion.json")
    if "wall" not in rows:
        L.append("| wallboard ECS frame time | not run (`BENCH_ROWS`) | | | |")
        return L
    if not ecs:
        L.append("| wallboard ECS frame time | no criterion results (see the run's output) | | n/a | n/a |")
    for fid, what in ECS_CASES:
        b = (ecs or {}).get(fid)
        if b:
            L.append(f"| wallboard ECS frame time | ECS CPU per frame, mean, ms ({what}) | {_ms(b['mean_ns'])} | n/a | n/a |")
    for size in _sizes(out):
        s = render_stats(out, size)
        for q in ("mean", "p99"):
            v = f"{s[q]:.2f}" if s else "no frame_ms line"
            L.append(f"| wallboard frame, software-rendered | frame time {q}, ms ({_pretty_size(size)}, {size}, 10k devices, "
                     f"1000 events/s) | {v} | n/a | n/a |")
    return L


def sections(out, rows):
    """Detail subsections, after the Results table."""
    L = []
    ingest = _load(out, "ingest.criterion.json")
    if "ingest" in rows and ingest:
        sizes = sorted({int(b["value"]) for b in ingest.values() if str(b.get("value") or "").isdigit()})
        L += ["### Client engine ingest, every case", "",
              "`cargo bench -p vizora-sync --bench ingest`: `SyncEngine::apply_entries` on one thread, entries applied per "
              "second (criterion's mean time per batch ÷ entries per batch; in brackets the 95 % interval of the mean, as "
              "ns per entry). Issue 4 aims at ≥ 1M entries/s per core.", "",
              "| entries | " + " | ".join(f"batches of {n}" for n in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
        for group, what in INGEST_CASES:
            cells = []
            for n in sizes:
                b = ingest.get(f"{group}/{n}")
                if not b:
                    cells.append("n/a")
                    continue
                lo, hi = b["mean_lo_ns"] / n, b["mean_hi_ns"] / n
                cells.append(f"{_per_s(b):,.0f} ({lo:.0f}–{hi:.0f} ns)")
            L.append(f"| {what} | " + " | ".join(cells) + " |")
        L.append("")
        slow = [(what, n) for group, what in INGEST_CASES for n in sizes
                if (_per_s(ingest.get(f"{group}/{n}")) or 1e9) < 1e6]
        L.append("Goal of issue 4, ≥ 1M entries/s per core: "
                 + ("met in every case." if not slow else
                    "not met for " + "; ".join(f"{what}, batches of {n}" for what, n in slow) + "."))
        L.append("")
    ecs = _load(out, "wall-ecs.criterion.json")
    sizes = _sizes(out)
    if "wall" in rows and (ecs or sizes):
        L += ["### Wallboard frame time", ""]
        if ecs:
            L += ["`cargo bench -p vizora --bench wall_frame`: one `App::update()` of every wall plugin except rendering "
                  "(`MinimalPlugins`, time stepped 1/60 s a frame), 10,000 devices, with 0 or 17 device events a frame "
                  "(1000/s at 60 fps). Mean, median and the 95 % interval of the mean, ms. At 60 fps a frame has 16.7 ms. "
                  f"The wall runs its main schedule on the single-threaded executor on machines with up to 4 cores "
                  f"(this one has {os.cpu_count()}), the multi-threaded one above that.", "",
                  "| frame | mean | median | 95 % interval |", "|---|---:|---:|---:|"]
            for fid, what in ECS_CASES:
                b = ecs.get(fid)
                if b:
                    L.append(f"| {what} | {_ms(b['mean_ns'])} | {_ms(b['median_ns'])} | "
                             f"{_ms(b['mean_lo_ns'])}–{_ms(b['mean_hi_ns'])} |")
            L.append("")
        if sizes:
            L += ["`vizora wall --headless` with a generated 10,000-device fleet fed 1000 device events/s, devices page, "
                  "software rendering (wgpu on Vulkan; Mesa lavapipe where there is no GPU): wall-clock time between "
                  "frames once the data is in, whole frames (ECS, UI layout, render, the copy-out), ms.", "",
                  "| size | frames | mean | p50 | p99 | max | CPU of the wall process over its run, cores |", "|---|---:|---:|---:|---:|---:|---:|"]
            for size in sizes:
                s, u = render_stats(out, size), _load(out, f"wall-render-{size}.run.json") or {}
                cores = (u.get("mean_cores") or {}).get("loadgen")
                cores = "n/a" if cores is None else f"{cores:.2f}"
                if s:
                    L.append(f"| {size} | {s['n']} | {s['mean']:.2f} | {s['p50']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | {cores} |")
                else:
                    L.append(f"| {size} | no `frame_ms` line (exit {u.get('rc', '?')}) | | | | | {cores} |")
            L.append("")
    return L


def notes(out, rows):
    """Findings for *Found in this run*: disturbed or failed runs."""
    names = []
    if "ingest" in rows:
        names.append(("ingest", "client engine ingest"))
    if "wall" in rows:
        names.append(("wall-ecs", "wallboard ECS frame time"))
        names += [(f"wall-render-{s}", f"software-rendered frame ({s})") for s in _sizes(out)]
    found = []
    for name, who in names:
        u, q = _load(out, f"{name}.run.json"), _load(out, f"{name}.quiet.json")
        if u is None:
            found.append(f"{who}: did not run (see `target/bench/{name}.log`).")
            continue
        if u.get("rc") != 0:
            found.append(f"{who}: exit {u.get('rc')} (see `target/bench/{name}.log`).")
        if q and not q.get("quiet", True):
            found.append(f"{who}: the machine was not idle before the run ({q.get('busy_cores')} cores busy after waiting "
                         f"{q.get('waited_s')} s); the run went ahead anyway.")
        if (u.get("peak_other_cores_5s") or 0) > 0.5:
            m = u.get("mean_cores") or {}
            found.append(f"{who}: **other processes were busy during the run** ({m.get('other')} cores on average, "
                         f"{u.get('peak_other_cores_5s')} at their busiest 5 s): skewed; rerun on an idle machine.")
    return found


def method(rows):
    """Bullets for the Method section."""
    L = []
    if "ingest" in rows:
        L.append("- **Client engine ingest** (ours only; the Node baseline has no client engine): criterion runs "
                 "`crates/sync/benches/ingest.rs`, which applies pre-generated log entries to a sync engine holding a "
                 "snapshot of 10,000 devices, 20 playlists, 100 content items and 200 alerts, in batches of 1, 64 and 1024, "
                 "with no local mutation pending and with 10 (which rebase when an entry touches what they edit). "
                 "`scripts/bench` builds the bench first (`--no-run`), then runs it and reads each benchmark's "
                 "`new/estimates.json` (mean) and `benchmark.json` (entries per iteration) from `target/criterion/`, "
                 "only those written by this run. Entries/s = entries per batch ÷ mean time per batch, on one core.")
    if "wall" in rows:
        L.append("- **Wallboard ECS frame time** (ours only): criterion runs `benches/wall_frame.rs`, one `App::update()` "
                 "of every wall plugin except rendering per iteration, idle and with 1000 device events/s, on Bevy's "
                 "multi-threaded and single-threaded executors (the wall picks single-threaded on machines with up to 4 "
                 "cores); the mean per frame comes from `target/criterion/wall_frame/*/new/estimates.json`. "
                 "**Software-rendered frame time** is `vizora wall --headless` on a generated fleet, timed by the wall "
                 "itself (the `frame_ms` line it prints: real time between frames after the first frames with data, "
                 "so it is the whole frame including rendering on the CPU); `XDG_RUNTIME_DIR` and `WGPU_BACKEND=vulkan` "
                 "come from `export_render_env` in `scripts/lib.sh`.")
    if "ingest" in rows or "wall" in rows:
        L.append("- **Client rows and the machine.** Before each bench `scripts/bench` waits for quiet as for the server rows, "
                 "and samples the CPU of the bench (with its child processes) and of everything else; a run that other "
                 "processes disturbed (over 0.5 cores for 5 s) is repeated. Criterion's interval covers the noise within one run only.")
    return L
