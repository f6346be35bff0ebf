"""Benchmark 1: a no-op plan at scale, and how its cost grows with entries and with table size.

Each point (N entries, table of about M mounts) is built in its own private
namespace: N entries (half binds of one directory, half tmpfs `size=1m`)
applied by the engine itself (so the state owns them, as after a real
apply), then foreign mounts (raw mount(2), half tmpfs, half binds) until the
table holds M mounts. Then, round after round, each on fresh data:

* read      LinuxSys.read_mountinfo()
* parse     parse_mountinfo(text)
* observe   observe(system, entries, owned): read + parse + lstat/realpath facts
* plan      plan(state, profile, world) on the World just observed (pure:
            the goal's "engine time"; it pays for the table indexes it builds)
* check     engine.reconcile(check=True): lock, state load, observe, plan, diff

Every plan is checked to be a no-op. The first apply's time is kept too: it
shows how the executor side scales.

Then the shapes users make (bench/shapes.py: directories livemount creates,
nested mounts, overlays), each N from 100 to 10,000 entries against
`SHAPE_FOREIGN` unrelated mounts: apply, no-op plan, destroy, in-process,
and the growth exponent of each. Last, whole processes: `livemount plan
--json` of 5,000 entries (the created shape) against a table of 10,000
mounts, wall time and peak memory.
"""

import cProfile
import json
import math
import os
import pstats
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402
import shapes  # noqa: E402

NAME = "plan_scale"
FULL = {1000: (100, 250, 500, 1000), 2500: (100, 1000), 5000: (100, 1000), 10000: (100, 500, 1000, 2000, 5000)}
QUICK = {1000: (100, 500, 1000), 3000: (100, 500, 1000)}
PHASES = ("read", "parse", "observe", "plan", "check")
GOAL_POINT = (1000, 10000)  # (entries, mounts)
SHAPE_SIZES = {"full": (100, 300, 1000, 3000, 10000), "quick": (100, 300, 1000)}
SHAPE_FOREIGN = 5000  # unrelated mounts in each shape point's namespace (quick: 1000)
SHAPE_GOAL_EXPONENT = 1.1
PROCESS_POINT = {"full": (5000, 10000), "quick": (1000, 3000)}  # (entries, mounts) of the whole-process rows
PROCESS_GOAL = (0.5, 60 * 1024)  # seconds, peak KiB


