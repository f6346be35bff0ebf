#!/usr/bin/env python3
"""Run every livemount benchmark, print a table, write docs/benchmarks.md and its plots.

    sudo python3 bench/run_all.py            # the full run (about 20 minutes)
    sudo python3 bench/run_all.py --quick    # a smaller smoke run: results in bench/out/ only

The benchmarks run in their own environment, bench/.venv (the dev
requirements plus the `ansible` package, for ansible.posix, and matplotlib),
created on first use and kept until its requirements change; they never
touch the dev venv. Each benchmark is its own process and writes
bench/out/<name>.json; this script then renders them all. A benchmark that
fails is reported and the others still run.
"""

import argparse
import hashlib
import importlib
import json
import os
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
VENV = os.path.join(BENCH, ".venv")
VENV_PY = os.path.join(VENV, "bin", "python")
STAMP = os.path.join(VENV, ".bench-stamp")
OUT = os.path.join(BENCH, "out")
DOCS = os.path.join(REPO, "docs")
EXTRA_REQUIREMENTS = ["ansible", "matplotlib"]
# (module, section title) in report order; overlay_changes belongs to another engineer and may be absent.
BENCHMARKS = ["plan_scale", "apply_cost", "vs_ansible_posix", "overlay_changes", "cli_startup", "read_table"]
COMMAND = "sudo python3 bench/run_all.py"


# ---- the benchmark environment -------------------------------------------------

def requirements():
    """Return the pip requirements of bench/.venv: the project's dev requirements plus ansible and matplotlib."""
    out = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "requirements.py"), "dev"],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()
    return out + EXTRA_REQUIREMENTS


