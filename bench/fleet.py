"""Benchmark 7: the fleet rollout (playbooks/rollout.yml) over namespace hosts, against what it is made of.

H hosts, each a namespace instance made by molecule/shared/nsinst (its own
mount, UTS, IPC and PID namespaces on the host's root, /mnt and /run its own
tmpfs) reached through the nsinst connection (tests-only: `nsenter` around
the builtin local connection). Every host gets the same profile of M mounts
(half tmpfs, half binds of /mnt/src) under /mnt/b, a tmpfs of its own that
is emptied between runs, with livemount's state (/run/livemount) removed:
each "first run" starts from nothing. Whole `ansible-playbook` processes,
contenders interleaved round by round, first run then rerun:

* `rollout.yml`: playbooks/rollout.yml as shipped (canary, serial batches,
  validation, apply, verification, rollback on failure);
* `one mount_profile task`: a playbook of one livemount.core.mount_profile
  task, the same profile;
* `ansible.posix.mount loop`: a loop of ansible.posix.mount (`state:
  mounted`, an fstab of its own in /run) over the same M mounts;
* the same rollout and task with pipelining on (Ansible's default is off;
  livemount's modules run from a copied file all the same:
  plugins/plugin_utils/from_file.py);
* `ansible -m ping` of the H hosts: what reaching them costs at all;
* `drift.yml --check`: playbooks/drift.yml on the converged fleet, with
  Ansible's default output, as users run it (ping's row has its `-o` line
  per host); `drift.yml --check, JSON output` is the same run with the
  ansible.posix.json callback, which dumps every host's whole result at the
  end: what that output costs, and the drift play's task times;
* the drift play's plan task taken apart (write_parts): the same JSON run
  with the task's module replaced by a stub taking the same arguments, the
  stub with the engine in its payload, and the stub importing the engine.

Ansible runs with its defaults otherwise (forks 5, linear strategy). Task
times come from the ansible.posix.json callback (each task's start to end,
over every batch: what profile_tasks prints); a run with
ANSIBLE_KEEP_REMOTE_FILES on one host measures each module's AnsiballZ
payload (the file Ansible copies, and the zip inside it) and what the
hosts' Python takes to read one that size from a file and from stdin.
"""

import base64
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

NAME = "fleet"
NSINST = os.path.join(c.SRC, "molecule", "shared", "nsinst")
CONNECTIONS = os.path.join(c.SRC, "molecule", "shared", "plugins", "connection")
PLAYS = ("rollout.yml", "one mount_profile task", "ansible.posix.mount loop", "rollout.yml, pipelining",
         "one mount_profile task, pipelining")
DRIFT = "drift.yml --check"
DRIFT_JSON = DRIFT + ", JSON output"
# The drift play's plan task taken apart: the same playbook (JSON output), the task's action plugin kept, its
# module replaced by one of the bench's own (write_parts): what Ansible costs for such a task, then what
# carrying the engine to each host and importing it there add, before any planning.
PARTS = "livemount_bench.parts"
DRIFT_PARTS = ((DRIFT + ", plan by a stub module", "stub"),
               (DRIFT + ", plan by the stub shipping the engine", "shipped"),
               (DRIFT + ", plan by the stub importing the engine", "imported"))
CHECKS = ("ansible -m ping", DRIFT, DRIFT_JSON) + tuple(name for name, _ in DRIFT_PARTS)
CHECK_REPEATS = 2  # runs of each check per round: they are short, and the drift goal is a ratio of two of them
PLAN_TASK = "Plan every profile (check mode)"
GOALS = {"task": 1.5, "posix": 8, "drift": 1.2}
PAYLOAD_MODULES = ("mount_profile", "mount_profile_info", "ping", "mount")


# ---- the hosts ------------------------------------------------------------------------------------

def start_hosts(prefix, count):
    """Return {name: pid} after starting `count` namespace instances (in parallel) named host-NN."""
    names = ["host-%02d" % i for i in range(count)]
    procs = {n: subprocess.Popen([NSINST, "start", prefix + n, n], stdout=subprocess.PIPE, universal_newlines=True)
             for n in names}
    pids = {}
    for n, p in procs.items():
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0 or not out.strip().isdigit():
            raise RuntimeError("cannot start namespace host %s: nsinst exit %d" % (n, p.returncode))
        pids[n] = int(out.strip())
    for n, pid in pids.items():
        _in_host(pid, "mkdir -p /mnt/b /mnt/src && mount -t tmpfs -o size=64m bench-b /mnt/b")
    return pids


