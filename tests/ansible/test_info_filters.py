"""mount_profile_info for fleets: mounts keyed by target, and the name/paths/owned_only filters, on a real table."""

import os
import subprocess

from . import playbook

# (task name, module args relative to scratch ('@' = scratch), expected targets below scratch)
FILTERS = [
    ("all", {}, ["/db", "/foreign", "/stack", "/stack", "/web", "/web/sub"]),
    ("name", {"name": "web"}, ["/web", "/web/sub"]),
    ("owned-only", {"owned_only": True}, ["/db", "/web", "/web/sub"]),
    ("paths", {"paths": ["@/web/sub", "@/db"]}, ["/db", "/web/sub"]),
    ("path-and-paths", {"path": "@/foreign", "paths": ["@/db"]}, ["/db", "/foreign"]),
    ("owned-under", {"owned_only": True, "paths": ["@/web"]}, ["/web", "/web/sub"]),
    ("name-none-there", {"name": "web", "paths": ["@/db"]}, []),
    ("unknown-name", {"name": "nobody"}, []),
]


def _args(args, s):
    out = {}
    for key, value in args.items():
        if isinstance(value, list):
            value = [v.replace("@", s) for v in value]
        elif isinstance(value, str):
            value = value.replace("@", s)
        out[key] = value
    return out


def test_info_filters_and_lookup_by_target(scratch):
    """Two profiles, a foreign mount and two stacked ones: each filter keeps exactly its mounts, in both shapes."""
    s = scratch
    web = {"name": "web", "mounts": [{"target": s + "/web", "type": "tmpfs"},
                                     {"target": s + "/web/sub", "type": "tmpfs", "options": ["size=1m"]}]}
    db = {"name": "db", "mounts": [{"target": s + "/db", "type": "tmpfs"}]}
    for d in ("foreign", "stack"):
        os.mkdir(os.path.join(s, d))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "foreign", s + "/foreign"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "lower", s + "/stack"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "upper", s + "/stack"], check=True)
    tasks = [{"name": "apply web", "livemount.core.mount_profile": web},
             {"name": "apply db", "livemount.core.mount_profile": db}]
    tasks += [{"name": name, "livemount.core.mount_profile_info": _args(args, s)} for name, args, _ in FILTERS]
    run = playbook.run(playbook.play(tasks), s)
    assert run.rc == 0, run.stdout
    for name, _, expected in FILTERS:
        got = run.result(name)
        mine = [m for m in got["mounts"] if m["target"].startswith(s + "/")]
        assert sorted(m["target"][len(s):] for m in mine) == expected, name
        if name != "all":
            assert mine == got["mounts"], name  # every filter here names paths under scratch, or a profile
        by_target = got["mounts_by_target"]
        assert set(by_target) == {m["target"] for m in got["mounts"]}, name
        for target, m in by_target.items():
            assert m["target"] == target and m in got["mounts"], name
    everything = run.result("all")["mounts_by_target"]
    assert everything[s + "/web/sub"]["owner"] == "web"
    assert everything[s + "/web/sub"]["fs_options"]["size"] in ("1048576", "1024k", "1m")
    assert everything[s + "/foreign"]["owner"] is None
    # Two mounts stacked on one target: the lookup gives the one on top, the list both.
    assert everything[s + "/stack"]["visible"] is True and everything[s + "/stack"]["source"] == "upper"
    assert [m["source"] for m in run.result("all")["mounts"] if m["target"] == s + "/stack"] == ["lower", "upper"]
    assert [p["profile"] for p in run.result("name")["profiles"]] == ["web"]


def test_info_refuses_a_relative_path(scratch):
    """A relative filter path fails the task with the engine's reason, nothing read."""
    task = {"name": "info", "livemount.core.mount_profile_info": {"paths": ["srv"]}, "ignore_errors": True}
    run = playbook.run(playbook.play([task]), scratch)
    assert [r["status"] for r in run.records if r["task"] == "info"] == ["failed"]
    got = run.result("info")
    assert got["msg"] == "cannot filter mounts by path: path must be absolute"
