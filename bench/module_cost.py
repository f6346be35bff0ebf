"""Benchmark 11: one livemount module run on a managed host, against ansible.builtin.ping's.

Section 8's drift goal (`drift.yml --check` within 1.2x an `ansible -m ping`
of the same hosts) is judged on whole playbooks, where the controller's work
and the host's are mixed. This measures the host's part alone: the AnsiballZ
files Ansible writes on a host (kept with ANSIBLE_KEEP_REMOTE_FILES, local
connection, in a private mount namespace), each run as a whole process by the
same interpreter, interleaved round by round:

* `ping`: ansible.builtin.ping's file;
* `mount_profile --check`: livemount.core.mount_profile's in check mode, for
  a profile of 20 entries (half binds, half tmpfs) that is in place: a
  drift check of a host in sync, what drift.yml runs on each host. The apply
  that put the profile in place kept the engine's compiled code on the host
  (module_utils/code_cache.py, in a directory of this run's own), as a
  rollout does before a drift check: the check loads it.
* `mount_profile --check, no code cache`: the same file with the cache turned
  off (LIVEMOUNT_CODE_CACHE=''): a host no livemount apply ran on, or a
  Python 3.9 one, which compiles every engine file at every run.

Then one `python -X importtime` run of each file: what importing costs, and
how much of that is the modules of this collection (the engine), which
AnsiballZ ships as source.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

NAME = "module_cost"
CONTENDERS = ("ping", "mount_profile --check", "mount_profile --check, no code cache")
CHECK = "mount_profile --check"
M = 20


def _profile(scratch):
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    mounts = [{"target": os.path.join(scratch, "b", "e%02d" % i), "type": "tmpfs", "options": ["size=1m"]}
              if i % 2 == 0 else {"target": os.path.join(scratch, "b", "e%02d" % i), "type": "bind", "source": src}
              for i in range(M)]
    path = os.path.join(scratch, "profile.json")
    with open(path, "w") as f:
        json.dump({"name": "bench", "mounts": mounts}, f)
    return path


def _ansible(scratch, env, module, args, check=False):
    """Return the path of the AnsiballZ file one `ansible localhost -m module` run left in scratch/rt."""
    before = set(_kept(scratch))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local", "-m", module]
    cmd += (["-a", args] if args else []) + (["--check"] if check else [])
    c.run_timed(cmd, env=env)
    new = [p for p in _kept(scratch) if p not in before and os.path.basename(p).startswith("AnsiballZ_")]
    if len(new) != 1:
        raise RuntimeError("cannot find the AnsiballZ file of %s: %s" % (module, new))
    return new[0]


def _kept(scratch):
    out = []
    for d, _, files in os.walk(os.path.join(scratch, "rt")):
        out.extend(os.path.join(d, f) for f in files)
    return out


def _import_split(proc_output):
    """Return (all modules' import self-time, this collection's) in seconds, from `-X importtime` lines."""
    total = ours = 0
    for line in proc_output.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line[len("import time:"):].split("|")
        total += int(own)
        ours += int(own) if "ansible_collections.livemount.core" in name else 0
    return total / 1e6, ours / 1e6


def _measure(scratch, repeats):
    """Return the result document (runs in a private namespace: the profile is applied for real first)."""
    env = c.bench_env(ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=os.path.join(scratch, "rt"),
                      ANSIBLE_LOCAL_TEMP=os.path.join(scratch, "lt"), ANSIBLE_HOME=os.path.join(scratch, "home"),
                      ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1",
                      LIVEMOUNT_CODE_CACHE=os.path.join(scratch, "code-cache"))
    profile = _profile(scratch)
    args = "profile={{ lookup('file', '%s') | from_json }} state_dir=%s" % (profile, os.path.join(scratch, "state"))
    _ansible(scratch, env, "livemount.core.mount_profile", args)  # the host in sync with the profile
    if not os.listdir(os.path.join(scratch, "code-cache")):
        raise RuntimeError("cannot measure a drift check after an apply: the apply kept no compiled code")
    files = {"ping": _ansible(scratch, env, "ansible.builtin.ping", None),
             CHECK: _ansible(scratch, env, "livemount.core.mount_profile", args, check=True)}
    files[CHECK + ", no code cache"] = files[CHECK]
    sizes = {k: os.path.getsize(p) for k, p in files.items()}
    run_env = dict(env, PYTHONWARNINGS="ignore")
    envs = {k: dict(run_env, LIVEMOUNT_CODE_CACHE="") if k.endswith("no code cache") else run_env for k in files}

    def one(name):
        def go():
            took, proc = c.run_timed([sys.executable, files[name]], env=envs[name])
            result = json.loads(proc.stdout[proc.stdout.index("{"):])
            if result.get("failed") or (name != "ping" and result.get("changed")):
                raise RuntimeError("cannot trust %s: %s" % (name, proc.stdout[-2000:]))
            return took
        return go

    one(CHECK)()  # warm-up: the page cache
    samples = c.rounds({k: one(k) for k in CONTENDERS}, repeats)
    imports = {}
    for k, path in files.items():
        _, proc = c.run_timed([sys.executable, "-X", "importtime", path], env=envs[k])
        imports[k] = _import_split(proc.stdout)
    return {"m": M, "repeats": repeats, "bytes": sizes, "samples": samples, "imports": imports}


def run(repeats):
    """Return the result document."""
    doc = c.in_namespace(_measure, repeats)
    s = doc["samples"]
    doc["rows"] = {k: c.summary(v) for k, v in s.items()}
    doc["vs_ping"] = {k: c.ratio(s[k], s["ping"]) for k in CONTENDERS[1:]}
    doc["extra"] = {k: c.summary([a - b for a, b in zip(s[k], s["ping"])]) for k in CONTENDERS[1:]}
    doc["goals"] = []
    return doc


def table(doc):
    """Return (headers, rows)."""
    rows = []
    for k in CONTENDERS:
        total, ours = doc["imports"][k]
        rows.append([k, c.fmt_stat(doc["rows"][k]), "1x" if k == "ping" else c.fmt_ratio(doc["vs_ping"][k]),
                     "%d KiB" % (doc["bytes"][k] // 1024), "%s (%s of this collection)" % (
                         c.fmt_time(total), c.fmt_time(ours))])
    return ["module file (whole process, on the host)", "wall time", "vs ping, per round", "AnsiballZ file",
            "imports under -X importtime"], rows


def markdown(doc):
    """Return this benchmark's section of docs/benchmarks.md."""
    total, ours = doc["imports"][CHECK]
    cold_total, cold_ours = doc["imports"][CHECK + ", no code cache"]
    extra, cold = doc["extra"][CHECK]["median"], doc["extra"][CHECK + ", no code cache"]["median"]
    return "\n".join([
        "## 11. One module run on a host\n",
        "The host's part of a drift check (section 8 measures whole playbooks): the AnsiballZ files Ansible "
        "writes on a host, each run as a whole process, %d rounds interleaved, in a private namespace. "
        "`mount_profile --check` plans a %d-entry profile that is in place (a host in sync), after the apply that "
        "put it there kept the engine's compiled code on the host (module_utils/code_cache.py); the `no code "
        "cache` row is the same file with the cache off, as on a host no apply ran on. `ping` is "
        "ansible.builtin.ping. The import column is one `python -X importtime` run of each file (it inflates "
        "every import alike).\n" % (doc["repeats"], doc["m"]),
        c.md_table(*table(doc)), "",
        "- A check of a host in sync costs the host %s more than ping (%s per round); %s more (%s) without the "
        "code cache. Under -X importtime, importing this collection's modules is %s of %s, and %s of %s when "
        "every engine file is compiled from the zip's source. On 2 cores, 50 hosts pay the extra in about "
        "50 x %s / 2 = %s of wall time."
        % (c.fmt_time(extra), c.fmt_ratio(doc["vs_ping"][CHECK]), c.fmt_time(cold),
           c.fmt_ratio(doc["vs_ping"][CHECK + ", no code cache"]), c.fmt_time(ours), c.fmt_time(total),
           c.fmt_time(cold_ours), c.fmt_time(cold_total), c.fmt_time(extra), c.fmt_time(25 * extra)),
        ""])


def why_missed(doc):
    """Return "": this benchmark has no goal of its own (section 8's drift goal quotes it)."""
    return ""


def main(argv=None):
    """Return 0 after running the benchmark and writing bench/out/module_cost.json."""
    args = c.arguments(__doc__.splitlines()[0], argv)
    c.require_root()
    doc = run(args.repeats or (3 if args.quick else 15))
    return c.report(NAME, doc, args.out, [("one module run on a host", table(doc))])


if __name__ == "__main__":
    sys.exit(main())