def stop_hosts(prefix):
    """Return None after stopping every instance whose id starts with `prefix` (their mounts go with them)."""
    subprocess.run([NSINST, "stop-prefix", prefix], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _in_host(pid, script):
    subprocess.run(["nsenter", "-t", str(pid), "-m", "-p", "--", "/bin/sh", "-c", script], check=True,
                   stdout=subprocess.DEVNULL)


def reset_hosts(pids):
    """Return None after emptying every host: /mnt/b made afresh, no livemount state, an empty fstab."""
    for pid in pids.values():
        _in_host(pid, "umount -R /mnt/b && mount -t tmpfs -o size=64m bench-b /mnt/b && "
                      "rm -rf /run/livemount /run/livemount-etc /run/ansible-tmp && : > /run/bench-fstab")


def mounts_under_b(pid):
    """Return how many mounts host `pid` has below /mnt/b (its own tmpfs at /mnt/b not counted)."""
    with open("/proc/%d/mountinfo" % pid) as f:
        return sum(1 for line in f if line.split()[4].startswith("/mnt/b/"))


# ---- playbooks ------------------------------------------------------------------------------------

def _entries(m):
    return [{"target": "/mnt/b/e%02d" % i, "type": "tmpfs", "options": ["size=1m"]} if i % 2 == 0
            else {"target": "/mnt/b/e%02d" % i, "type": "bind", "source": "/mnt/src"} for i in range(m)]


def write_files(d, pids, m):
    """Return {name: argv} of every contender, after writing their inventory and playbooks into `d`."""
    inv = os.path.join(d, "hosts.yml")
    hosts = {n: {"ansible_host": pid, "nsinst_id": "%s%s" % (d + "/", n)} for n, pid in pids.items()}
    profile = {"name": "bench", "mounts": _entries(m)}
    posix = [{"src": e.get("source", "tmpfs"), "path": e["target"], "fstype": "none" if e["type"] == "bind" else "tmpfs",
              "opts": "bind" if e["type"] == "bind" else "size=1m"} for e in _entries(m)]
    with open(inv, "w") as f:
        json.dump({"all": {"hosts": hosts, "vars": {
            "ansible_connection": "nsinst", "ansible_python_interpreter": sys.executable,
            # Enabled copies in the host's own /run: the instances share the controller's /etc.
            "mounts_config_dir": "/run/livemount-etc",
            "mounts_profiles": [profile], "livemount_batch": "25%", "posix_entries": posix}}}, f)
    one = [{"name": "bench", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "Apply the profile", "livemount.core.mount_profile": {"profile": "{{ mounts_profiles[0] }}"}}]}]
    loop = [{"name": "bench", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "Mount each entry", "ansible.posix.mount": {
            "path": "{{ item.path }}", "src": "{{ item.src }}", "fstype": "{{ item.fstype }}", "opts": "{{ item.opts }}",
            "state": "mounted", "fstab": "/run/bench-fstab"}, "loop": "{{ posix_entries }}"}]}]
    books = {}
    for name, play in (("one.json", one), ("loop.json", loop)):
        books[name] = os.path.join(d, name)
        with open(books[name], "w") as f:
            json.dump(play, f)
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    rollout = os.path.join(c.SRC, "playbooks", "rollout.yml")
    drift = os.path.join(c.SRC, "playbooks", "drift.yml")
    return {
        "rollout.yml": [playbook, "-i", inv, rollout],
        "one mount_profile task": [playbook, "-i", inv, books["one.json"]],
        "ansible.posix.mount loop": [playbook, "-i", inv, books["loop.json"]],
        "rollout.yml, pipelining": [playbook, "-i", inv, rollout],
        "one mount_profile task, pipelining": [playbook, "-i", inv, books["one.json"]],
        "ansible -m ping": [os.path.join(os.path.dirname(sys.executable), "ansible"), "-i", inv, "all", "-m",
                            "ansible.builtin.ping", "-o"],
        DRIFT: [playbook, "--check", "-i", inv, drift],
        DRIFT_JSON: [playbook, "--check", "-i", inv, drift],
    }


