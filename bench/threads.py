#!/usr/bin/env python3
"""bench/threads.py: CPU per thread of running processes, for msrp.sh's THREADS=1.

    threads.py OUT PID...

Samples /proc/PID/task/*/stat and .../io every 50 ms until SIGTERM or SIGINT, then
writes to OUT one line per (process, thread name): `process thread ticks utime stime
syscr syscw wchar`, utime + stime, then each alone, in clock ticks, then the read-
and write-like system calls and the bytes written (`wchar`: to files and sockets
alike) of /proc/.../io, all spent between the first sample and the last (a thread
born later counts from zero; a thread that exits between samples loses at most its
last 50 ms). Threads of one name are summed (msrp_bench's `sender`s, tokio's
blocking threads). Not a profiler: it says which thread is busy, and how much of
that is the kernel's and how many calls, not where.
"""

import glob
import signal
import sys
import time


def comm_and_ticks(path):
    """The thread's name and its counters: ticks, utime, stime, syscr, syscw, wchar."""
    with open(path) as f:
        stat = f.read()
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    user, system = int(fields[11]), int(fields[12])
    io = {}
    try:
        with open(path[: -len("stat")] + "io") as f:
            for line in f:
                key, _, value = line.partition(":")
                io[key] = int(value)
    except (OSError, ValueError):
        pass
    return name, (
        user + system,
        user,
        system,
        io.get("syscr", 0),
        io.get("syscw", 0),
        io.get("wchar", 0),
    )


def sample(pids):
    seen = {}
    for pid in pids:
        for path in glob.glob(f"/proc/{pid}/task/*/stat"):
            try:
                seen[(pid, path)] = comm_and_ticks(path)
            except (OSError, ValueError):
                pass
    return seen


def main():
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    out, pids = sys.argv[1], sys.argv[2:]
    # Started: msrp.sh waits for OUT before it starts the clock.
    open(out, "w").close()
    procs = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                procs[pid] = f.read().strip()
        except OSError:
            procs[pid] = pid
    first = sample(pids)
    last = dict(first)
    while not stop:
        time.sleep(0.05)
        last.update(sample(pids))
    zero = (0,) * 6
    totals = {}
    for key, (name, counts) in last.items():
        start = first.get(key, (name, zero))[1]
        k = (procs[key[0]], name)
        sums = totals.get(k, zero)
        totals[k] = tuple(t + c - s for t, c, s in zip(sums, counts, start))
    with open(out, "w") as f:
        for (proc, name), counts in sorted(totals.items()):
            f.write(f"{proc} {name} {' '.join(str(c) for c in counts)}\n")


if __name__ == "__main__":
    main()
