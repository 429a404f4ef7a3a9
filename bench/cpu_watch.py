"""Measures how much CPU other processes use while the benchmark runs (a busy machine inflates
every time in the tables).

    QK_BENCH_RUN_ID=ID python bench/cpu_watch.py OUT.json     (stops on SIGTERM / SIGINT)
    QK_BENCH_RUN_ID=ID python bench/cpu_watch.py --wait-quiet MAX_SECONDS
        waits until other processes use under 10 % of the cores for 5 s (at most MAX_SECONDS)

Every 0.5 s it reads /proc/PID/stat of every user-space process and sums the CPU time gained by
processes that are not the benchmark's own. The benchmark's own carry QK_BENCH_RUN_ID=ID in their
environment, or belong to the process group of a process that does (Chromium's helpers, which
start with an empty environment and leave the process tree); kernel threads are not counted. Writes {seconds, foreign_cpu_seconds, top: [[cmd, s]]}.
"""
import json
import os
import signal
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
MARK = ("QK_BENCH_RUN_ID=" + os.environ.get("QK_BENCH_RUN_ID", "")).encode()


def sample(ours_cache, our_groups):
    """CPU seconds of the processes that are not ours, by (pid, start time)."""
    out = {}
    seen = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
            comm = stat[stat.index(b"(") + 1:stat.rindex(b")")].decode(errors="replace")
            fields = stat[stat.rindex(b")") + 2:].split()
            ppid, pgrp = int(fields[1]), int(fields[2])
            utime, stime, start = int(fields[11]), int(fields[12]), int(fields[19])
            if ppid == 2 or d == "2":  # kernel threads
                continue
            key = (int(d), start)
            if key not in ours_cache:
                with open(f"/proc/{d}/environ", "rb") as f:
                    env = f.read().split(b"\0")
                ours_cache[key] = MARK in env or int(d) == os.getpid()
                if ours_cache[key] and pgrp == int(d):
                    # A group leader of ours (Chromium): its helpers drop the environment.
                    our_groups.add(pgrp)
            seen.append((key, comm, pgrp, (utime + stime) / HZ))
        except (OSError, ValueError, IndexError):
            continue  # gone, or unreadable
    for key, comm, pgrp, cpu in seen:
        if not ours_cache[key] and pgrp not in our_groups:
            out[key] = (comm, cpu)
    return out


def foreign_share(seconds):
    """Share of the cores that other processes used over the next `seconds`."""
    ours, groups = {}, set()
    a = sample(ours, groups)
    time.sleep(seconds)
    b = sample(ours, groups)
    used = sum(cpu - a[k][1] if k in a else cpu for k, (_, cpu) in b.items())
    return used / (seconds * os.cpu_count())


def wait_quiet(max_seconds):
    """Waits (up to max_seconds) until other processes use under 10 % of the cores for 5 s."""
    t0 = time.monotonic()
    while True:
        share = foreign_share(5)
        if share < 0.10:
            return
        if time.monotonic() - t0 > max_seconds:
            print(f"[cpu] other processes still use {100 * share:.0f} % of the cores: measuring anyway", file=sys.stderr)
            return
        print(f"[cpu] other processes use {100 * share:.0f} % of the cores: waiting for a quiet machine", file=sys.stderr)
        time.sleep(10)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--wait-quiet":
        return wait_quiet(float(sys.argv[2]))
    if len(sys.argv) != 2 or MARK == b"QK_BENCH_RUN_ID=":
        sys.exit(__doc__)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    ours, groups = {}, set()
    t0 = time.monotonic()
    first = sample(ours, groups)
    last = dict(first)
    while not stop:
        time.sleep(0.5)
        for key, v in sample(ours, groups).items():
            last[key] = v
    per_cmd = {}
    for key, (comm, cpu) in last.items():
        gained = cpu - first[key][1] if key in first else cpu
        if gained > 0:
            per_cmd[comm] = per_cmd.get(comm, 0) + gained
    top = sorted(per_cmd.items(), key=lambda kv: -kv[1])[:8]
    with open(sys.argv[1], "w") as f:
        json.dump({"seconds": time.monotonic() - t0, "foreign_cpu_seconds": sum(per_cmd.values()),
                   "top": [[c, round(s, 2)] for c, s in top]}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