def _entries(scratch, n):
    """Return the profile data of n entries under scratch/p (directories created)."""
    src = os.path.join(scratch, "src")
    os.makedirs(src, exist_ok=True)
    mounts = []
    for i in range(n):
        t = os.path.join(scratch, "p", "g%03d" % (i // 100), "e%05d" % i)
        os.makedirs(t)
        if i % 2:
            mounts.append({"target": t, "type": "bind", "source": src})
        else:
            mounts.append({"target": t, "type": "tmpfs", "options": ["size=1m"]})
    return {"name": "bench-plan", "mounts": mounts}


def _profile_plan(plan, st, prof, world):
    """Return [(function, share of plan's time)] of one cProfile'd plan(), top 8 by own time."""
    pr = cProfile.Profile()
    pr.enable()
    plan.plan(st, prof, world)
    pr.disable()
    stats = pstats.Stats(pr).stats
    total = sum(v[2] for v in stats.values()) or 1.0
    rows = sorted(((os.path.basename(k[0]) + ":" + k[2] if k[0] != "~" else k[2], v[2] / total)
                   for k, v in stats.items()), key=lambda r: -r[1])
    return rows[:8]


def _point(scratch, n, m, repeats, profile_it=False):
    """Return the measurements of one (n entries, m mounts) point (runs in a private namespace)."""
    profile, engine, sys_linux = c.engine("profile.load"), c.engine("engine"), c.engine("kernel.sys_linux")
    observe, plan, mountinfo, state = c.engine("observe"), c.engine("plan"), c.engine("mountinfo"), c.engine("state")
    load_s, prof = c.timed(profile.load_profile, _entries(scratch, n))  # schema + rules, once per point
    root = os.path.join(scratch, "state")
    system = sys_linux.LinuxSys()
    apply_s, report = c.timed(engine.reconcile, prof, system, root=root)
    if len(plan.to_perform(report.changes)) != n or report.failed:
        raise RuntimeError("cannot build the point: the first apply did not mount %d entries" % n)
    c.fill_table(os.path.join(scratch, "f"), max(0, m - c.mount_count()))
    st = state.StateStore(root, system.namespace_id(), prof.name).load()
    samples = {p: [] for p in PHASES + ("plan_cpu",)}
    for _ in range(repeats):
        t, text = c.timed(system.read_mountinfo)
        samples["read"].append(t)
        samples["parse"].append(c.timed(mountinfo.parse_mountinfo, text)[0])
        t, world = c.timed(observe.observe, system, prof.entries, st.owned)
        samples["observe"].append(t)
        cpu0 = time.thread_time()
        t, changes = c.timed(plan.plan, st, prof, world)
        samples["plan_cpu"].append(time.thread_time() - cpu0)  # without the waits for a CPU on a busy machine
        samples["plan"].append(t)
        if plan.to_perform(changes) or plan.conflicts_in(changes) or len(changes) != n:
            raise RuntimeError("cannot measure a no-op plan: the plan is not %d keeps" % n)
        t, rep = c.timed(engine.reconcile, prof, system, root=root, check=True)
        samples["check"].append(t)
        if rep.changed:
            raise RuntimeError("cannot measure a no-op check: it reports changes")
    out = {"n": n, "m": m, "mounts": c.mount_count(), "first_apply": apply_s, "load_profile": load_s,
           "phases": {p: c.summary(v) for p, v in samples.items()}}
    if profile_it:
        out["plan_profile"] = _profile_plan(plan, st, prof, observe.observe(system, prof.entries, st.owned))
    return out


def _fit(xs, ys):
    """Return (slope, intercept, r2) of the least-squares line through the points."""
    k = len(xs)
    mx, my = sum(xs) / k, sum(ys) / k
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx if sxx else 0.0
    icpt = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (icpt + slope * x)) ** 2 for x, y in zip(xs, ys))
    return slope, icpt, (1 - ss_res / ss_tot) if ss_tot else 1.0


def run(sizes, repeats):
    """Return the result document: one record per point, the linear fits and the goals."""
    points = []
    for m, ns in sizes.items():
        for n in ns:
            print("  plan_scale: %d entries, %d mounts..." % (n, m), flush=True)
            points.append(c.in_namespace(_point, n, m, repeats, (n, m) == (1000, max(sizes))))
    big = max(sizes)
    curve = sorted((p for p in points if p["m"] == big), key=lambda p: p["n"])
    fit = _fit([p["n"] for p in curve], [p["phases"]["plan"]["median"] for p in curve])
    doc = {"repeats": repeats, "points": points, "big_table": big,
           "fit": {"per_entry": fit[0], "intercept": fit[1], "r2": fit[2]}}
    by = {(p["n"], p["m"]): p for p in points}
    goals = []
    if GOAL_POINT in by:
        st = by[GOAL_POINT]["phases"]["plan"]
        goals.append(c.goal("no-op plan() of 1,000 entries against 10,000 mounts under 0.1 s",
                            st["median"] < 0.1, c.fmt_stat(st)))
    lo, hi = curve[0], curve[-1]
    grow = hi["phases"]["plan"]["median"] / lo["phases"]["plan"]["median"]
    # The exponent k of time ~ entries^k (a straight line on log-log axes): 1 is linear, 2 quadratic.
    k = _fit([math.log(p["n"]) for p in curve], [math.log(p["phases"]["plan"]["median"]) for p in curve])[0]
    doc["growth"] = {"from": lo["n"], "to": hi["n"], "entries_ratio": hi["n"] / lo["n"], "time_ratio": grow,
                     "exponent": k}
    goals.append(c.goal("plan() cost grows linearly with entries (%d mounts): exponent of a log-log fit <= 1.15"
                        % big, k <= 1.15,
                        "exponent %.2f; %.1fx the time for %.0fx the entries; linear fit R^2 = %.3f, %s per entry"
                        % (k, grow, hi["n"] / lo["n"], fit[2], c.fmt_time(fit[0]))))
    doc["goals"] = goals
    return doc