def write_parts(d):
    """Return {check name: argv} of the drift parts, after writing their collection and playbooks into `d`.

    The collection livemount_bench.parts (bench-only, never shipped) has three
    modules taking mount_profile's own argument spec and returning `changed:
    false`: `stub` does nothing else; `shipped` names the engine's imports
    in a function it never calls, so its payload carries the same files as
    mount_profile's; `imported` imports them, as mount_profile does, first
    thing. Each has an action plugin that is livemount.core.mount_profile's,
    running that module instead (ActionModule.MODULE).
    """
    sys.path.insert(0, c.COLLECTIONS)
    from ansible_collections.livemount.core.plugins.module_utils import args_common
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import ansible_spec

    spec = args_common.argument_spec(ansible_spec.module_argument_spec(), args_common.STATE_DIR_SPEC,
                                     args_common.NAMESPACE_SPEC)
    for option in ("on_busy", "enabled", "config_dir", "from_enabled"):
        spec[option] = {"type": "raw"}
    with open(os.path.join(c.SRC, "plugins", "modules", "mount_profile.py")) as f:
        imports = [line for line in f.read().splitlines()
                   if line.startswith("from ansible_collections.livemount.core.plugins.module_utils")]
    if not imports:
        raise RuntimeError("cannot find mount_profile's engine imports")
    bodies = {"stub": "", "shipped": "def _never_called():\n" + "".join("    %s\n" % i for i in imports),
              "imported": "".join("%s\n" % i for i in imports)}
    root = os.path.join(d, "parts")
    top = os.path.join(root, "ansible_collections", *PARTS.split("."), "plugins")
    for sub in ("modules", "action"):
        os.makedirs(os.path.join(top, sub))
    with open(os.path.join(c.SRC, "playbooks", "drift.yml")) as f:
        drift = f.read()
    if drift.count("livemount.core.mount_profile:") != 1:
        raise RuntimeError("cannot find the one mount_profile task of playbooks/drift.yml")
    argv = {}
    for name, module in DRIFT_PARTS:
        with open(os.path.join(top, "modules", module + ".py"), "w") as f:
            f.write("# Generated by bench/fleet.py (write_parts).\n"
                    "from ansible.module_utils.basic import AnsibleModule\n%s\n\n"
                    "def main():\n    AnsibleModule(argument_spec=%r, supports_check_mode=True)"
                    ".exit_json(changed=False)\n\n\nmain()\n" % (bodies[module], spec))
        with open(os.path.join(top, "action", module + ".py"), "w") as f:
            f.write("# Generated by bench/fleet.py (write_parts).\n"
                    "from ansible_collections.livemount.core.plugins.action import mount_profile\n\n\n"
                    "class ActionModule(mount_profile.ActionModule):\n    MODULE = %r\n" % ("%s.%s" % (PARTS, module)))
        book = os.path.join(d, "drift-%s.yml" % module)
        with open(book, "w") as f:
            f.write(drift.replace("livemount.core.mount_profile:", "%s.%s:" % (PARTS, module)))
        argv[name] = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "--check", "-i",
                      os.path.join(d, "hosts.yml"), book]
    return argv


def env_for(d, name):
    """Return the environment of contender `name`: the collection, nsinst, JSON output, pipelining if named."""
    env = c.bench_env(ANSIBLE_CONNECTION_PLUGINS=CONNECTIONS, ANSIBLE_NOCOLOR=1, ANSIBLE_FORCE_COLOR=0,
                      ANSIBLE_HOST_KEY_CHECKING=0, ANSIBLE_RETRY_FILES_ENABLED=0, ANSIBLE_REMOTE_TEMP="/run/ansible-tmp",
                      ANSIBLE_LOCAL_TEMP=os.path.join(d, ".ansible-tmp"), ANSIBLE_HOME=os.path.join(d, ".ansible"),
                      ANSIBLE_PIPELINING="1" if name.endswith("pipelining") else "0")
    if not name.startswith("ansible -m") and name != DRIFT:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    if name in dict(DRIFT_PARTS):
        env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join([os.path.join(d, "parts"), env["ANSIBLE_COLLECTIONS_PATH"]])
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# ---- measuring --------------------------------------------------------------------------------------

