"""Never touch a mount livemount does not own: issue 13's defects 1 to 3, on the real kernel.

1. A tmpfs mounted by hand where ours was gets the freed anonymous device
   number (and mountinfo id): it is not ours, with unique ids (Linux 6.8+)
   and, on the fallback, by its marker.
2. A mount stacked on ours between the plan and the step is never the one
   unmounted, remounted, or slid under and detached: the run is held at
   each step in turn (failpoint `wait`), the test mounts on top, releases,
   and the step fails as a conflict and rolls back. Both mount APIs.
3. A run killed just before attaching its tmpfs: a tmpfs an administrator
   mounts there is not adopted by recovery, nor unmounted by destroy.
"""

import json
import os
import signal

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError, PlanError
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint, sys_linux
from ansible_collections.livemount.core.plugins.module_utils.livemount.observe import read_table

from . import helpers
from .helpers import (apply, destroy, expand, hand_mount, hand_umount, held_run, load, make_tree, profile_dict,
                      read_state, state_dir, status)

APIS = pytest.mark.parametrize("classic", [False, True], ids=["new-api", "classic-api"])


def live_stack(path):
    """Return [(unique id, source, mount options, super options)] of the mounts stacked at `path`, bottom first."""
    return [(m.unique, m.source, m.raw_mount_options, m.raw_super_options)
            for m in read_table(sys_linux.LinuxSys()).stack(path)]