def run_shapes(sizes, foreign, rounds):
    """Return {shape: [point]}: each shape of bench/shapes.py at each size, one private namespace per point."""
    out = {}
    for shape in shapes.SHAPES:
        out[shape] = []
        for n in sizes:
            print("  plan_scale: shape %s, %d entries, %d foreign mounts..." % (shape, n, foreign), flush=True)
            out[shape].append(c.in_namespace(shapes.measure_point, shape, n, foreign, rounds))
    return out


def _process_point(scratch, n, m, rounds):
    """Return the whole-process rows: `livemount plan --json` of n created-shape entries against m mounts."""
    load, engine, sys_linux = c.engine("profile.load"), c.engine("engine"), c.engine("kernel.sys_linux")
    doc = shapes.profile_data("created", scratch, n)
    root = os.path.join(scratch, "state")
    engine.reconcile(load.load_profile(doc), sys_linux.LinuxSys(), root=root)
    c.fill_table(os.path.join(scratch, "f"), max(0, m - c.mount_count()))
    path = shapes.write_yaml(doc, os.path.join(scratch, "profile.yaml"))
    env = c.bench_env(NO_COLOR=1, COLUMNS=100)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users run with bytecode caches
    cmd = [os.path.join(c.BIN, "livemount"), "--state-dir", root, "plan", "--json", path]
    _, _, proc = c.run_measured(cmd, env=env)  # warm-up (writes the bytecode caches), and the check:
    if json.loads(proc.stdout)["changed"]:
        raise RuntimeError("cannot time a no-op plan: the plan has changes")
    walls, peaks = [], []
    for _ in range(rounds):
        wall, peak, _ = c.run_measured(cmd, env=env)
        walls.append(wall)
        peaks.append(peak or 0)
    return {"n": n, "mounts": c.mount_count(), "rows": {"livemount plan --json": {
        "wall": c.summary(walls), "peak_kib": c.summary(peaks)}}}


def run_process(point, rounds):
    """Return the whole-process point (runs in a private namespace)."""
    n, m = point
    print("  plan_scale: whole process, %d entries, %d mounts..." % (n, m), flush=True)
    return c.in_namespace(_process_point, n, m, rounds)


