"""State and journal as untrusted input, saves that die or find the disk full: issue 13, defects 4 to 6.

4. A state (checksum recomputed) or one journal line claiming /proc makes
   nothing unmount /proc; valid JSON with wrong types is a clear error;
   an entry whose target is not mounted is forgotten, not "1 to unmount".
5. A temporary file of a killed save never blocks a later run and is
   removed under the lock; a full state filesystem says what is left and
   that the next run recovers, and it does.
6. A destroy killed at any step, or after its last one, leaves nothing
   that lists the profile once it is run again.
"""

import json
import os
import signal

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import state as state_mod
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import StateError
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint

from . import helpers
from .helpers import (apply, cli, destroy, hand_mount, hand_umount, make_tree, pending, profile_dict, read_state,
                      snapshot, state_dir, state_path, status, top, write_profile)

ENTRIES = [{"target": "@/t/a", "type": "tmpfs", "options": ["size=1m"]},
           {"target": "@/t/b", "type": "bind", "source": "@/src"},
           {"target": "@/t/l", "type": "symlink", "source": "/x"}]


def _applied(scratch):
    make_tree(scratch, ["src/f=1"])
    data = profile_dict(scratch, ENTRIES)
    apply(scratch, data)
    return data


def _rewrite_state(scratch, change):
    """Return None after changing the state body with `change(body)` and writing it back, checksum recomputed."""
    path = state_path(scratch)
    body = json.loads(read_state(scratch))["body"]
    change(body)
    with open(path, "wb") as f:
        f.write(state_mod._document(body))


# ---- defect 4 ------------------------------------------------------------------------------

def test_defect4_a_state_claiming_proc_is_refused_and_proc_stays(scratch):
    """A state owning /proc (good checksum): destroy refuses naming the file and field; /proc is still mounted."""
    _applied(scratch)
    before = snapshot("/proc")

    def claim(body):
        body["owned"].append({"entry": dict(body["owned"][0]["entry"], target="/proc", type="proc", source="proc"),
                              "created": [], "dev": None, "fs_options": None, "synthetic_for": None})
    _rewrite_state(scratch, claim)
    proc = cli(scratch, "destroy", "--yes", "test")
    assert proc.returncode == 1, proc.stderr
    assert "cannot trust state %s" % state_path(scratch) in proc.stderr and "/proc is protected" in proc.stderr
    assert "unexpected error" not in proc.stderr
    assert snapshot("/proc") == before and top("/proc") is not None


def test_defect4_a_journal_line_claiming_proc_is_refused(scratch):
    """One forged journal line (unmount /proc): the next destroy refuses the journal; /proc and ours stay."""
    data = _applied(scratch)
    before = snapshot(scratch)
    journal = os.path.join(os.path.dirname(state_path(scratch)), "test.journal")
    with open(journal, "w") as f:
        f.write(json.dumps({"kind": "header", "profile": "test", "plan_id": "x", "steps": 1, "version": 2}) + "\n")
        f.write(json.dumps({"kind": "begin", "n": 1, "action": "unmount", "path": "/proc", "before": None,
                            "entry": {"target": "/proc", "type": "proc", "source": "proc"}, "live": None}) + "\n")
    proc = cli(scratch, "destroy", "--yes", "test")
    assert proc.returncode == 1 and "cannot trust journal %s" % journal in proc.stderr, proc.stderr
    assert "line 2 (begin).path: /proc is protected" in proc.stderr
    assert top("/proc") is not None and snapshot(scratch) == before
    os.unlink(journal)
    assert pending(scratch, data) == []


@pytest.mark.parametrize("field, value, words", [
    ("owned", "x", "owned: must be a list"),
    ("created", [7], "created[0]"),
    ("profile_data", [], "profile_data: must be an object"),
    ("dev", {"major": 0}, "owned[0].dev: must be [major, minor]"),
    ("fs_options", "size=1m", "owned[0].fs_options"),
    ("entry", None, "owned[0].entry: entry must be a mapping"),
    ("target", ["/t"], "owned[0].entry: entry field target must be a string"),
    ("unique", "1", "owned[0].unique"),
    ("synthetic_for", 1, "owned[0].synthetic_for"),
    ("uid", -1, "owned[0].entry: entry field uid must be an integer from 0 to 4294967294"),
    ("mode", 0o40755, "owned[0].entry: entry field mode must be an integer from 0 to 4095"),
], ids=["owned", "created", "profile_data", "dev", "fs_options", "entry", "target", "unique", "synthetic_for", "uid",
        "mode"])
