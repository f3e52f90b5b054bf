#!/usr/bin/env python3
"""CPU bookkeeping for scripts/bench.

  measure.py quiet MAX_WAIT_S
      Waits until the machine is quiet (under 0.3 cores busy for 3 s) or
      MAX_WAIT_S pass; prints a JSON line {"waited_s", "quiet", "busy_cores"}.
  measure.py run RUN_JSON SERVER_PID CMD...
      Runs CMD (the load generator, or a benchmark), sampling every 0.5 s the
      CPU of the server, of CMD with all its descendants and of the whole
      machine, and writes RUN_JSON: exit code, CPU seconds of both sides, and
      how busy everything else was. SERVER_PID 0: there is no server. Exits
      with CMD's code.
  measure.py criterion CRITERION_DIR GROUP SINCE_EPOCH_S OUT_JSON
      Collects criterion's results for the benchmarks of GROUP (and of the
      groups under it, GROUP/...) measured since
      SINCE_EPOCH_S (older results in the directory are left out) into
      OUT_JSON: per benchmark its mean, median and 95 % interval in ns and
      its throughput setting.
"""

import json
import os
import resource
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def proc_cpu(pid):
    """utime + stime of a process, seconds; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ
    except (OSError, IndexError, ValueError):
        return None


def tree_cpu(root):
    """utime + stime of `root` and every live descendant, plus what they
    reaped (cutime + cstime): each CPU-second of the tree counted once, so
    `cargo bench` is charged for the benchmark it runs. None when root is gone."""
    children, cpu = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(d))
            cpu[int(d)] = sum(int(x) for x in fields[11:15]) / HZ
        except (OSError, IndexError, ValueError):
            continue
    if root not in cpu:
        return None
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, ()))
    return total


def machine_busy():
    """Busy CPU seconds of the whole machine (all CPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / HZ


def quiet(max_wait):
    start = time.monotonic()
    busy = None
    while True:
        b0 = machine_busy()
        time.sleep(3)
        busy = (machine_busy() - b0) / 3
        waited = time.monotonic() - start
        if busy < 0.3 or waited >= max_wait:
            print(json.dumps({"waited_s": round(waited, 1), "quiet": busy < 0.3, "busy_cores": round(busy, 2)}))
            return


def run(path, server_pid, cmd):
    server_cpu = (lambda: proc_cpu(server_pid)) if server_pid else (lambda: 0.0)
    t0 = time.monotonic()
    s0, m0 = server_cpu(), machine_busy()
    child = subprocess.Popen(cmd)
    samples = []  # (t, server cores, loadgen cores, other cores) per interval
    last = (t0, s0, 0.0, m0)
    lg_total = 0.0
    while True:
        try:
            child.wait(timeout=0.5)
            done = True
        except subprocess.TimeoutExpired:
            done = False
        now = time.monotonic()
        s, m = server_cpu(), machine_busy()
        lg = tree_cpu(child.pid) if not done else None
        lg = lg_total if lg is None else lg
        lg_total = max(lg_total, lg)
        dt = now - last[0]
        if dt > 0 and s is not None and last[1] is not None:
            sc, lc, mc = (s - last[1]) / dt, (lg - last[2]) / dt, (m - last[3]) / dt
            samples.append((round(now - t0, 2), round(sc, 3), round(lc, 3), round(max(0.0, mc - sc - lc), 3)))
        last = (now, s, lg, m)
        if done:
            break
    rc = child.returncode
    wall = time.monotonic() - t0
    s1 = server_cpu()
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    lg_cpu = r.ru_utime + r.ru_stime

    def window_peak(k, secs=5):
        """Highest mean of column k (or of all three when k is None) over `secs`."""
        best, n = 0.0, max(1, int(secs / 0.5))
        vals = [sum(x[1:]) if k is None else x[k] for x in samples]
        for i in range(len(vals)):
            w = vals[max(0, i - n + 1): i + 1]
            best = max(best, sum(w) / len(w))
        return round(best, 2)

    def mean(k):
        return round(sum(x[k] for x in samples) / len(samples), 2) if samples else None

    # The busiest 5 s of the run, split by who was busy.
    peak = {}
    if samples:
        n = 10
        sums = [sum(sum(x[1:]) for x in samples[max(0, i - n + 1): i + 1]) / len(samples[max(0, i - n + 1): i + 1]) for i in range(len(samples))]
        i = max(range(len(sums)), key=sums.__getitem__)
        w = samples[max(0, i - n + 1): i + 1]
        peak = {
            "at_s": w[-1][0],
            "server_cores": round(sum(x[1] for x in w) / len(w), 2),
            "loadgen_cores": round(sum(x[2] for x in w) / len(w), 2),
            "other_cores": round(sum(x[3] for x in w) / len(w), 2),
        }
    out = {
        "rc": rc,
        "cpus": NCPU,
        "loadgen_wall_s": round(wall, 2),
        "loadgen_cpu_s": round(lg_cpu, 2),
        "loadgen_maxrss_mib": round(r.ru_maxrss / 1024, 1),
        "server_alive": s1 is not None,
        "server_cpu_s": round(s1 - s0, 2) if server_pid and s1 is not None and s0 is not None else None,
        "mean_cores": {"server": mean(1), "loadgen": mean(2), "other": mean(3)},
        "peak_other_cores_5s": window_peak(3),
        "busiest_5s": peak,
        "samples": samples,
    }
    with open(path, "w") as f:
        json.dump(out, f)
    return rc


def criterion(root, group, since, path):
    found = {}
    # Criterion names directories after the group with "/" made "_", so the
    # group is matched on benchmark.json, not on the path.
    for dirpath, _, files in os.walk(root):
        if not (dirpath.endswith(os.sep + "new") and "estimates.json" in files and "benchmark.json" in files):
            continue
        est_path = os.path.join(dirpath, "estimates.json")
        if os.path.getmtime(est_path) < since:
            continue  # an older run's result, not this one's
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        if bench["group_id"] != group and not bench["group_id"].startswith(group + "/"):
            continue
        with open(est_path) as f:
            est = json.load(f)
        mean = est["mean"]
        found[bench["full_id"]] = {
            "group": bench["group_id"],
            "function": bench.get("function_id"),
            "value": bench.get("value_str"),
            "throughput": bench.get("throughput"),
            "mean_ns": mean["point_estimate"],
            "mean_lo_ns": mean["confidence_interval"]["lower_bound"],
            "mean_hi_ns": mean["confidence_interval"]["upper_bound"],
            "median_ns": est["median"]["point_estimate"],
        }
    with open(path, "w") as f:
        json.dump(found, f, indent=1, sort_keys=True)
    return 0 if found else 1


if __name__ == "__main__":
    if sys.argv[1] == "quiet":
        quiet(float(sys.argv[2]))
    elif sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
    elif sys.argv[1] == "criterion":
        sys.exit(criterion(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]))
    else:
        sys.exit(__doc__)