def ensure_venv():
    """Return the venv's python after creating or updating bench/.venv when its requirements changed."""
    reqs = requirements()
    want = hashlib.sha256(("\n".join(reqs) + "\n" + sys.version).encode()).hexdigest()
    if os.path.exists(STAMP) and open(STAMP).read().strip() == want and os.access(VENV_PY, os.X_OK):
        return VENV_PY
    os.makedirs(OUT, exist_ok=True)
    log = os.path.join(OUT, "pip.log")
    print("run_all: installing the benchmark environment %s (first run: a few minutes; log %s)"
          % (os.path.relpath(VENV, REPO), os.path.relpath(log, REPO)), flush=True)
    with open(log, "w") as f:
        if not os.access(VENV_PY, os.X_OK):
            subprocess.run([sys.executable, "-m", "venv", VENV], stdout=f, stderr=subprocess.STDOUT, check=True)
        rc = subprocess.run([VENV_PY, "-m", "pip", "install", "--disable-pip-version-check", "-q"] + reqs,
                            stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        sys.exit("cannot install the benchmark environment: pip failed, see %s" % log)
    with open(STAMP, "w") as f:
        f.write(want + "\n")
    return VENV_PY


# ---- the source measured ---------------------------------------------------------------

def _git(*args):
    return subprocess.run(["git", "-C", REPO] + list(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          universal_newlines=True).stdout.strip()


def use_revision(rev):
    """Return a description of the source measured after exporting commit `rev` and pointing the benchmarks at it.

    The working tree is shared with people editing it; a commit export keeps
    the run about one fixed version (`git archive` into bench/out/src-SHA).
    """
    sha = _git("rev-parse", "--verify", rev + "^{commit}")
    if not sha:
        sys.exit("cannot benchmark revision %s: git does not know it" % rev)
    dest = os.path.join(OUT, "src-" + sha[:12])
    if not os.path.isdir(dest):
        tmp = dest + ".tmp"
        os.makedirs(tmp, exist_ok=True)
        archive = subprocess.Popen(["git", "-C", REPO, "archive", sha], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", tmp], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            sys.exit("cannot export revision %s: git archive failed" % rev)
        os.rename(tmp, dest)
    os.environ["LIVEMOUNT_BENCH_SRC"] = dest
    return "commit %s (`--rev %s`)" % (sha[:12], rev)


def working_tree():
    """Return a description of the working tree as the source measured (commit, and whether it was edited)."""
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "plugins", "cli")
    return "working tree at commit %s%s" % (_git("rev-parse", "--short=12", "HEAD"),
                                             " with uncommitted changes in plugins/ or cli/" if dirty else "")


# ---- running ------------------------------------------------------------------------

def run_benchmark(name, quick):
    """Return (seconds, exit status) of one benchmark script, its output streamed."""
    script = os.path.join(BENCH, name + ".py")
    cmd = [sys.executable, script]
    if name == "overlay_changes":
        cmd += ["--runs", "3"] if quick else []  # its own options: tmpfs, warm cache, 9 runs by default
    elif quick:
        cmd.append("--quick")
    if quick and name != "overlay_changes":
        cmd += ["--out", os.path.join(OUT, "quick", name + ".json")]
    print("\n==== %s: %s" % (name, " ".join(os.path.relpath(x, REPO) if x.startswith(REPO) else x for x in cmd)),
          flush=True)
    fixed = os.path.join(OUT, name + ".json")
    keep = None
    if quick and name == "overlay_changes" and os.path.exists(fixed):
        with open(fixed, "rb") as f:
            keep = f.read()  # that script always writes bench/out/: a smoke run must not replace a full result
    t0 = time.time()
    try:
        rc = subprocess.run(cmd, cwd=REPO).returncode
    finally:
        if quick and name == "overlay_changes" and os.path.exists(fixed):
            os.makedirs(os.path.join(OUT, "quick"), exist_ok=True)
            os.replace(fixed, result_path(name, quick))
            if keep is not None:
                with open(fixed, "wb") as f:
                    f.write(keep)
    return time.time() - t0, rc


def result_path(name, quick):
    """Return where benchmark `name` wrote its result (quick runs: under bench/out/quick/)."""
    return os.path.join(OUT, "quick", name + ".json") if quick else os.path.join(OUT, name + ".json")


# ---- the report ----------------------------------------------------------------------

def overlay_markdown(doc, meta):
    """Return section 4 from bench/out/overlay_changes.json (written by bench/overlay_changes.py)."""
    import common as c

    env, tree = doc.get("environment", {}), doc.get("tree", {})
    lines = ["## 4. Overlay change listing\n",
             "From `bench/overlay_changes.py` (its own benchmark; see its docstring): what an overlay changed, "
             "listed by walking only the upper layer vs walking the whole merged tree (the oracle) and vs a bare "
             "scandir+lstat pass over the merged tree (the floor), on %s, %s changes over %s lower files; "
             "results identical every run.\n" % (env.get("fs_type", env.get("fs", "?")), tree.get("changes_total", "?"),
                                                 sum(x.get("files", 0) for x in tree.get("lowers", [])) or "?")]
    if meta.get("source", "").startswith("commit"):
        lines.append("That script imports the working tree (through `.build/`), not the `--rev` export.\n")
    rows = []
    for state, t in sorted(doc.get("timings", {}).items(), reverse=True):
        for method, m in sorted(t.get("methods", {}).items(), key=lambda kv: kv[1].get("median", 0)):
            rows.append([state, method, "%s (%s-%s)" % (c.fmt_time(m["median"]), c.fmt_time(m["min"]),
                                                        c.fmt_time(m["max"])),
                         "%.3gx" % m.get("ratio", float("nan")), t.get("runs", "?"),
                         "yes" if t.get("identical") else "NO"])
    lines += [c.md_table(["cache", "method", "median (min-max)", "/ upper walk", "runs", "identical"], rows), ""]
    return "\n".join(lines)


def load(name, quick):
    """Return the result document of `name`, or None when it is missing."""
    path = result_path(name, quick)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        doc = json.load(f)
    mod = importlib.import_module(name) if name != "overlay_changes" else None
    if hasattr(mod, "goals"):
        doc["goals"] = mod.goals(doc)  # verdicts follow the current thresholds; the numbers are the measured ones
    return doc


def write_report(docs, meta, quick):
    """Return the path of the markdown report after writing it and the plots."""
    import common as c

    target_dir = os.path.join(OUT, "quick") if quick else DOCS
    os.makedirs(target_dir, exist_ok=True)
    plots = {"plan_scale": "bench-planning.png", "apply_cost": "bench-apply.png"}
    for name, png in plots.items():
        if docs.get(name):
            importlib.import_module(name).plot(docs[name], os.path.join(target_dir, png))
    m = c.machine()
    goals = []
    for name in BENCHMARKS:
        for g in (docs.get(name) or {}).get("goals", []):
            goals.append([name, g["goal"], "met" if g["met"] else "**NOT MET**", g["value"]])
    parts = [
        "# Benchmarks\n",
        "Every number on this page was measured in one run of `%s%s` started on %s, which wrote this page "
        "and its plots (do not edit by hand: rerun). Each figure is a ratio measured side by side in the same "
        "run (contenders interleaved round by round: this machine is shared and noisy), given as the median "
        "with the spread (min-max) over the rounds.\n" % (COMMAND, " --quick" if quick else "", meta["date"]),
        "| machine | |\n|---|---|\n| cpus (nproc) | %s |\n| cpu | %s |\n| kernel | %s |\n| python | %s |\n"
        "| load average (1, 5, 15 min) at start / end | %s / %s |\n| util-linux | %s |\n| the run took | %s |\n"
        "| livemount measured | %s |\n"
        % (m["nproc"], m["cpu"] or "?", m["kernel"], m["python"], meta["load_start"], meta["load_end"],
           m["findmnt"], "; ".join("%s %s" % kv for kv in meta["runs"].items()), meta.get("source", "?")),
        "Reproduce: `%s` (as root, from the repository root; it creates `bench/.venv` on first use; add "
        "`--rev COMMIT` to measure a commit instead of the working tree). `--quick` is a smaller smoke run that "
        "writes to `bench/out/quick/` only. Each benchmark also runs alone: "
        "`bench/.venv/bin/python bench/NAME.py [--quick]`.\n" % COMMAND,
        "## Goals\n",
        c.md_table(["benchmark", "goal", "verdict", "measured: median (min-max)"], goals), "",
    ]
    notes = findings(docs)
    if notes:
        parts += ["## Goals not met: why\n", notes, ""]
    for name in BENCHMARKS:
        doc = docs.get(name)
        if doc is None:
            parts.append("## %s\n\nNot measured in this run: %s.\n" % (name, meta["runs"].get(name, "no result file")))
        elif name == "overlay_changes":
            parts.append(overlay_markdown(doc, meta))
        else:
            parts.append(importlib.import_module(name).markdown(doc))
    path = os.path.join(target_dir, "benchmarks.md")
    with open(path, "w") as f:
        f.write("\n".join(parts).rstrip() + "\n")
    return path


def findings(docs):
    """Return markdown explaining each missed goal from this run's own measurements ("" when all met)."""
    out = []
    for name in BENCHMARKS:
        doc = docs.get(name)
        if doc is None or name == "overlay_changes" or all(g["met"] for g in doc.get("goals", [])):
            continue
        text = importlib.import_module(name).why_missed(doc).strip()
        if text:
            out.append("### %s\n\n%s\n" % (name, text))
    return "\n".join(out)


def _load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def print_goals(docs):
    """Return None after printing every goal's verdict, one line each."""
    import common as c

    rows = [[name, "met" if g["met"] else "NOT MET", g["goal"], g["value"]]
            for name in BENCHMARKS for g in (docs.get(name) or {}).get("goals", [])]
    c.print_table("goals", ["benchmark", "verdict", "goal", "measured"], rows)


def main(argv=None):
    """Return 0 when every benchmark ran, 1 otherwise."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds; writes bench/out/quick/ only")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these (the report uses earlier results "
                                                                   "of the others)")
    p.add_argument("--report-only", action="store_true", help="run nothing: render the report from bench/out/")
    p.add_argument("--rev", metavar="COMMIT", help="measure this commit (exported with git archive) instead of "
                                                   "the working tree")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("cannot run the benchmarks: they mount things in private namespaces and need root")
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        py = ensure_venv()
        os.execv(py, [py, os.path.abspath(__file__)] + (sys.argv[1:] if argv is None else list(argv)))
    sys.path.insert(0, BENCH)
    meta_path = os.path.join(OUT, "quick" if args.quick else "", "run_all.json")
    if args.report_only:
        with open(meta_path) as f:
            meta = json.load(f)
    else:
        source = use_revision(args.rev) if args.rev else working_tree()
        meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_start": _load(), "runs": {}, "source": source}
        if args.only and os.path.exists(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)  # the others keep the results (and dates) of the run that made them
        for name in BENCHMARKS:
            if args.only and name not in args.only:
                continue
            if not os.path.exists(os.path.join(BENCH, name + ".py")):
                meta["runs"][name] = "not run: bench/%s.py does not exist yet" % name
                continue
            took, rc = run_benchmark(name, args.quick)
            meta["runs"][name] = "%.0f s" % took if rc == 0 else "FAILED (exit %d after %.0f s)" % (rc, took)
            if args.only:
                meta["runs"][name] += " (rerun alone, %s, %s)" % (time.strftime("%Y-%m-%d %H:%M"), source)
            print("==== %s: %s" % (name, meta["runs"][name]), flush=True)
        meta["load_end" if not args.only else "load_end_of_rerun"] = _load()
        meta.setdefault("load_end", meta.get("load_end_of_rerun"))
        os.makedirs(os.path.dirname(meta_path), exist_ok=True)
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1)
    docs = {name: load(name, args.quick) for name in BENCHMARKS}
    path = write_report(docs, meta, args.quick)
    print_goals(docs)
    print("\nwrote %s" % os.path.relpath(path, REPO))
    return 1 if any(r.startswith("FAILED") for r in meta["runs"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
