"""Benchmark 9: reading and validating a large profile, in process.

A profile of N entries (a quarter overlays, the rest binds and tmpfs, block
and flow YAML mixed), as YAML and as JSON text. Contenders, interleaved
round by round, thread CPU time and wall time:

* `YAML: load_profile_text + load_profile`: what every livemount command and
  the mount_profile action plugin do with a profile file (profile/forms.py
  reads YAML from libyaml's events, profile/load.py validates with the
  compiled jsonschema_lite and livemount's own rules);
* `JSON: load_profile_text + load_profile`: the same from JSON text;
* `validate only (load_profile)`: the second half alone;
* `yaml.safe_load` and `yaml.load(CSafeLoader)`: PyYAML's own loaders, for
  reference (they build the same data, without the guards).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

NAME = "profile_load"
GOAL = 0.3  # seconds for 10,000 entries, YAML text to Profile


def profile_text(n):
    """Return (YAML text, JSON text) of a profile of n entries."""
    lines = ["name: bench", "mounts:"]
    mounts = []
    for i in range(n):
        t = "/srv/p/g%03d/e%05d" % (i // 100, i)
        if i % 4 == 0:
            m = {"target": t, "type": "overlay", "lower": ["/srv/ov/%05d/lower" % i], "upper": "/srv/ov/%05d/upper" % i,
                 "work": "/srv/ov/%05d/work" % i}
            lines.append("  - target: %s\n    type: overlay\n    lower: [%s]\n    upper: %s\n    work: %s"
                         % (t, m["lower"][0], m["upper"], m["work"]))
        elif i % 2:
            m = {"target": t, "type": "bind", "source": "/srv/src", "options": ["ro", "nosuid"]}
            lines.append("  - {target: %s, type: bind, source: /srv/src, options: [ro, nosuid]}" % t)
        else:
            m = {"target": t, "type": "tmpfs", "options": ["size=1m", "mode=0755"]}
            lines.append("  - target: %s\n    type: tmpfs\n    options: [size=1m, mode=0755]" % t)
        mounts.append(m)
    return "\n".join(lines) + "\n", json.dumps({"name": "bench", "mounts": mounts})


def _clock(fn):
    cpu0, t0 = time.thread_time(), time.perf_counter()
    fn()
    return time.thread_time() - cpu0, time.perf_counter() - t0


def run(n, repeats):
    """Return the result document: per contender, CPU and wall time over the rounds."""
    import yaml

    forms, load = c.engine("profile.forms"), c.engine("profile.load")
    text, text_json = profile_text(n)
    data = forms.load_profile_text(text, "bench.yaml")
    if data != json.loads(text_json) or len(load.load_profile(data).entries) != n:
        raise RuntimeError("cannot trust the profile: YAML and JSON differ, or entries went missing")
    contenders = {
        "YAML: load_profile_text + load_profile": lambda: load.load_profile(forms.load_profile_text(text, "p.yaml")),
        "JSON: load_profile_text + load_profile": lambda: load.load_profile(forms.load_profile_text(text_json,
                                                                                                   "p.json")),
        "validate only (load_profile)": lambda: load.load_profile(data),
        "yaml.safe_load (PyYAML, pure Python)": lambda: yaml.load(text, Loader=yaml.SafeLoader),
    }
    if hasattr(yaml, "CSafeLoader"):
        contenders["yaml.load(CSafeLoader) (PyYAML with libyaml)"] = lambda: yaml.load(text, Loader=yaml.CSafeLoader)
    cpu = {k: [] for k in contenders}
    wall = {k: [] for k in contenders}
    for name, fn in contenders.items():  # warm: first calls compile the schema and regexes
        fn()
    for r in range(repeats):
        names = list(contenders)
        k = r % len(names)
        for name in names[k:] + names[:k]:
            a, b = _clock(contenders[name])
            cpu[name].append(a)
            wall[name].append(b)
    doc = {"n": n, "repeats": repeats, "bytes": {"yaml": len(text), "json": len(text_json)},
           "libyaml": hasattr(yaml, "CSafeLoader"), "pyyaml": yaml.__version__,
           "rows": {k: {"cpu": c.summary(cpu[k]), "wall": c.summary(wall[k])} for k in contenders}}
    doc["goals"] = goals(doc)
    return doc


def goals(doc):
    """Return the goal verdict: the YAML row's wall time (and CPU time) for N entries."""
    row = doc["rows"]["YAML: load_profile_text + load_profile"]
    return [c.goal("%d entries, YAML text to a validated Profile, under %.1f s (in-process, wall)" % (doc["n"], GOAL),
                   row["wall"]["median"] < GOAL, "%s (CPU %s)" % (c.fmt_stat(row["wall"]),
                                                                  c.fmt_time(row["cpu"]["median"])))]


def table(doc):
    """Return (headers, rows)."""
    return ["contender (in-process)", "wall: median (min-max)", "thread CPU: median (min-max)"], [
        [k, c.fmt_stat(v["wall"]), c.fmt_stat(v["cpu"])] for k, v in doc["rows"].items()]


def markdown(doc):
    """Return this benchmark's section of docs/benchmarks.md."""
    return "\n".join([
        "## 9. Loading a large profile\n",
        "In-process, %d rounds interleaved after a warm-up: a profile of %d entries (%d KiB of YAML, a quarter "
        "overlays, block and flow style mixed; %d KiB as JSON) read and validated the way every livemount command "
        "and the mount_profile action plugin do; PyYAML %s %s libyaml, its own loaders for reference.\n"
        % (doc["repeats"], doc["n"], doc["bytes"]["yaml"] // 1024, doc["bytes"]["json"] // 1024, doc["pyyaml"],
           "with" if doc["libyaml"] else "without"),
        c.md_table(*table(doc)), "", c.md_goals(doc["goals"]), ""])


def why_missed(doc):
    """Return markdown for a missed goal ("" when met)."""
    if all(g["met"] for g in doc["goals"]):
        return ""
    rows = doc["rows"]
    return ("- **%s**: %s. Of it, validation alone (load_profile) takes %s; JSON text instead of YAML: %s."
            % (doc["goals"][0]["goal"], doc["goals"][0]["value"],
               c.fmt_stat(rows["validate only (load_profile)"]["wall"]),
               c.fmt_stat(rows["JSON: load_profile_text + load_profile"]["wall"])))


def main(argv=None):
    """Return 0 after running the benchmark and writing bench/out/profile_load.json."""
    args = c.arguments(__doc__.splitlines()[0], argv)
    doc = run(2000 if args.quick else 10000, args.repeats or (3 if args.quick else 9))
    return c.report(NAME, doc, args.out, [("loading a profile", table(doc))])


if __name__ == "__main__":
    sys.exit(main())