def test_defect4_wrong_types_are_a_clear_error(scratch, field, value, words):
    """Valid JSON, wrong type (checksum recomputed): exit 1, one error naming file and field, nothing changed."""
    _applied(scratch)
    before = snapshot(scratch)

    def damage(body):
        if field in ("owned", "created", "profile_data"):
            body[field] = value
        elif field in ("target", "uid", "mode"):
            body["owned"][0]["entry"][field] = value
        else:
            body["owned"][0][field] = value
    _rewrite_state(scratch, damage)
    for args in (["status"], ["destroy", "--yes", "test"]):
        proc = cli(scratch, *args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "unexpected error" not in proc.stderr and "Traceback" not in proc.stderr
        assert "cannot trust state %s" % state_path(scratch) in proc.stderr and words in proc.stderr, proc.stderr
    assert snapshot(scratch) == before


def test_defect4_an_entry_not_mounted_is_forgotten_not_unmounted(scratch):
    """Our tmpfs unmounted by hand, then destroy: it says forget, not unmount, and unmounts nothing."""
    _applied(scratch)
    hand_umount(os.path.join(scratch, "t/a"))
    report = destroy(scratch)
    actions = [(c.action.value, c.target) for c in report.changes]
    assert ("forget", os.path.join(scratch, "t/a")) in actions
    assert ("unmount", os.path.join(scratch, "t/a")) not in actions
    assert ("unmount", os.path.join(scratch, "t/b")) in actions
    assert status(scratch) == []


# ---- defect 5 ------------------------------------------------------------------------------

def test_defect5_temporary_files_of_killed_saves_never_block_and_are_removed(scratch):
    """Leftover `<profile>.state.json.tmp.*` (this very pid among them): the next apply saves and removes them."""
    data = _applied(scratch)
    base = state_path(scratch)
    leftovers = [base + ".tmp.%d" % os.getpid(), base + ".tmp.%d.0badc0de" % os.getpid(), base + ".tmp.1"]
    for p in leftovers:
        with open(p, "w") as f:
            f.write("half a state")
    apply(scratch, dict(data, mounts=data["mounts"][:2]))
    assert not any(os.path.lexists(p) for p in leftovers)
    assert json.loads(read_state(scratch))["body"]["profile"] == "test"


class _FillsDisk(failpoint.FailpointSys):
    """The real Sys; once `steps` mutations are done, the next table read fills the state filesystem."""

    def __init__(self, steps, filler):
        super().__init__(helpers.linux_sys(), {})
        self.steps, self.filler = steps, filler

    def read_mountinfo(self):
        if self.count >= self.steps and not os.path.exists(self.filler):
            with open(self.filler, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError:
                    pass
        return super().read_mountinfo()


def test_defect5_a_full_state_filesystem_says_what_is_left_and_the_next_run_recovers(scratch):
    """The disk fills between the last step and the save: a clear message, the journal kept; then it recovers."""
    make_tree(scratch, ["src/f=1", "state/"])
    hand_mount("-t", "tmpfs", "-o", "size=256k,mode=0700", "statefs", state_dir(scratch))
    data = profile_dict(scratch, ENTRIES)
    counter = failpoint.FailpointSys(helpers.linux_sys(), {})
    apply(scratch, data, system=counter)
    destroy(scratch)
    filler = os.path.join(state_dir(scratch), "filler")
    with pytest.raises(StateError) as info:
        apply(scratch, data, system=_FillsDisk(counter.count, filler))
    text = str(info.value)
    assert "cannot save state" in text and "no space left on device" in text
    assert "is in place" in text and "the next run recovers it" in text
    assert not [n for n in os.listdir(os.path.dirname(state_path(scratch))) if ".tmp." in n]
    assert status(scratch)[0]["interrupted"]
    os.unlink(filler)
    report = apply(scratch, data)
    assert report.recovered and pending(scratch, data) == []
    destroy(scratch)
    assert status(scratch) == []


# ---- defect 6 ------------------------------------------------------------------------------

class _DiesAfter(failpoint.FailpointSys):
    """The real Sys; the first table read after `steps` mutations kills the process (after the last step)."""

    def __init__(self, steps):
        super().__init__(helpers.linux_sys(), {})
        self.steps = steps

    def read_mountinfo(self):
        if self.count >= self.steps:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().read_mountinfo()


def _killed(scratch, system):
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        try:
            destroy(scratch, system=system)
        finally:
            os._exit(70)
    _, wait = os.waitpid(pid, 0)
    return os.WIFSIGNALED(wait) and os.WTERMSIG(wait) == signal.SIGKILL


def test_defect6_a_destroy_killed_at_any_step_leaves_nothing_once_rerun(scratch):
    """Killed before each step of a destroy, and after its last: the next destroy leaves no state and no mount."""
    data = _applied(scratch)
    counter = failpoint.FailpointSys(helpers.linux_sys(), {})
    destroy(scratch, system=counter)
    total = counter.count
    clean = snapshot(scratch)
    for n in range(1, total + 2):
        apply(scratch, data)
        system = _DiesAfter(total) if n == total + 1 else failpoint.FailpointSys(helpers.linux_sys(),
                                                                                  {n: failpoint.CRASH})
        assert _killed(scratch, system), n
        assert status(scratch), n  # interrupted: listed until rerun
        destroy(scratch)
        assert status(scratch) == [] and read_state(scratch) is None, n
        assert snapshot(scratch) == clean, n