def shape_goals(doc):
    """Return the goal records of the shapes and whole-process sections (present ones only)."""
    out = []
    for shape, points in sorted(doc.get("shapes", {}).items()):
        if len(points) < 2:
            continue
        lo, hi = points[0]["n"], points[-1]["n"]
        for phase in ("apply", "check", "destroy"):
            k = shapes.exponent(points, phase)
            what = {"check": "no-op plan (reconcile check)"}.get(phase, phase)
            out.append(c.goal("%s shape: %s linear in entries, %d to %d (in-process, CPU): log-log exponent <= %.1f"
                              % (shape, what, lo, hi, SHAPE_GOAL_EXPONENT), k <= SHAPE_GOAL_EXPONENT,
                              "exponent %.2f" % k))
    proc = doc.get("process")
    if proc:
        row = proc["rows"]["livemount plan --json"]
        out.append(c.goal("whole process: no-op `livemount plan --json` of %d entries against %d mounts under %.1f s"
                          % (proc["n"], proc["mounts"], PROCESS_GOAL[0]), row["wall"]["median"] < PROCESS_GOAL[0],
                          c.fmt_stat(row["wall"])))
        if row["peak_kib"]["median"]:
            out.append(c.goal("whole process: its peak memory under %d MiB" % (PROCESS_GOAL[1] // 1024),
                              row["peak_kib"]["median"] < PROCESS_GOAL[1],
                              c.fmt_stat(row["peak_kib"], 1 / 1024.0, " MiB")))
    return out


def why_missed(doc):
    """Return markdown explaining the missed goals from this run's measurements ("" when all are met)."""
    by = {(p["n"], p["m"]): p for p in doc["points"]}
    big = doc["big_table"]
    lines = []
    goal = by.get(GOAL_POINT)
    if goal and goal["phases"]["plan"]["median"] >= 0.1:
        small_table = min((p for p in doc["points"] if p["n"] == 1000), key=lambda p: p["m"])
        few = by.get((100, big))
        lines.append("- **no-op plan() of 1,000 entries against %d mounts: %s** (goal 0.1 s). The same 1,000 "
                     "entries against %d mounts: %s; 100 entries against %d mounts: %s. So the cost follows the "
                     "entries more than the table." % (
                         goal["mounts"], c.fmt_stat(goal["phases"]["plan"]), small_table["mounts"],
                         c.fmt_stat(small_table["phases"]["plan"]), few["mounts"] if few else 0,
                         c.fmt_stat(few["phases"]["plan"]) if few else "-"))
        cpu = goal["phases"].get("plan_cpu")
        if cpu:
            load = doc.get("machine", {}).get("loadavg")
            lines.append("  - The same plan() calls used %s of CPU time%s: the rest of the wall time "
                         "was spent waiting for a CPU." % (c.fmt_stat(cpu), "" if not load else
                                               " (load average %.1f on %d CPUs when this benchmark ended)"
                                               % (load[0], doc["machine"]["nproc"])))
    prof = next((p for p in doc["points"] if "plan_profile" in p), None)
    if lines and prof:
        lines.append("  - Where one plan() of %d entries against %d mounts spends its own time (cProfile, "
                     "top functions by own time): %s." % (prof["n"], prof["mounts"], ", ".join(
                         "`%s` %.0f%%" % (f, 100 * share) for f, share in prof["plan_profile"])))
    g = doc["growth"]
    if not next(x for x in doc["goals"] if "linearly" in x["goal"])["met"]:
        lines.append("- **plan() grows %.1fx for %.0fx the entries** (%d -> %d against %d mounts; time ~ "
                     "entries^%.2f)." % (g["time_ratio"], g["entries_ratio"], g["from"], g["to"], big, g["exponent"]))
    curve = sorted((p for p in doc["points"] if p["m"] == big), key=lambda p: p["n"])
    a, b = curve[0], curve[-1]
    if b["first_apply"] / a["first_apply"] > 1.5 * b["n"] / a["n"]:
        lines.append("- Not a goal, but the same cause as the apply cost: the *first apply* grows %.0fx for "
                     "%.0fx the entries (%s for %d, %s for %d): quadratic (plan._rebuild_children, see "
                     "apply_cost)." % (b["first_apply"] / a["first_apply"], b["n"] / a["n"],
                                      c.fmt_time(a["first_apply"]), a["n"], c.fmt_time(b["first_apply"]), b["n"]))
    for g in doc["goals"]:
        if g["met"] or " shape: " not in g["goal"]:
            continue
        shape = g["goal"].split(" ")[0]
        points = doc["shapes"][shape]
        lines.append("- **%s** (%s). Exponents of every phase of that shape: %s; the kernel's own raw mount+umount "
                     "loop at the same sizes: %.2f, so the rest is the engine's." % (
                         g["goal"], g["value"], ", ".join("%s %.2f" % (ph, shapes.exponent(points, ph))
                                                          for ph in shapes.PHASES[:-1]),
                         shapes.exponent(points, "raw mount+umount")))
    return "\n".join(lines)


def table(doc):
    """Return (headers, rows): one row per point, every phase as median (min-max)."""
    rows = []
    for p in sorted(doc["points"], key=lambda p: (p["m"], p["n"])):
        cpu = p["phases"].get("plan_cpu")
        rows.append([p["n"], p["mounts"]] + [c.fmt_stat(p["phases"][ph]) for ph in PHASES]
                    + [c.fmt_stat(cpu) if cpu else "-", c.fmt_time(p["first_apply"])]
                    + [c.fmt_time(p["load_profile"]) if "load_profile" in p else "-"])
    return ["entries", "mounts", "read", "parse", "observe", "plan() (goal)", "reconcile check", "plan() CPU time",
            "first apply", "load_profile"], rows


def shape_table(doc):
    """Return (headers, rows): per shape and size, each phase's CPU time (median, min-max), then the exponents."""
    rows = []
    for shape, points in sorted(doc.get("shapes", {}).items()):
        for p in points:
            rows.append([shape, p["n"], p["mounts"]] + [c.fmt_stat(p["phases"][ph]["cpu"]) for ph in shapes.PHASES])
        if len(points) > 1:
            rows.append([shape, "exponent %d-%d" % (points[0]["n"], points[-1]["n"]), ""]
                        + ["%.2f" % shapes.exponent(points, ph) for ph in shapes.PHASES])
    return ["shape", "entries", "mounts", "apply", "plan()", "no-op check", "destroy", "raw mount+umount (kernel)"], rows


def process_table(doc):
    """Return (headers, rows) of the whole-process rows."""
    proc = doc.get("process")
    if not proc:
        return ["command"], []
    return ["command (whole process)", "entries", "mounts", "wall: median (min-max)", "peak memory"], [
        [name, proc["n"], proc["mounts"], c.fmt_stat(r["wall"]),
         c.fmt_stat(r["peak_kib"], 1 / 1024.0, " MiB") if r["peak_kib"]["median"] else "not measured"]
        for name, r in proc["rows"].items()]


def _shapes_markdown(doc):
    if not doc.get("shapes"):
        return "Not measured in this run (an older result).\n"
    first = next(iter(doc["shapes"].values()))[0]
    return "\n".join([
        "### 1a. Shapes users make (in-process)\n",
        "From bench/shapes.py (see its docstring): profiles whose directories livemount creates (*created*), "
        "mounts nested in a mount the same profile makes (*nested*), and a quarter overlays (*overlay*), each in "
        "its own private namespace with %d unrelated mounts. Each round applies from nothing, plans a no-op "
        "(*plan()*: the pure planner on the observed World; *no-op check*: `engine.reconcile(check=True)`, what "
        "`livemount plan` runs), destroys, then times a raw loop of as many tmpfs mount(2) + umount2(2) on fresh "
        "directories (the kernel's own cost at that table size). Figures are thread CPU time, median (min-max) of "
        "%d rounds; the exponent k of time ~ entries^k is fitted on the medians. *mounts* is the table size with "
        "the profile applied.\n" % (first["mounts"] - first["n"], first["phases"]["apply"]["cpu"]["n"]),
        c.md_table(*shape_table(doc)), ""])


def _process_markdown(doc):
    if not doc.get("process"):
        return ""
    return "\n".join([
        "### 1b. Whole process\n",
        "`livemount plan --json PROFILE` as a user runs it (a fresh process: Python start-up, imports, YAML, "
        "validation, state, observe, plan, JSON out), the created shape already applied, no-op; wall time and "
        "peak resident memory (GNU time's %M) over the rounds, bytecode caches warm.\n",
        c.md_table(*process_table(doc)), ""])


def markdown(doc):
    """Return this benchmark's section of docs/benchmarks.md."""
    g = doc["growth"]
    return "\n".join([
        "## 1. Planning at scale\n",
        "In-process engine calls unless a row says *whole process*. A no-op plan: the profile's N entries are "
        "live and owned (applied by the engine first), the rest of the table is foreign mounts. Each point is its own private namespace; %d rounds per point, phases "
        "measured one after the other on fresh data each round; median (min-max) of wall time. *plan()* is the "
        "pure planner given the World (the goal's engine time; *plan() CPU time* is the same calls' thread CPU "
        "time, which leaves out waiting for a CPU on this shared machine); *observe* reads and parses the table "
        "and lstats "
        "the entries' paths; *reconcile check* is the whole `livemount plan` engine path. *first apply* is the "
        "single apply that built the point (for the record: it is not a no-op); *load_profile* is the one "
        "validation of its profile (schema and rules) before that apply.\n" % doc["repeats"],
        c.md_table(*table(doc)), "",
        "plan() against %d mounts: %s per entry (least-squares fit, R^2 = %.3f); %d -> %d entries costs %.1fx "
        "the time for %.0fx the entries.\n" % (doc["big_table"], c.fmt_time(doc["fit"]["per_entry"]),
                                                doc["fit"]["r2"], g["from"], g["to"], g["time_ratio"],
                                                g["entries_ratio"]),
        "![planning at scale](bench-planning.png)\n",
        _shapes_markdown(doc), _process_markdown(doc),
        c.md_goals(doc["goals"]), "",
    ])


def plot(doc, path):
    """Return None after writing the three-panel planning chart to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = doc["points"]
    big = doc["big_table"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), dpi=100)

    def series(ax, sel, key, phase, label, style):
        chosen = sorted((p for p in pts if sel(p)), key=lambda p: p[key])
        if len(chosen) < 2:
            return
        xs = [p[key] if key == "n" else p["mounts"] for p in chosen]
        st = [p["phases"][phase] for p in chosen]
        med = [s["median"] * 1e3 for s in st]
        err = [[(s["median"] - s["min"]) * 1e3 for s in st], [(s["max"] - s["median"]) * 1e3 for s in st]]
        ax.errorbar(xs, med, yerr=err, fmt=style, label=label, capsize=3, markersize=5)

    ax = axes[0]
    for m, style in ((big, "o-"), (min(p["m"] for p in pts), "s--")):
        series(ax, lambda p, m=m: p["m"] == m, "n", "plan", "plan(), ~%d mounts" % m, style)
    series(ax, lambda p: p["m"] == big, "n", "observe", "observe(), ~%d mounts" % big, "^:")
    ax.axhline(100, color="red", lw=1, ls="--", label="goal: 100 ms")
    fit = doc["fit"]
    xmax = max(p["n"] for p in pts)
    ax.plot([0, xmax], [fit["intercept"] * 1e3, (fit["intercept"] + fit["per_entry"] * xmax) * 1e3],
            color="gray", lw=0.8, label="linear fit of plan() (R^2=%.3f)" % fit["r2"])
    ax.set_xlabel("entries in the profile")
    ax.set_ylabel("milliseconds (median, bars min-max)")
    ax.set_title("No-op plan vs profile size")
    ax.legend(fontsize=8)

    ax = axes[1]
    ns = sorted({p["n"] for p in pts})
    for n, plan_style, observe_style in ((max(x for x in ns if x <= 1000), "o-", "o:"), (min(ns), "s--", "s-.")):
        series(ax, lambda p, n=n: p["n"] == n, "m", "plan", "plan(), %d entries" % n, plan_style)
        series(ax, lambda p, n=n: p["n"] == n, "m", "observe", "observe(), %d entries" % n, observe_style)
    series(ax, lambda p: p["n"] == min(ns), "m", "parse", "parse_mountinfo()", "d-")
    ax.set_xlabel("mounts in the live table")
    ax.set_ylabel("milliseconds")
    ax.set_title("No-op plan vs table size")
    ax.legend(fontsize=8)

    ax = axes[2]
    curve = sorted((p for p in pts if p["m"] == big), key=lambda p: p["n"])
    xs = [p["n"] for p in curve]
    ys = [p["first_apply"] for p in curve]
    ax.plot(xs, ys, "o-", label="first apply (engine.reconcile)")
    if xs:
        per = ys[0] / xs[0]
        ax.plot([0, xs[-1]], [0, per * xs[-1]], color="gray", ls="--", lw=0.8,
                label="linear from the smallest point")
    ax.set_xlabel("entries applied (one run each)")
    ax.set_ylabel("seconds")
    ax.set_title("First apply vs profile size (one sample)")
    ax.legend(fontsize=8)
    for a in axes:
        a.grid(alpha=0.3)
        a.set_xlim(left=0)
        a.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    """Return 0 after running the benchmark and writing bench/out/plan_scale.json."""
    args = c.arguments(__doc__.splitlines()[0], argv)
    c.require_root()
    size = "quick" if args.quick else "full"
    doc = run(QUICK if args.quick else FULL, args.repeats or (3 if args.quick else 10))
    doc["shapes"] = run_shapes(SHAPE_SIZES[size], 1000 if args.quick else SHAPE_FOREIGN, 1 if args.quick else 2)
    doc["process"] = run_process(PROCESS_POINT[size], 3 if args.quick else 7)
    doc["goals"] += shape_goals(doc)
    return c.report(NAME, doc, args.out, [("no-op plan at scale", table(doc)), ("shapes users make", shape_table(doc)),
                                          ("whole process", process_table(doc))])


if __name__ == "__main__":
    sys.exit(main())