def _run(name, argv, d, pids, m):
    """Return {seconds, tasks, failures} of one run of contender `name`; checks what the hosts hold after it."""
    took, proc = c.run_timed(argv, env=env_for(d, name), cwd=d, check=False)
    out = {"seconds": took}
    if name.startswith("ansible -m"):
        if proc.returncode != 0 or proc.stdout.count("SUCCESS") != len(pids):
            raise RuntimeError("cannot benchmark %s: exit %d:\n%s" % (name, proc.returncode, proc.stdout[-3000:]))
        return out
    if name == DRIFT:  # the default output: exit 0 and every host's summary line
        in_sync = sum(1 for n in pids if '"%s: in sync"' % n in proc.stdout)
        if proc.returncode != 0 or in_sync != len(pids):
            raise RuntimeError("cannot benchmark %s: exit %d, %d of %d hosts in sync:\n%s" % (
                name, proc.returncode, in_sync, len(pids), proc.stdout[-3000:]))
        return out
    if "{" not in proc.stdout:
        raise RuntimeError("cannot benchmark %s: exit %d, no JSON report:\n%s" % (name, proc.returncode,
                                                                                proc.stdout[-3000:]))
    tasks, stats = c.task_times(proc.stdout)
    bad = {h: s for h, s in stats.items() if s.get("failures") or s.get("unreachable")}
    if proc.returncode != 0 or bad:
        raise RuntimeError("cannot benchmark %s: exit %d, failed hosts %s:\n%s" % (
            name, proc.returncode, sorted(bad), proc.stdout[-3000:]))
    out["tasks"] = tasks
    if not name.startswith(DRIFT):
        held = [mounts_under_b(pid) for pid in pids.values()]
        if set(held) != {m}:
            raise RuntimeError("cannot trust %s: hosts hold %s mounts under /mnt/b, not %d each" % (name, held, m))
    return out


def measure(d, pids, m, rounds):
    """Return {contender: {first: [run], rerun: [run]}} and {check: [run]}, contenders interleaved."""
    argv = write_files(d, pids, m)
    argv.update(write_parts(d))
    plays = {name: {"first": [], "rerun": []} for name in PLAYS}
    checks = {name: [] for name in CHECKS}
    for r in range(rounds):
        order = PLAYS[r % len(PLAYS):] + PLAYS[:r % len(PLAYS)]
        for name in order:
            print("  fleet: round %d, %s..." % (r + 1, name), flush=True)
            reset_hosts(pids)
            plays[name]["first"].append(_run(name, argv[name], d, pids, m))
            plays[name]["rerun"].append(_run(name, argv[name], d, pids, m))
            if name == "rollout.yml":  # the fleet is converged: what reaching it and checking it cost
                for _ in range(CHECK_REPEATS):
                    for check in CHECKS:
                        checks[check].append(_run(check, argv[check], d, pids, m))
    return plays, checks


def payloads(d, pids, m):
    """Return {module: {file_bytes, zip_bytes}} of the AnsiballZ files one host received in a rollout and a loop."""
    argv = write_files(d, pids, m)
    host, pid = next(iter(pids.items()))
    out = {}
    for name in ("rollout.yml", "ansible.posix.mount loop", "ansible -m ping"):
        reset_hosts(pids)
        env = dict(env_for(d, name), ANSIBLE_KEEP_REMOTE_FILES="1")
        c.run_timed(argv[name] + ["--limit", host], env=env, cwd=d, check=False)
        root = "/proc/%d/root/run/ansible-tmp" % pid
        for dirpath, _, files in os.walk(root):
            for f in files:
                m_ = re.match(r"AnsiballZ_(\w+)\.py$", f)
                if not m_:
                    continue
                with open(os.path.join(dirpath, f)) as fh:
                    text = fh.read()
                # The base64 zip of the module and its module_utils (zip_data='...' in ansible-core 2.19,
                # a ZIPDATA triple-quoted string before).
                z = re.search(r"zip_data='([A-Za-z0-9+/=]+)'", text) or re.search(r'ZIPDATA = """(.*?)"""', text, re.S)
                out[m_.group(1)] = dict(read_cost(d, m_.group(1), text), file_bytes=len(text.encode()),
                                        zip_bytes=len(base64.b64decode(z.group(1))) if z else None)
    return out


