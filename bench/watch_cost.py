"""Benchmark 7: what `livemount watch` costs while nothing changes, and how soon it notices a change.

Inside one private namespace, a 5-entry profile (two tmpfs, two binds, a
symlink) is applied and enabled, among FOREIGN other mounts, and
`livemount watch --json` runs as it would as a service (default settings:
woken by poll(2) on /proc/self/mountinfo, plus its 60 s periodic check):

* idle: the CPU time (utime + stime from /proc/PID/stat) the watch process
  uses over IDLE seconds in which nothing changes, as a share of one CPU;
* report latency: ROUNDS times, an owned tmpfs is unmounted by hand
  (umount2(2) straight from this process) and the clock runs from the
  return of umount2 to the drift line read from the watch's stdout; then
  the profile is applied again (not timed) and the in-sync line awaited;
* repair latency: the same with `watch --repair`, to the `repaired` line,
  after which the mount is checked to be back in /proc/self/mountinfo.
"""

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

NAME = "watch_cost"
GOAL_IDLE = 0.01  # of one CPU
GOAL_REPORT = 1.0  # seconds
GOAL_REPAIR = 2.0  # seconds
HANG = 60.0


def _profile(scratch):
    """Return the path of the profile (and make its sources)."""
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    base = os.path.join(scratch, "app")
    doc = {"name": "bench-watch", "mounts": [
        {"target": base + "/cache", "type": "tmpfs", "options": ["size=1m"]},
        {"target": base + "/tmp", "type": "tmpfs", "options": ["size=1m"]},
        {"target": base + "/data", "type": "bind", "source": src},
        {"target": base + "/ro", "type": "bind", "source": src, "options": ["ro"]},
        {"target": base + "/link", "type": "symlink", "source": "data"}]}
    path = os.path.join(scratch, "profile.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path, base + "/cache"


class _Watch:
    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        self.lines = LineReader(self.proc.stdout.fileno())

    def until(self, event):
        """Return the first line whose event is `event` (lines before it are skipped)."""
        deadline = time.monotonic() + HANG
        while True:
            line = self.lines.next(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError("cannot time the watch: no %s line within %g s" % (event, HANG))
            doc = json.loads(line)
            if doc["event"] == event:
                return doc

    def cpu(self):
        """Return the process's CPU seconds so far (utime + stime)."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(HANG)


class LineReader:
    """Whole lines from a pipe, with a timeout: os.read into our own buffer (a buffered file object may hold
    lines select(2) cannot see)."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""

    def next(self, timeout):
        """Return the next line (text, no newline), or None at end of file or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def _umount(path):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(path.encode(), 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot unmount %s" % path)


def _measure(scratch, idle, rounds, foreign):
    env = c.bench_env(LIVEMOUNT_CONFIG_DIR=os.path.join(scratch, "etc"), LIVEMOUNT_FSTAB=os.path.join(scratch, "fstab"),
                      NO_COLOR=1)
    state = os.path.join(scratch, "state")
    prof, cache = _profile(scratch)
    livemount = [os.path.join(c.BIN, "livemount"), "--state-dir", state]
    c.run_timed(livemount + ["apply", "--yes", "--enable", prof], env=env)
    c.fill_table(os.path.join(scratch, "foreign"), foreign)
    out = {"mounts": c.mount_count(), "report": [], "repair": []}

    watch = _Watch(livemount + ["watch", "--json"], env)
    watch.until("watching")
    time.sleep(1.0)  # start-up done: only idle time is counted
    cpu0, t0 = watch.cpu(), time.monotonic()
    time.sleep(idle)
    out["idle"] = {"seconds": time.monotonic() - t0, "cpu": watch.cpu() - cpu0}
    for _ in range(rounds):
        _umount(cache)
        start = time.monotonic()
        watch.until("drift")
        out["report"].append(time.monotonic() - start)
        c.run_timed(livemount + ["apply", "--yes", prof], env=env)
        watch.until("in_sync")
    watch.stop()

    repair = _Watch(livemount + ["watch", "--json", "--repair", "--burst", str(rounds + 1), "--window", "1"], env)
    repair.until("watching")
    for _ in range(rounds):
        time.sleep(1.1)  # outside the rate limit's window
        _umount(cache)
        start = time.monotonic()
        repair.until("repaired")
        out["repair"].append(time.monotonic() - start)
        with open("/proc/self/mountinfo") as f:
            if not any(line.split()[4] == cache for line in f):
                raise RuntimeError("cannot time the repair: %s is not mounted after the repaired line" % cache)
    repair.stop()
    return out


def run(idle, rounds, foreign):
    """Return the result document: idle CPU share, report and repair latencies, the goals."""
    m = c.in_namespace(_measure, idle, rounds, foreign)
    share = m["idle"]["cpu"] / m["idle"]["seconds"]
    doc = {"idle_seconds": m["idle"]["seconds"], "idle_cpu_seconds": m["idle"]["cpu"], "idle_share": share,
           "rounds": rounds, "mounts": m["mounts"], "report": c.summary(m["report"]),
           "repair": c.summary(m["repair"])}
    doc["goals"] = goals(doc)
    return doc


def goals(doc):
    """Return the goals with their verdicts."""
    return [
        c.goal("idle watch under 1%% of one CPU (%d s, %d mounts)" % (doc["idle_seconds"], doc["mounts"]),
               doc["idle_share"] < GOAL_IDLE, "%.3f%% (%.2f s of CPU)" % (doc["idle_share"] * 100,
                                                                           doc["idle_cpu_seconds"])),
        c.goal("a manual umount reported within 1 s (every round)", doc["report"]["max"] < GOAL_REPORT,
               c.fmt_stat(doc["report"])),
        c.goal("with --repair, the mount back within 2 s (every round)", doc["repair"]["max"] < GOAL_REPAIR,
               c.fmt_stat(doc["repair"])),
    ]


def table(doc):
    """Return (headers, rows) of the measurements."""
    return ["measure", "value"], [
        ["CPU while idle (%d s, nothing changes)" % doc["idle_seconds"],
         "%.3f%% of one CPU (%.2f s)" % (doc["idle_share"] * 100, doc["idle_cpu_seconds"])],
        ["umount -> drift line (%d rounds)" % doc["rounds"], c.fmt_stat(doc["report"])],
        ["umount -> repaired, mount back (%d rounds)" % doc["rounds"], c.fmt_stat(doc["repair"])],
    ]


def markdown(doc):
    """Return this benchmark's section of docs/benchmarks.md."""
    return "\n".join([
        "## 7. livemount watch\n",
        "A 5-entry profile applied and enabled among %d mounts, `livemount watch --json` with its default settings "
        "(poll(2) on /proc/self/mountinfo, a periodic check every 60 s), in a private namespace. Idle: CPU time of "
        "the watch process over a stretch in which nothing changes. Latency: from the return of umount2(2) of an "
        "owned tmpfs, made by this process, to the line read from the watch's stdout. Reproduce alone: "
        "`sudo python3 bench/watch_cost.py` (10 minutes idle; `--quick`: 30 s).\n" % doc["mounts"],
        c.md_table(*table(doc)), "",
        c.md_goals(doc["goals"]), "",
    ])


def why_missed(doc):
    """Return markdown explaining a missed goal from this run's measurements ("" when all are met)."""
    return "".join("- %s: measured %s\n" % (g["goal"], g["value"]) for g in doc["goals"] if not g["met"])


def main(argv=None):
    """Return 0 after running the benchmark and writing bench/out/watch_cost.json."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="30 s idle, 5 rounds (a smoke run)")
    p.add_argument("--idle", type=float, default=None, help="seconds of idle measured (default 600)")
    p.add_argument("--repeats", type=int, default=None, help="latency rounds (default 20)")
    p.add_argument("--foreign", type=int, default=1000, help="foreign mounts in the table (default 1000)")
    p.add_argument("--out", default=None, help="result file (default bench/out/watch_cost.json)")
    args = p.parse_args(argv)
    c.require_root()
    doc = run(args.idle or (30.0 if args.quick else 600.0), args.repeats or (5 if args.quick else 20), args.foreign)
    return c.report(NAME, doc, args.out, [("livemount watch", table(doc))])


if __name__ == "__main__":
    sys.exit(main())
