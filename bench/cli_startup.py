"""Benchmark 5: how long the livemount command takes to start, against python and findmnt.

Contenders, interleaved round by round inside one private namespace (wall time
of the whole process, output discarded):

* `python -c pass`        the interpreter alone: the floor for any Python command
* `findmnt`               util-linux reading and printing the table (C)
* `livemount --help`      argument parsing only: subcommands import the engine lazily
* `livemount plan P`      a no-op plan of a 5-entry profile (applied first): YAML,
                          schema validation, state, observe, plan, rich output

`livemount` is a wrapper doing what the installed console script does.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

NAME = "cli_startup"
GOAL_HELP = 0.3
ORDER = ("python -c pass", "findmnt", "livemount --help", "livemount plan (5 entries, no-op)")


def _profile(scratch):
    """Return the path of a 5-entry YAML profile under scratch (and its source directories)."""
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    base = os.path.join(scratch, "app")
    text = "\n".join([
        "name: bench-cli",
        "mounts:",
        "  - {target: %s/data, type: bind, source: %s}" % (base, src),
        "  - {target: %s/ro, type: bind, source: %s, options: [ro, nosuid]}" % (base, src),
        "  - {target: %s/cache, type: tmpfs, options: [size=16m, mode=0755]}" % base,
        "  - {target: %s/tmp, type: tmpfs, options: [size=1m]}" % base,
        "  - {target: %s/link, type: symlink, source: data}" % base,
        "",
    ])
    path = os.path.join(scratch, "profile.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def _measure(scratch, repeats):
    """Return {contender: [seconds]} (runs in a private namespace)."""
    env = c.bench_env(NO_COLOR=1, COLUMNS=100)
    state = os.path.join(scratch, "state")
    prof = _profile(scratch)
    livemount = os.path.join(c.BIN, "livemount")
    c.run_timed([livemount, "--state-dir", state, "apply", "--yes", prof], env=env)
    _, proc = c.run_timed([livemount, "--state-dir", state, "plan", "--json", prof], env=env)
    if '"changed": false' not in proc.stdout:
        raise RuntimeError("cannot time a no-op plan: the plan has changes:\n%s" % proc.stdout[-2000:])
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "findmnt": ["findmnt"],
        "livemount --help": [livemount, "--help"],
        "livemount plan (5 entries, no-op)": [livemount, "--state-dir", state, "plan", prof],
    }
    contenders = {name: (lambda cmd=cmd: c.run_timed(cmd, env=env)[0]) for name, cmd in commands.items()}
    for fn in contenders.values():  # one warm-up each: the page cache, not the first run, is measured
        fn()
    samples = c.rounds(contenders, repeats)
    imports = _import_costs(commands["livemount plan (5 entries, no-op)"], env)
    return {"samples": samples, "imports": imports}


def _import_costs(cmd, env):
    """Return [(top-level package, seconds)] of one run under -X importtime, costliest first.

    Only imports made directly (not as a dependency of another) are counted,
    each with its cumulative time, so the numbers add up to the import total.
    """
    _, proc = c.run_timed(cmd, env=dict(env, PYTHONPROFILEIMPORTTIME="1"))
    totals = {}
    for line in proc.stdout.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if not cumulative.strip().isdigit() or name.startswith("   "):
            continue  # the header, or an import nested in another one
        top = name.strip().split(".")[0]
        totals[top] = totals.get(top, 0.0) + int(cumulative) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:8]


def run(repeats):
    """Return the result document: per contender seconds, ratios to python, the goal."""
    measured = c.in_namespace(_measure, repeats)
    samples = measured["samples"]
    base = samples["python -c pass"]
    doc = {"repeats": repeats, "seconds": {k: c.summary(v) for k, v in samples.items()},
           "vs_python": {k: c.ratio(v, base) for k, v in samples.items()},
           "vs_findmnt": {k: c.ratio(v, samples["findmnt"]) for k, v in samples.items()},
           "plan_imports": measured["imports"]}
    st = doc["seconds"]["livemount --help"]
    doc["goals"] = [c.goal("`livemount --help` under 0.3 s", st["median"] < GOAL_HELP, c.fmt_stat(st))]
    return doc


def table(doc):
    """Return (headers, rows): per contender, time, and ratios to python and findmnt."""
    rows = [[k, c.fmt_stat(doc["seconds"][k]), c.fmt_ratio(doc["vs_python"][k]), c.fmt_ratio(doc["vs_findmnt"][k])]
            for k in ORDER]
    return ["command", "wall time: median (min-max)", "/ python -c pass", "/ findmnt"], rows


def markdown(doc):
    """Return this benchmark's section of docs/benchmarks.md."""
    return "\n".join([
        "## 5. CLI start-up\n",
        "Wall time of the whole process, %d rounds interleaved after one warm-up each, inside a private "
        "namespace (the plan is a no-op: the profile was applied first). `livemount` runs the source measured "
        "the way the installed console script does.\n" % doc["repeats"],
        c.md_table(*table(doc)), "",
        "Where `livemount plan` spends its start-up (one run under `python -X importtime`, top-level "
        "imports with everything they pull in): %s.\n" % ", ".join("%s %s" % (name, c.fmt_time(secs))
                                                                   for name, secs in doc["plan_imports"]),
        c.md_goals(doc["goals"]), "",
    ])


def why_missed(doc):
    """Return markdown explaining the missed goal from this run's measurements ("" when it is met)."""
    st = doc["seconds"]["livemount --help"]
    if st["median"] < GOAL_HELP:
        return ""
    return ("- **`livemount --help` takes %s** (goal 0.3 s), %s `python -c pass`. See the import costs of "
            "`livemount plan` above for what a start-up pays for." % (c.fmt_stat(st), c.fmt_ratio(doc["vs_python"]
                                                                                             ["livemount --help"])))


def main(argv=None):
    """Return 0 after running the benchmark and writing bench/out/cli_startup.json."""
    args = c.arguments(__doc__.splitlines()[0], argv)
    c.require_root()
    doc = run(args.repeats or (5 if args.quick else 20))
    return c.report(NAME, doc, args.out, [("CLI start-up", table(doc))])


if __name__ == "__main__":
    sys.exit(main())