def read_cost(d, module, text, rounds=7):
    """Return {file_seconds, stdin_seconds}: the host's Python starting a script of the payload's size.

    The payload with its `__main__` block never entered, run by the hosts'
    Python from a file and from its stdin (as pipelining runs a module):
    Python reads and compiles the whole script either way, then defines the
    wrapper's function and stops, so the difference is how it reads it.
    Medians, interleaved.
    """
    main = 'if __name__ == "__main__":'
    if text.count(main) != 1:
        raise RuntimeError("cannot find the __main__ block of the %s payload" % module)
    path = os.path.join(d, "read-%s.py" % module)
    with open(path, "w") as f:
        f.write(text.replace(main, 'if __name__ == "never":'))
    times = {"file_seconds": [], "stdin_seconds": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, path], check=True)
        times["file_seconds"].append(time.perf_counter() - t0)
        with open(path) as f:
            t0 = time.perf_counter()
            subprocess.run([sys.executable], stdin=f, check=True)
            times["stdin_seconds"].append(time.perf_counter() - t0)
    return {k: c.summary(v)["median"] for k, v in times.items()}


def run(hosts, m, rounds):
    """Return the result document (starts and always stops its namespace hosts)."""
    d = os.path.join(c.OUT, "fleet-%d" % os.getpid())
    os.makedirs(d)
    prefix = d + "/"
    try:
        t0 = time.perf_counter()
        pids = start_hosts(prefix, hosts)
        started = time.perf_counter() - t0
        plays, checks = measure(d, pids, m, rounds)
        sizes = payloads(d, pids, m)
    finally:
        stop_hosts(prefix)
    doc = {"hosts": hosts, "mounts_per_host": m, "rounds": rounds, "start_seconds": started, "payloads": sizes,
           "versions": _versions(), "plays": {}, "checks": {}}
    for name, runs in plays.items():
        doc["plays"][name] = {k: {"seconds": c.summary([x["seconds"] for x in v]),
                                  "samples": [x["seconds"] for x in v], "tasks": _task_summary(v)}
                              for k, v in runs.items()}
    for name, runs in checks.items():
        doc["checks"][name] = {"seconds": c.summary([x["seconds"] for x in runs]),
                               "samples": [x["seconds"] for x in runs]}
        if "tasks" in runs[0]:
            doc["checks"][name]["tasks"] = _task_summary(runs)
    doc["goals"] = goals(doc)
    return doc


def _task_summary(runs):
    names = list(runs[0].get("tasks", {}))
    return {n: c.summary([r["tasks"].get(n, 0.0) for r in runs]) for n in names}


def _versions():
    import importlib.metadata as md

    return {"ansible-core": md.version("ansible-core")}


def _ratio(doc, slow, fast, run, group="plays"):
    a = doc[group][slow][run]["samples"] if group == "plays" else doc[group][slow]["samples"]
    b = doc["plays"][fast][run]["samples"]
    return c.ratio(a, b)


def goals(doc):
    """Return the goal verdicts (ratios per round of whole-playbook wall times)."""
    out = []
    for run in ("first", "rerun"):
        r = _ratio(doc, "rollout.yml", "one mount_profile task", run)
        out.append(c.goal("rollout.yml per host <= %.1fx one plain mount_profile task (%s, whole playbook)"
                          % (GOALS["task"], run), r["median"] <= GOALS["task"], c.fmt_ratio(r)))
        r = _ratio(doc, "ansible.posix.mount loop", "rollout.yml", run)
        out.append(c.goal("rollout.yml >= %dx faster than the ansible.posix.mount loop (%s, whole playbook)"
                          % (GOALS["posix"], run), r["median"] >= GOALS["posix"], c.fmt_ratio(r)))
    drift, ping = doc["checks"][DRIFT]["samples"], doc["checks"]["ansible -m ping"]["samples"]
    r = c.ratio(drift, ping)
    out.append(c.goal("drift.yml --check <= %.1fx an ansible -m ping of the same hosts" % GOALS["drift"],
                      r["median"] <= GOALS["drift"], c.fmt_ratio(r)))
    return out


