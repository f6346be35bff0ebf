"""Benchmark 3: a playbook looping over ansible.posix.mount vs one livemount.core.mount_profile task.

The same N mounts (half tmpfs `size=1m`, half binds of one directory), applied
by `ansible-playbook -c local` in a fresh private namespace per contender and
round: a first run, then a no-op rerun. ansible.posix.mount uses
`state: mounted` with a throwaway fstab (`fstab:` pointing into the scratch
directory), which is what its users run. Both playbooks run with Ansible's
default configuration (no pipelining, no fact gathering), so they pay the
same fixed cost. Per-item `changed` and the task's own time (its start to
end, what profile_tasks prints: the playbook less Ansible's start-up) come
from the ansible.posix.json callback; the mount count is checked after each
run (a rerun that stacks mounts is not a no-op).

Cheap extra: `state: ephemeral` run twice on a few tmpfs entries, to show
whether it converges (a second run reporting no change, no stacked mounts).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

NAME = "vs_ansible_posix"
CONTENDERS = ("ansible.posix.mount loop", "livemount.core.mount_profile")
FIXED = "ansible-playbook fixed cost (one ping task)"
POSIX_TASK = {
    "name": "mount entries",
    "ansible.posix.mount": {"path": "{{ item.target }}", "src": "{{ item.src }}", "fstype": "{{ item.fstype }}",
                            "opts": "{{ item.opts }}", "state": "{{ posix_state }}", "fstab": "{{ fstab }}"},
    "loop": "{{ entries }}",
}
LIVEMOUNT_TASK = {
    "name": "mount entries",
    "livemount.core.mount_profile": {"name": "bench", "mounts": "{{ profile_mounts }}", "state_dir": "{{ state_dir }}"},
}


def _entries(scratch, n, kinds=("tmpfs", "bind")):
    """Return [{target, src, fstype, opts}] for n mounts under scratch (directories left to the tools)."""
    src = os.path.join(scratch, "src")
    os.makedirs(src, exist_ok=True)
    out = []
    for i in range(n):
        t = os.path.join(scratch, "t", "e%04d" % i)
        if kinds[i % len(kinds)] == "bind":
            out.append({"target": t, "src": src, "fstype": "none", "opts": "bind"})
        else:
            out.append({"target": t, "src": "tmpfs", "fstype": "tmpfs", "opts": "size=1m"})
    return out


def _profile_mounts(entries):
    return [{"target": e["target"], "type": "bind", "source": e["src"]} if e["opts"] == "bind"
            else {"target": e["target"], "type": "tmpfs", "options": e["opts"].split(",")} for e in entries]


def write_playbook(directory, tasks, variables):
    """Return (playbook path, inventory path) of a one-play playbook on localhost written into `directory`."""
    play = [{"name": "bench", "hosts": "localhost", "gather_facts": False, "vars": variables, "tasks": list(tasks)}]
    pb = os.path.join(directory, "playbook.json")  # JSON is YAML: no yaml import needed
    with open(pb, "w") as f:
        json.dump(play, f)
    inv = os.path.join(directory, "inventory.ini")
    with open(inv, "w") as f:
        f.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    return pb, inv


def ansible_env(scratch):
    """Return the environment for ansible-playbook: our collection, default settings, quiet, JSON output."""
    tmp = os.path.join(scratch, ".ansible-tmp")
    return c.bench_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR=1, ANSIBLE_FORCE_COLOR=0,
                       ANSIBLE_LOCALHOST_WARNING=0, ANSIBLE_INVENTORY_UNPARSED_WARNING=0,
                       ANSIBLE_RETRY_FILES_ENABLED=0, ANSIBLE_LOCAL_TEMP=tmp, ANSIBLE_REMOTE_TEMP=tmp,
                       ANSIBLE_HOME=os.path.join(scratch, ".ansible"),
                       LIVEMOUNT_STATE_DIR=os.path.join(scratch, "state"))


def playbook_command(pb, inv):
    """Return the ansible-playbook command line of the benchmark's venv."""
    return [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-c", "local", "-i", inv, pb]


def _results(stdout):
    """Return (changed items, failed items) of the one task, from the json callback's output."""
    doc = json.loads(stdout[stdout.index("{"):])
    res = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
    if "ping" in res:
        return 0, 0
    items = res.get("results", [res])
    return sum(1 for r in items if r.get("changed")), sum(1 for r in items if r.get("failed"))


def _run_pair(scratch, contender, n, kinds=("tmpfs", "bind"), posix_state="mounted"):
    """Return {first, noop, changed_first, changed_noop, mounted_first, mounted_noop} (runs in a namespace)."""
    entries = _entries(scratch, n, kinds)
    variables = {"entries": entries, "fstab": os.path.join(scratch, "fstab"), "posix_state": posix_state,
                 "profile_mounts": _profile_mounts(entries), "state_dir": os.path.join(scratch, "state")}
    open(variables["fstab"], "w").close()
    task = {CONTENDERS[0]: POSIX_TASK, CONTENDERS[1]: LIVEMOUNT_TASK}.get(contender, {"ansible.builtin.ping": {}})
    pb, inv = write_playbook(scratch, [task], variables)
    env = ansible_env(scratch)
    out = {}
    base = c.mount_count()
    for run in ("first", "noop"):
        took, proc = c.run_timed(playbook_command(pb, inv), env=env, cwd=scratch)
        changed, failed = _results(proc.stdout)
        if failed:
            raise RuntimeError("cannot benchmark %s: %d items failed:\n%s" % (contender, failed, proc.stdout[-3000:]))
        out[run] = took
        out["task_" + run] = sum(c.task_times(proc.stdout)[0].values())
        out["changed_" + run] = changed
        out["mounted_" + run] = c.mount_count() - base
    return out


def _versions():
    """Return the versions of ansible-core and ansible.posix in this venv."""
    import importlib.metadata as md

    import ansible_collections.ansible.posix as posix

    with open(os.path.join(list(posix.__path__)[0], "MANIFEST.json")) as f:
        posix_version = json.load(f)["collection_info"]["version"]
    return {"ansible-core": md.version("ansible-core"), "ansible.posix": posix_version}


def run(sizes, repeats, ephemeral_n):
    """Return the result document: per N, per contender, first and no-op runs, and the ratios.

    `repeats` maps each N to its number of rounds.
    """
    doc = {"repeats": {str(n): r for n, r in repeats.items()}, "sizes": {}, "versions": _versions()}
    for n in sizes:
        print("  vs_ansible_posix: N=%d..." % n, flush=True)
        records = {k: [] for k in CONTENDERS + (FIXED,)}

        def contender(name, n=n, records=records):
            def go():
                r = c.in_namespace(_run_pair, name, n)
                records[name].append(r)
                return r["first"]
            return go

        c.rounds({k: contender(k) for k in records}, repeats[n])
        size = {}
        for k, recs in records.items():
            size[k] = {"first": c.summary([r["first"] for r in recs]), "noop": c.summary([r["noop"] for r in recs]),
                       "task_first": c.summary([r["task_first"] for r in recs]),
                       "task_noop": c.summary([r["task_noop"] for r in recs]),
                       "changed_first": [r["changed_first"] for r in recs],
                       "changed_noop": [r["changed_noop"] for r in recs],
                       "mounted_first": [r["mounted_first"] for r in recs],
                       "mounted_noop": [r["mounted_noop"] for r in recs]}
        posix, lm = records[CONTENDERS[0]], records[CONTENDERS[1]]
        size["ratio_first"] = c.ratio([r["first"] for r in posix], [r["first"] for r in lm])
        size["ratio_noop"] = c.ratio([r["noop"] for r in posix], [r["noop"] for r in lm])
        size["task_ratio_first"] = c.ratio([r["task_first"] for r in posix], [r["task_first"] for r in lm])
        size["task_ratio_noop"] = c.ratio([r["task_noop"] for r in posix], [r["task_noop"] for r in lm])
        size["posix_per_entry"] = {"first": c.summary([r["first"] / n for r in posix]),
                                   "noop": c.summary([r["noop"] / n for r in posix])}
        doc["sizes"][str(n)] = size
    if ephemeral_n:
        print("  vs_ansible_posix: state=ephemeral, N=%d, run twice..." % ephemeral_n, flush=True)
        try:
            doc["ephemeral"] = dict(c.in_namespace(_run_pair, CONTENDERS[0], ephemeral_n, ("tmpfs",), "ephemeral"),
                                    n=ephemeral_n)
        except RuntimeError as exc:
            doc["ephemeral"] = {"n": ephemeral_n, "error": str(exc).splitlines()[-1][:300]}
    big = str(max(sizes))
    doc["goals"] = [c.goal("livemount >= 30x faster than the ansible.posix.mount loop, N=%s, %s" % (big, label),
                           doc["sizes"][big][key]["median"] >= 30, c.fmt_ratio(doc["sizes"][big][key]))
                    for key, label in (("ratio_first", "first run"), ("ratio_noop", "no-op rerun"))]
    return doc


def table(doc):
    """Return (headers, rows): per N and contender, first run, no-op rerun, changed/mounted counts."""
    rows = []
    for n, size in doc["sizes"].items():
        for k in CONTENDERS + (FIXED,):
            s = size[k]
            rows.append([n, k, c.fmt_stat(s["first"]), c.fmt_stat(s["noop"]), c.fmt_stat(s["task_first"]),
                         c.fmt_stat(s["task_noop"]), "/".join(str(x) for x in s["changed_noop"]),
                         "/".join("%d->%d" % (a, b) for a, b in zip(s["mounted_first"], s["mounted_noop"]))])
        rows.append([n, "ratio (posix / livemount)", c.fmt_ratio(size["ratio_first"]), c.fmt_ratio(size["ratio_noop"]),
                     c.fmt_ratio(size["task_ratio_first"]), c.fmt_ratio(size["task_ratio_noop"]), "", ""])
    return ["N", "contender", "first run (playbook)", "no-op rerun (playbook)", "first run (task)",
            "no-op rerun (task)", "items changed on rerun", "mounts after run 1->2"], rows


def markdown(doc):
    """Return this benchmark's section of docs/benchmarks.md."""
    v = doc["versions"]
    lines = [
        "## 3. Against ansible.posix.mount\n",
        "`ansible-playbook -c local` in a fresh private namespace per contender and round (rounds per N: %s, "
        "interleaved): a loop over `ansible.posix.mount` (`state: mounted`, throwaway `fstab:`) vs one "
        "`livemount.core.mount_profile` task, the same N mounts (half tmpfs, half binds), first run then no-op "
        "rerun; wall time of the whole `ansible-playbook` process (*playbook*) and the task's own time, its start "
        "to end as the json callback records it (*task*, profile_tasks' figure), Ansible's default settings (the "
        "last row of each N is a playbook with one ping task: what any playbook costs here), ansible-core %s, "
        "ansible.posix %s. Reference measured elsewhere: the loop costs 0.27-0.32 s per entry.\n"
        % (", ".join("%s: %d" % kv for kv in doc["repeats"].items()), v["ansible-core"], v["ansible.posix"]),
        c.md_table(*table(doc)), "",
    ]
    for n, size in doc["sizes"].items():
        p = size["posix_per_entry"]
        lines.append("- N=%s: the ansible.posix.mount loop costs %s per entry on the first run and %s on the "
                     "rerun." % (n, c.fmt_stat(p["first"]), c.fmt_stat(p["noop"])))
    e = doc.get("ephemeral")
    if e and "error" in e:
        lines.append("- `state: ephemeral`, %d tmpfs entries, run twice: the second run failed: `%s`."
                     % (e["n"], e["error"]))
    elif e:
        if e["mounted_noop"] > e["mounted_first"]:
            verdict = "it does not converge: every rerun stacks another mount on each target"
        elif e["changed_noop"]:
            verdict = "it does not converge: every rerun reports a change (it mounts or remounts again)"
        else:
            verdict = "it converged"
        lines.append("- `state: ephemeral`, %d tmpfs entries, run twice: the rerun reported %d of %d items "
                     "changed, and the new mounts went from %d to %d: %s." % (
                         e["n"], e["changed_noop"], e["n"], e["mounted_first"], e["mounted_noop"], verdict))
    lines += ["", c.md_goals(doc["goals"]), ""]
    return "\n".join(lines)


def why_missed(doc):
    """Return markdown explaining the missed goals from this run's measurements ("" when all are met)."""
    lines = []
    for n, size in doc["sizes"].items():
        fixed = size[FIXED]["first"]["median"]
        for key, run, label in (("ratio_first", "first", "first run"), ("ratio_noop", "noop", "no-op rerun")):
            if int(n) != max(int(x) for x in doc["sizes"]) or size[key]["median"] >= 30:
                continue
            lm = size[CONTENDERS[1]][run]["median"]
            posix = size[CONTENDERS[0]][run]["median"]
            lines.append(
                "- **N=%s, %s: %s** (goal 30x). The livemount task's playbook takes %s, of which %s (%.0f%%) is "
                "what a playbook with one ping task costs on this machine; the loop costs %s per entry here. Even "
                "a free module could not beat %.0fx (the loop's time over the fixed cost): the ratio is bounded "
                "by ansible-playbook's start-up, not by livemount." % (
                    n, label, c.fmt_ratio(size[key]), c.fmt_time(lm), c.fmt_time(fixed), 100 * fixed / lm,
                    c.fmt_time(size["posix_per_entry"][run]["median"]), posix / fixed))
    return "\n".join(lines)


def main(argv=None):
    """Return 0 after running the benchmark and writing bench/out/vs_ansible_posix.json."""
    args = c.arguments(__doc__.splitlines()[0], argv)
    c.require_root()
    sizes = (10, 50) if args.quick else (50, 200)
    # N=200 is the long one (the loop takes minutes a round): fewer rounds keep the whole run near 20 minutes.
    rounds = {n: args.repeats or r for n, r in zip(sizes, (1, 1) if args.quick else (3, 2))}
    doc = run(sizes, rounds, 4 if args.quick else 10)
    return c.report(NAME, doc, args.out,
                    [("ansible.posix.mount loop vs livemount.core.mount_profile", table(doc))])


if __name__ == "__main__":
    sys.exit(main())
