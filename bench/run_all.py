#!/usr/bin/env python3
"""Run every livemount benchmark, print a table, write docs/benchmarks.md and its plots.

    sudo python3 bench/run_all.py            # the full run (about 20 minutes)
    sudo python3 bench/run_all.py --quick    # a smaller smoke run: results in bench/out/ only

The benchmarks run in their own environment, bench/.venv (the dev
requirements plus the `ansible` package, for ansible.posix, and matplotlib),
created on first use and kept until its requirements change; they never
touch the dev venv. Each benchmark is its own process and writes
bench/out/<name>.json; this script then renders them all (bench/report.py
writes the page and its plots). A benchmark that fails is reported and the
others still run.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

from report import BENCH, BENCHMARKS, OUT, REPO, load, overlay_arguments, print_goals, result_path, write_report

VENV = os.path.join(BENCH, ".venv")
VENV_PY = os.path.join(VENV, "bin", "python")
STAMP = os.path.join(VENV, ".bench-stamp")
EXTRA_REQUIREMENTS = ["ansible", "matplotlib"]


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

def commands(name, quick):
    """Return the command lines that run benchmark `name` (overlay_changes: one per pass of report.OVERLAY_PASSES)."""
    script = os.path.join(BENCH, name + ".py")
    if name == "overlay_changes":
        return [[sys.executable] + args for args in overlay_arguments(quick)]
    return [[sys.executable, script] + (["--quick", "--out", result_path(name, quick)] if quick else [])]


def run_benchmark(name, quick):
    """Return (seconds, exit status) of benchmark `name`'s commands (the first failure's status), output streamed."""
    t0, rc = time.time(), 0
    for cmd in commands(name, quick):
        print("\n==== %s: %s" % (name, " ".join(os.path.relpath(x, REPO) if x.startswith(REPO) else x
                                             for x in cmd)), flush=True)
        rc = rc or subprocess.run(cmd, cwd=REPO).returncode
    return time.time() - t0, rc


def _load():
    return "%.2f %.2f %.2f" % os.getloadavg()


# The same fixed pure-Python work, timed when a run starts and when it ends: this shared machine's speed drifts
# from day to day (one profile_load took 243 ms on one morning and 689 ms that evening, the code unchanged), and
# an absolute-time goal is read against it. Contenders measured side by side share the day's speed.
SPEED_STEPS = 10_000_000


def _speed():
    """Return, as text, the seconds an empty loop of SPEED_STEPS steps takes here now (the best of 3)."""
    best = None
    for _round in range(3):
        t0 = time.perf_counter()
        for _step in range(SPEED_STEPS):
            pass
        took = time.perf_counter() - t0
        best = took if best is None else min(best, took)
    return "%.2f s" % best


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
    failed = False
    if args.report_only:
        with open(meta_path) as f:
            meta = json.load(f)
    else:
        source = use_revision(args.rev) if args.rev else working_tree()
        now = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_start": _load(), "speed_start": _speed(),
               "source": source}
        meta = dict(now, runs={})
        rerun = bool(args.only) and os.path.exists(meta_path)
        if rerun:
            with open(meta_path) as f:
                meta = json.load(f)  # the others keep the results (and dates) of the run that made them
        for name in BENCHMARKS:
            if args.only and name not in args.only:
                continue
            if not os.path.exists(os.path.join(BENCH, name + ".py")):
                took = "not run: bench/%s.py does not exist yet" % name
            else:
                seconds, rc = run_benchmark(name, args.quick)
                took = "%.0f s" % seconds if rc == 0 else "FAILED (exit %d after %.0f s)" % (rc, seconds)
                failed = failed or rc != 0
            if rerun:
                meta.setdefault("reruns", {})[name] = dict(now, took=took)
            else:
                meta["runs"][name] = took
            print("==== %s: %s" % (name, took), flush=True)
        end, speed = _load(), _speed()
        for r in [meta["reruns"][name] for name in args.only] if rerun else [meta]:
            r["load_end"], r["speed_end"] = end, speed
        os.makedirs(os.path.dirname(meta_path), exist_ok=True)
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1)
    docs = {name: load(name, args.quick) for name in BENCHMARKS}
    path = write_report(docs, meta, args.quick)
    print_goals(docs)
    print("\nwrote %s" % os.path.relpath(path, REPO))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