def table(doc):
    """Return (headers, rows): each contender's whole-playbook time, per host, first run and rerun."""
    h = doc["hosts"]
    rows = []
    for name, runs in doc["plays"].items():
        rows.append([name] + ["%s (%s per host)" % (c.fmt_stat(runs[k]["seconds"]),
                                                  c.fmt_time(runs[k]["seconds"]["median"] / h))
                              for k in ("first", "rerun")])
    for name, run in doc["checks"].items():
        rows.append([name, "%s (%s per host)" % (c.fmt_stat(run["seconds"]), c.fmt_time(run["seconds"]["median"] / h)),
                     ""])
    return ["contender (whole process)", "first run", "rerun"], rows


def task_table(doc):
    """Return (headers, rows): the time of each task of the rollout and of the one-task playbook, first run."""
    rows = []
    for name in ("rollout.yml", "one mount_profile task", "ansible.posix.mount loop"):
        for k in ("first", "rerun"):
            for task, st in doc["plays"][name][k]["tasks"].items():
                rows.append([name, k, task, c.fmt_stat(st)])
    for task, st in doc["checks"].get(DRIFT_JSON, {}).get("tasks", {}).items():
        rows.append(["drift.yml --check", "", task, c.fmt_stat(st)])
    for name, _ in DRIFT_PARTS:
        st = doc["checks"].get(name, {}).get("tasks", {}).get(PLAN_TASK)
        if st:
            rows.append([name, "", PLAN_TASK, c.fmt_stat(st)])
    return ["playbook", "run", "task (summed over serial batches)", "task time"], rows


