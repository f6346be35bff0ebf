"""Profile shapes users make, measured end to end in-process for bench/plan_scale.py.

plan_scale's first sweep pre-creates every target directory and keeps the
entries flat: the shape where livemount has least to do. Users let livemount
create the directories (mkdir, the default), nest mounts inside mounts and
mix in overlays. Each shape here is one such profile of N entries:

* created  targets /p/gNNN/eNNNNN that do not exist: livemount creates the
           group and target directories (the state's `created` list holds
           N + N/100 paths) and removes them on destroy;
* nested   every 50th entry a tmpfs at /p/gNNN, the other 49 below it at
           /p/gNNN/dK/eNNNNN: mount points created inside a mount the same
           plan makes;
* overlay  as created, every 4th entry an overlay with its own lower, upper
           and work directories (made beforehand, as a user makes them).

A point (shape, N) runs in its own private namespace holding `foreign`
unrelated mounts. Each round: apply from nothing (engine.reconcile), a no-op
plan() on the observed World, a no-op engine.reconcile(check=True) (what
`livemount plan` runs) and destroy (engine.destroy); then a raw loop of N
tmpfs mount(2) + umount2(2) on fresh directories, the kernel's own cost at
that table size. Thread CPU time and wall time of each call are kept; the
CPU time, which leaves out waiting for a CPU on a shared machine, is what
the growth exponents are fitted on.
"""

import json
import os
import time

import common as c

SHAPES = ("created", "nested", "overlay")
PHASES = ("apply", "plan", "check", "destroy", "raw mount+umount")


def profile_data(shape, scratch, n):
    """Return the profile mapping of `shape` with `n` entries under `scratch` (layer directories made)."""
    src = os.path.join(scratch, "src")
    os.makedirs(src, exist_ok=True)
    mounts = []
    for i in range(n):
        if shape == "nested":
            group = os.path.join(scratch, "p", "g%03d" % (i // 50))
            if i % 50 == 0:
                mounts.append({"target": group, "type": "tmpfs", "options": ["size=1m"]})
                continue
            target = os.path.join(group, "d%d" % (i % 5), "e%05d" % i)
        else:
            target = os.path.join(scratch, "p", "g%03d" % (i // 100), "e%05d" % i)
        if shape == "overlay" and i % 4 == 0:
            layers = os.path.join(scratch, "ov", "%05d" % i)
            for d in ("lower", "upper", "work"):
                os.makedirs(os.path.join(layers, d), exist_ok=True)
            mounts.append({"target": target, "type": "overlay", "lower": [layers + "/lower"],
                           "upper": layers + "/upper", "work": layers + "/work"})
        elif i % 2:
            mounts.append({"target": target, "type": "bind", "source": src})
        else:
            mounts.append({"target": target, "type": "tmpfs", "options": ["size=1m"]})
    return {"name": "bench-%s" % shape, "mounts": mounts}


def write_yaml(doc, path):
    """Return `path` after writing profile mapping `doc` there as YAML, one flow mapping per entry."""
    with open(path, "w") as f:
        f.write("name: %s\nmounts:\n" % doc["name"])
        for m in doc["mounts"]:
            f.write("  - %s\n" % json.dumps(m))  # JSON flow mappings are YAML
    return path


def _clocked(fn, *args, **kwargs):
    """Return (thread CPU seconds, wall seconds, result) of one call."""
    cpu0, t0 = time.thread_time(), time.perf_counter()
    result = fn(*args, **kwargs)
    return time.thread_time() - cpu0, time.perf_counter() - t0, result


def _raw_loop(base, n):
    """Return (cpu, wall) of mounting a tmpfs on n fresh directories under `base`, then unmounting them."""
    dirs = [os.path.join(base, "r%05d" % i) for i in range(n)]
    for d in dirs:
        os.makedirs(d)

    def loop():
        for d in dirs:
            c.mount("tmpfs", d, "tmpfs", 0, "size=64k")
        for d in dirs:
            c.umount(d)

    cpu, wall, _ = _clocked(loop)
    for d in dirs:
        os.rmdir(d)
    return cpu, wall


def measure_point(scratch, shape, n, foreign, rounds):
    """Return {mounts, phases: {phase: {cpu, wall}}} of one (shape, n) point (runs in a private namespace)."""
    load, engine, plan = c.engine("profile.load"), c.engine("engine"), c.engine("plan")
    observe, state, sys_linux = c.engine("observe"), c.engine("state"), c.engine("kernel.sys_linux")
    c.fill_table(os.path.join(scratch, "f"), foreign)
    base_mounts = c.mount_count()
    doc = profile_data(shape, scratch, n)
    prof = load.load_profile(doc)
    root = os.path.join(scratch, "state")
    system = sys_linux.LinuxSys()
    cpu = {p: [] for p in PHASES}
    wall = {p: [] for p in PHASES}

    def keep(phase, result):
        cpu[phase].append(result[0])
        wall[phase].append(result[1])
        return result[2]

    mounts = None
    for _ in range(rounds):
        report = keep("apply", _clocked(engine.reconcile, prof, system, root=root))
        if report.failed or len(plan.to_perform(report.changes)) < n:
            raise RuntimeError("cannot build the %s point: the apply did not make %d entries" % (shape, n))
        mounts = c.mount_count()
        st = state.StateStore(root, system.namespace_id(), prof.name).load()
        if shape == "created" and len(st.created) < n:
            raise RuntimeError("cannot measure the created shape: livemount created %d paths" % len(st.created))
        world = observe.observe(system, prof.entries, st.owned)
        changes = keep("plan", _clocked(plan.plan, st, prof, world))
        if plan.to_perform(changes) or plan.conflicts_in(changes):
            raise RuntimeError("cannot measure a no-op plan of the %s shape: it has changes" % shape)
        if keep("check", _clocked(engine.reconcile, prof, system, root=root, check=True)).changed:
            raise RuntimeError("cannot measure a no-op check of the %s shape: it reports changes" % shape)
        keep("destroy", _clocked(engine.destroy, prof.name, system, root=root))
        if c.mount_count() != base_mounts or os.path.exists(os.path.join(scratch, "p")):
            raise RuntimeError("cannot trust the %s destroy: mounts or created directories are left" % shape)
        raw = os.path.join(scratch, "raw")
        os.makedirs(raw, exist_ok=True)
        cpu_s, wall_s = _raw_loop(raw, n)
        cpu["raw mount+umount"].append(cpu_s)
        wall["raw mount+umount"].append(wall_s)
    return {"shape": shape, "n": n, "mounts": mounts,
            "phases": {p: {"cpu": c.summary(cpu[p]), "wall": c.summary(wall[p])} for p in PHASES}}


def exponent(points, phase):
    """Return k of time ~ entries^k: the least-squares slope of log(CPU median) on log(entries)."""
    import math

    xs = [math.log(p["n"]) for p in points]
    ys = [math.log(max(p["phases"][phase]["cpu"]["median"], 1e-9)) for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