def theirs(path, data="theirs", size="2m"):
    """Return the unique id of a tmpfs mounted by hand on `path` (mode 0700, `size`), holding a file."""
    hand_mount("-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "theirs", path)
    with open(os.path.join(path, "data"), "w") as f:
        f.write(data)
    return read_table(sys_linux.LinuxSys()).top(path).unique


def untouched(path, unique, size="2m", data="theirs"):
    """Return what is wrong with the hand-made tmpfs `unique` at `path` (empty: still there, as it was)."""
    m = read_table(sys_linux.LinuxSys()).by_unique(unique)
    if m is None:
        return ["their tmpfs was unmounted"]
    problems = []
    if m.mount_point != path:
        problems.append("their tmpfs moved to %s" % m.mount_point)
    if dict(m.fs_options).get("size") != str(int(size[:-1]) << 20) or "ro" in m.flags or "noexec" in m.flags:
        problems.append("their tmpfs was changed: %s %s" % (m.raw_mount_options, m.raw_super_options))
    if m is read_table(sys_linux.LinuxSys()).top(path):
        with open(os.path.join(path, "data")) as f:
            if f.read() != data:
                problems.append("their data is gone")
    return problems


def recorded_uniques(scratch, name):
    """Return the unique ids the state of `name` records ({} without a state)."""
    raw = read_state(scratch, name)
    if raw is None:
        return {}
    return {o["entry"]["target"]: o.get("unique") for o in json.loads(raw)["body"]["owned"]}


# ---- defect 1: a recycled device number --------------------------------------------------------

@pytest.mark.parametrize("unique_ids", [True, False], ids=["unique-ids", "fallback-marker"])
def test_defect1_a_tmpfs_on_our_recycled_device_number_is_not_ours(scratch, unique_ids):
    """Ours unmounted by hand, theirs mounted there (same device number as a rule): status, apply, destroy leave it."""
    helpers.SYS_OPTIONS["unique_ids"] = unique_ids
    t = expand(scratch, "@/t")
    data = profile_dict(scratch, [{"target": "@/t", "type": "tmpfs", "options": ["size=1m"]}])
    apply(scratch, data)
    ours = read_table(sys_linux.LinuxSys()).top(t)
    hand_umount(t)
    unique = theirs(t)
    now = read_table(sys_linux.LinuxSys()).top(t)
    recycled = now.dev == ours.dev  # what the kernel does unless another mount took that number meanwhile
    [row] = status(scratch)
    assert row["entries"][0]["health"] != "ok", row
    with pytest.raises(PlanError) as info:
        apply(scratch, data)
    assert "not owned by livemount" in str(info.value)
    assert untouched(t, unique) == []
    report = destroy(scratch)
    assert [c.action.value for c in report.changes if c.target == t] == ["forget"]
    assert untouched(t, unique) == []
    assert unique not in recorded_uniques(scratch, "test").values()
    print("device number recycled: %s" % recycled)


# ---- defect 2: a mount stacked on ours while the run is held --------------------------------------

def _destroy_case(scratch, base, name):
    make_tree(scratch, [base[2:] + "/"])
    data = profile_dict(scratch, [{"target": base + "/t", "type": "tmpfs", "options": ["size=1m"]}], name=name)
    apply(scratch, data)
    return lambda s: destroy(scratch, name, system=s)


def _remount_case(scratch, base, name):
    make_tree(scratch, [base[2:] + "/"])
    data = profile_dict(scratch, [{"target": base + "/t", "type": "tmpfs", "options": ["size=1m"]}], name=name)
    apply(scratch, data)
    bigger = profile_dict(scratch, [{"target": base + "/t", "type": "tmpfs", "options": ["size=4m", "noexec"]}],
                          name=name)
    return lambda s: apply(scratch, bigger, system=s)


def _replace_case(scratch, base, name):
    make_tree(scratch, [base[2:] + "/s1/one", base[2:] + "/s2/two"])
    data = profile_dict(scratch, [{"target": base + "/t", "type": "bind", "source": base + "/s1"}], name=name)
    apply(scratch, data)
    other = profile_dict(scratch, [{"target": base + "/t", "type": "bind", "source": base + "/s2"}], name=name)
    return lambda s: apply(scratch, other, system=s)


CASES = {"destroy": _destroy_case, "remount": _remount_case, "replace": _replace_case}
# The profile each case converges to (for a pending() check after a rerun).
CASES_AFTER = {
    "replace": lambda scratch, base, name: profile_dict(
        scratch, [{"target": base + "/t", "type": "bind", "source": base + "/s2"}], name=name),
}


@APIS
@pytest.mark.parametrize("case", list(CASES))
def test_defect2_a_mount_stacked_on_ours_mid_run_is_never_touched(scratch, case, classic):
    """At every step in turn their tmpfs lands on our target: never unmounted, changed or recorded; rollback exact."""
    helpers.SYS_OPTIONS["classic"] = classic
    outcomes = []
    for step in range(1, 30):
        base, name = "@/c%d" % step, "c%d" % step
        work = CASES[case](scratch, base, name)
        t = expand(scratch, base + "/t")
        before = [m for m in live_stack(t)]
        got = {}

        def meanwhile():
            got["unique"] = theirs(t)

        code, text = held_run(step, work, meanwhile, classic=classic)
        if "unique" not in got:
            assert code == 0, text
            break  # the run ended before this step: every step was tried
        assert code in (0, 1), text
        assert untouched(t, got["unique"]) == [], (step, text)
        assert got["unique"] not in recorded_uniques(scratch, name).values(), step
        after = [m for m in live_stack(t) if m[0] != got["unique"]]
        if code == 1 and "ROLLBACK FAILED" in text:
            # Theirs landed between the two halves of an atomic swap: the new bind beneath ours, theirs on
            # ours. Neither of ours can come off without taking theirs along: livemount stops, says so, keeps
            # its journal. Once they unmount theirs, the next run finishes the swap.
            assert case == "replace" and {u for u, *_ in before} <= {u for u, *_ in after}, (step, text)
            assert "livemount leaves that mount alone" in text and "next run will recover" in text, text
            hand_umount(t)
            work(helpers.real_sys())
            assert helpers.pending(scratch, CASES_AFTER[case](scratch, base, name)) == []
        elif code == 1:
            assert after == before, (step, text)  # rolled back: ours exactly as it was, theirs left on top
            assert "livemount leaves that mount alone" in text or "not owned by livemount" in text, text
        elif case == "remount":
            # Changed through a pin of ours, checked before the hold: ours has the new settings, theirs none.
            assert recorded_uniques(scratch, name)[t] == before[0][0], step
        outcomes.append((step, code))
    # A remount acts through a pin of the checked mount: theirs on top never stops it (and never gets it).
    assert outcomes and (case == "remount" or any(code == 1 for _, code in outcomes)), outcomes


# ---- defect 3: recovery adopts only the mount the dead run attached --------------------------------

@pytest.mark.parametrize("unique_ids", [True, False], ids=["unique-ids", "fallback-marker"])
def test_defect3_recovery_does_not_adopt_a_tmpfs_the_dead_run_never_attached(scratch, unique_ids):
    """Killed just before attaching its tmpfs; theirs mounted there; the next destroy recovers and leaves it."""
    helpers.SYS_OPTIONS["unique_ids"] = unique_ids
    t = expand(scratch, "@/t")
    data = profile_dict(scratch, [{"target": "@/t", "type": "tmpfs", "options": ["size=1m"]}])
    counter = failpoint.FailpointSys(helpers.linux_sys(), {})
    apply(scratch, data, check=False, system=counter)
    destroy(scratch)
    attach_step = counter.count  # mkdir, create_fs, setattr, attach: the attach is the last step
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        try:
            apply(scratch, data, system=failpoint.FailpointSys(helpers.linux_sys(), {attach_step: failpoint.CRASH}))
        finally:
            os._exit(70)
    _, wait = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(wait) and os.WTERMSIG(wait) == signal.SIGKILL
    unique = theirs(t)
    assert status(scratch)[0]["interrupted"]
    report = destroy(scratch)
    assert report.recovered
    assert untouched(t, unique) == []
    assert unique not in recorded_uniques(scratch, "test").values()


# ---- what a new user met (issue 13) ----------------------------------------------------------------

def test_status_of_a_partly_failed_continue_apply_is_not_healthy(scratch):
    """on_error: continue, 2 of 3 tmpfs fail to attach: status says 1 ok, 2 not applied, and exits 1."""
    make_tree(scratch, [])
    data = profile_dict(scratch, [{"target": "@/t%d" % i, "type": "tmpfs"} for i in range(3)], on_error="continue")
    profile = helpers.write_profile(scratch, data)
    # Each tmpfs on a new directory is mkdir, create_fs, setattr, attach: fail the 2nd and 3rd attach.
    run = helpers.cli(scratch, "apply", "--yes", profile, env={failpoint.ENV: "8:EIO,12:EIO"})
    assert run.returncode == 1, run.stderr
    proc = helpers.cli(scratch, "status")
    assert proc.returncode == 1, proc.stdout
    text = " ".join(proc.stdout.split())
    assert "test: 1 ok, 2 not applied" in text, text
    rows = {e["target"]: e["health"] for e in status(scratch)[0]["entries"]}
    assert sorted(rows.values()) == ["not applied", "not applied", "ok"]


def test_a_conflict_with_another_profiles_mount_names_that_profile(scratch):
    """Profile two wants the target profile one's tmpfs is on: the refusal names one."""
    make_tree(scratch, [])
    apply(scratch, profile_dict(scratch, [{"target": "@/t", "type": "tmpfs"}], name="one"))
    with pytest.raises(PlanError) as info:
        apply(scratch, profile_dict(scratch, [{"target": "@/t", "type": "tmpfs", "options": ["size=2m"]}], name="two"))
    assert "a mount of profile one is there" in str(info.value), str(info.value)


def test_show_marks_our_covered_mount_as_ours_and_the_one_on_top_as_nobodys(scratch):
    """Someone mounts on our tmpfs: show --json gives the covered mount its owner, the top one none."""
    make_tree(scratch, [])
    apply(scratch, profile_dict(scratch, [{"target": "@/t", "type": "tmpfs"}], name="one"))
    t = expand(scratch, "@/t")
    theirs(t)
    proc = helpers.cli(scratch, "show", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [m for m in json.loads(proc.stdout)["mounts"] if m["target"] == t]
    assert [(m["source"], m["visible"], m["owner"]) for m in rows] == [("tmpfs", False, "one"), ("theirs", True, None)]