def payload_table(doc):
    """Return (headers, rows) of the AnsiballZ payloads."""
    return ["module", "AnsiballZ file", "zip inside", "Python reading it: from the file", "from stdin (pipelining)"], [
        [k, "%d KiB" % (v["file_bytes"] // 1024), "%d KiB" % (v["zip_bytes"] // 1024) if v["zip_bytes"] else "?",
         c.fmt_time(v["file_seconds"]), c.fmt_time(v["stdin_seconds"])]
        for k, v in sorted(doc["payloads"].items())]


def markdown(doc):
    """Return this benchmark's section of docs/benchmarks.md."""
    pipe = {k: c.ratio(doc["plays"][k]["first"]["samples"], doc["plays"][k + ", pipelining"]["first"]["samples"])
            for k in ("rollout.yml", "one mount_profile task")}
    return "\n".join([
        "## 8. The fleet rollout\n",
        "Whole `ansible-playbook` processes over %d hosts, each a namespace instance (molecule/shared/nsinst, "
        "reached by the tests-only nsinst connection), %d mounts per host (half tmpfs, half binds), %d rounds, "
        "contenders interleaved, each first run from empty hosts then a rerun; Ansible's defaults (forks 5, "
        "no pipelining unless the row says so), ansible-core %s. Starting the %d hosts took %s (not counted). "
        "*per host* is the playbook's wall time over the number of hosts.\n"
        % (doc["hosts"], doc["mounts_per_host"], doc["rounds"], doc["versions"]["ansible-core"], doc["hosts"],
           c.fmt_time(doc["start_seconds"])),
        c.md_table(*table(doc)), "",
        "`drift.yml --check` prints Ansible's default output, as a user sees it (`ansible -m ping` its `-o` line "
        "per host); `drift.yml --check, JSON output` is the same playbook with the ansible.posix.json callback, "
        "which dumps every host's whole result at the end (the task times below come from it). The three `plan by` "
        "rows take the drift play's plan task apart: the same run with JSON output, the task's action plugin "
        "kept, its module one of the bench's own (write_parts in bench/fleet.py) that takes mount_profile's "
        "argument spec and returns `changed: false`: a stub doing nothing else; the stub with a payload "
        "carrying the engine's files, as mount_profile's does; the stub importing the engine as mount_profile "
        "does, first thing. Each check ran %d times per round.\n" % CHECK_REPEATS,
        "Pipelining on (Ansible then hands a module to the host's Python on its stdin instead of copying the "
        "file first; livemount's modules are run from a copied file all the same, see the payloads below), as "
        "time without it over time with it, per round (below 1: slower with it): the rollout's first run %s, "
        "the one-task playbook's %s.\n"
        % (c.fmt_ratio(pipe["rollout.yml"]), c.fmt_ratio(pipe["one mount_profile task"])),
        "Task time, start to end of each task as the json callback records it (profile_tasks' figure), summed "
        "over the serial batches (a run_once task runs once): Ansible's own start-up and per-play set-up are "
        "the rest of the wall time.\n",
        c.md_table(*task_table(doc)), "",
        "Module payloads: the AnsiballZ file Ansible writes on the host for each module (without pipelining; "
        "with it, the same bytes go through the connection's stdin), the zip of module_utils inside it, and "
        "what the hosts' Python takes to start that script without running the module from the "
        "file and from its stdin, as pipelining would hand it over (bench/fleet.py read_cost; medians of 7): "
        "CPython reads a script on stdin one byte per read(2), so the cost grows with the payload. That is "
        "why livemount's modules run from a copied file even with pipelining on (docs/ansible.md, "
        "Pipelining).\n",
        c.md_table(*payload_table(doc)), "",
        c.md_goals(doc["goals"]), "",
    ])


def why_missed(doc):
    """Return markdown for the missed goals ("" when all are met)."""
    lines = []
    for g in doc["goals"]:
        if g["met"]:
            continue
        lines.append("- **%s**: measured %s." % (g["goal"], g["value"]))
        if "rollout" in g["goal"]:
            run = "first" if "(first" in g["goal"] else "rerun"
            tasks = doc["plays"]["rollout.yml"][run]["tasks"]
            top = sorted(tasks.items(), key=lambda kv: -kv[1]["median"])[:4]
            lines.append("  - The rollout's costliest tasks (%s): %s." % (run, ", ".join(
                "%s %s" % (k, c.fmt_time(v["median"])) for k, v in top)))
        if "drift" in g["goal"]:
            plan, sizes = doc["checks"].get(DRIFT_JSON, {}).get("tasks", {}).get(PLAN_TASK), doc["payloads"]
            if plan:
                ping = doc["checks"]["ansible -m ping"]["seconds"]["median"]
                lines.append("  - The drift play's one task on each host, the plan, took %s alone (task time, JSON "
                             "run): %.2fx the whole `ansible -m ping` run (%s). The play's other tasks run once, "
                             "not per host." % (c.fmt_time(plan["median"]), plan["median"] / ping, c.fmt_time(ping)))
            parts = [(n, doc["checks"].get(n, {}).get("tasks", {}).get(PLAN_TASK)) for n, _ in DRIFT_PARTS]
            if plan and all(st for _, st in parts):
                ping = doc["checks"]["ansible -m ping"]["seconds"]["median"]
                steps = [("a stub module", parts[0][1]), ("the stub shipping the engine", parts[1][1]),
                         ("the stub importing it", parts[2][1]), ("the plan itself (drift.yml as shipped)", plan)]
                lines.append("  - The plan task taken apart (its task time, JSON runs, medians; over the whole "
                             "`ansible -m ping` run): %s. What the task costs before any planning, the same "
                             "arguments through the same action plugin to a module that does nothing, is the "
                             "first; carrying the engine's files to each host and importing them there are the "
                             "next two." % "; ".join("%s %s (%.2fx)" % (label, c.fmt_time(st["median"]),
                                                                        st["median"] / ping)
                                                     for label, st in steps))
            lines.append("  - What a plan costs a host over ping is a module run that does more: section 11 "
                         "measures the two files alone, with the engine's code the rollout kept on the host "
                         "(module_utils/code_cache.py) and without it. The rest is the controller's, per host: "
                         "templating the task's arguments, the action plugin validating the profiles, and a "
                         "payload %.1fx ping's (the table above) loaded, written and copied for each host."
                         % (sizes["mount_profile"]["file_bytes"] / sizes["ping"]["file_bytes"]))
    return "\n".join(lines)


def main(argv=None):
    """Return 0 after running the benchmark and writing bench/out/fleet.json."""
    args = c.arguments(__doc__.splitlines()[0], argv)
    c.require_root()
    hosts, m, rounds = (8, 6, 1) if args.quick else (50, 20, args.repeats or 2)
    doc = run(hosts, m, rounds)
    return c.report(NAME, doc, args.out, [("fleet rollout", table(doc)), ("task times", task_table(doc)),
                                          ("payloads", payload_table(doc))])


if __name__ == "__main__":
    sys.exit(main())
