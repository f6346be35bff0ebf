"""Benchmark 10: `livemount apply --yes` of N bind mounts as users run it, against a mount(8) loop.

Whole processes, each round in a fresh private namespace per contender (every
run mounts from nothing), contenders interleaved round by round:

* `livemount apply --yes, on a terminal`: stdout and stderr a pseudo-terminal
  (120 columns) whose output is read as it comes: what a person at a
  terminal waits for (the plan table, progress, the summary);
* `livemount apply --yes --json`: stdout to a pipe;
* `mount(8) loop`: one shell running `mount --bind SRC TARGET` N times;
* `safety floor (Python)`: bench/safety_floor.py as a process of its own,
  the least per-mount work livemount's rules ask for and nothing else (no
  profile, no planning, no state, no undo, no output): a goal below it is
  out of reach for any Python apply that keeps the rules.

The targets are N directories made beforehand; the profile file is YAML.
The in-process engine against raw mount(2) is bench/apply_cost.py's.
"""

import os
import pty
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

NAME = "cli_apply"
CONTENDERS = ("livemount apply --yes, on a terminal", "livemount apply --yes --json", "mount(8) loop",
              "safety floor (Python)")
FLOOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "safety_floor.py")
GOALS = {"livemount apply --yes, on a terminal": 10, "livemount apply --yes --json": 20}


def _layout(scratch, n):
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    targets = [os.path.join(scratch, "t", "g%02d" % (i // 100), "e%04d" % i) for i in range(n)]
    for t in targets:
        os.makedirs(t)
    path = os.path.join(scratch, "profile.yaml")
    with open(path, "w") as f:
        f.write("name: bench-apply\nmounts:\n")
        for t in targets:
            f.write("  - {target: %s, type: bind, source: %s}\n" % (t, src))
    return src, targets, path


def _on_terminal(cmd, env):
    """Return (seconds, bytes shown) of `cmd` with a pseudo-terminal as stdout and stderr, drained as it writes."""
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    shown = [0]

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not data:
                return
            shown[0] += len(data)

    reader = threading.Thread(target=drain, daemon=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    reader.start()
    rc = proc.wait()
    took = time.perf_counter() - t0
    reader.join(10)
    os.close(master)
    if rc != 0:
        raise RuntimeError("cannot benchmark %s: exit %d" % (" ".join(cmd), rc))
    return took, shown[0]


def _one(scratch, contender, n):
    """Return {seconds, shown, mounted} of one contender's run (in a fresh private namespace)."""
    src, targets, path = _layout(scratch, n)
    before = c.mount_count()
    env = c.bench_env(COLUMNS=120, TERM="xterm-256color", LIVEMOUNT_STATE_DIR=os.path.join(scratch, "state"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("NO_COLOR", None)
    livemount = os.path.join(c.BIN, "livemount")
    shown = 0
    if contender == "livemount apply --yes, on a terminal":
        took, shown = _on_terminal([livemount, "apply", "--yes", path], env)
    elif contender == "livemount apply --yes --json":
        took, proc = c.run_timed([livemount, "apply", "--yes", "--json", path], env=env)
        shown = len(proc.stdout)
    elif contender == "safety floor (Python)":
        took, _ = c.run_timed([sys.executable, FLOOR, os.path.join(scratch, "journal"), src] + targets, env=env)
    else:
        script = "for t in \"$@\"; do mount --bind %s \"$t\" || exit 1; done" % src
        took, _ = c.run_timed(["sh", "-c", script, "sh"] + targets, env=env)
    mounted = c.mount_count() - before
    if mounted != n:
        raise RuntimeError("cannot trust %s: %d mounts made, not %d" % (contender, mounted, n))
    return {"seconds": took, "shown": shown}


def run(n, repeats):
    """Return the result document."""
    runs = {k: [] for k in CONTENDERS}

    def contender(name):
        def go():
            r = c.in_namespace(_one, name, n)
            runs[name].append(r)
            return r["seconds"]
        return go

    c.in_namespace(_one, CONTENDERS[1], n)  # warm-up: bytecode caches, the page cache
    samples = c.rounds({k: contender(k) for k in CONTENDERS}, repeats)
    doc = {"n": n, "repeats": repeats, "rows": {k: {"seconds": c.summary(v), "per_mount": c.summary([x / n for x in v]),
                                                    "shown_bytes": [r["shown"] for r in runs[k]]}
                                                for k, v in samples.items()}}
    doc["ratios"] = {k: c.ratio(samples["mount(8) loop"], samples[k]) for k in list(GOALS) + ["safety floor (Python)"]}
    doc["goals"] = [c.goal("%s >= %dx faster than a mount(8) loop (N=%d, whole processes)" % (k, need, n),
                           doc["ratios"][k]["median"] >= need, c.fmt_ratio(doc["ratios"][k]))
                    for k, need in GOALS.items()]
    return doc


def table(doc):
    """Return (headers, rows)."""
    rows = [[k, c.fmt_stat(v["seconds"]), c.fmt_stat(v["per_mount"]),
             c.fmt_ratio(doc["ratios"][k]) if k in doc["ratios"] else "1x"] for k, v in doc["rows"].items()]
    return ["contender (whole process)", "wall time", "per mount", "mount(8) loop / this, per round"], rows


def markdown(doc):
    """Return this benchmark's section of docs/benchmarks.md."""
    return "\n".join([
        "## 10. `livemount apply` as users run it\n",
        "Whole processes, %d bind mounts from nothing, each run in a fresh private namespace, %d rounds "
        "interleaved: `livemount apply --yes` on a pseudo-terminal of 120 columns (its output read as it comes), "
        "with `--json` to a pipe, and a shell running mount(8) once per entry. The engine in-process against "
        "raw mount(2) is section 2.\n" % (doc["n"], doc["repeats"]),
        c.md_table(*table(doc)), "", c.md_goals(doc["goals"]), ""])


def why_missed(doc):
    """Return markdown for the missed goals ("" when all are met)."""
    lines = ["- **%s**: measured %s." % (g["goal"], g["value"]) for g in doc["goals"] if not g["met"]]
    if lines:
        floor = doc["rows"]["safety floor (Python)"]["seconds"]["median"]
        lines.append("  - The safety floor alone (bench/safety_floor.py as a process: the least work livemount's "
                     "rules ask for per mount, and nothing else) is %s faster than the mount(8) loop, in %s: a "
                     "goal above that is out of reach for any Python apply that keeps the rules."
                     % (c.fmt_ratio(doc["ratios"]["safety floor (Python)"]), c.fmt_time(floor)))
    return "\n".join(lines)


def main(argv=None):
    """Return 0 after running the benchmark and writing bench/out/cli_apply.json."""
    args = c.arguments(__doc__.splitlines()[0], argv)
    c.require_root()
    doc = run(200 if args.quick else 1000, args.repeats or (1 if args.quick else 3))
    return c.report(NAME, doc, args.out, [("livemount apply vs mount(8)", table(doc))])


if __name__ == "__main__":
    sys.exit(main())
