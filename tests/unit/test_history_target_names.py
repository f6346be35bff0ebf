"""The engine's profile history, --target selection and unknown profile names, on the fake Sys.

history.py keeps the profiles applies completed with (the last 10, a new
record only when the profile differs from the newest); targeting.py limits
a plan to some paths and what they need; destroy and status of a name with
no state refuse with the names that exist, writing nothing.
"""

import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, history, targeting
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import PlanError, StateError, \
    UnknownProfileError
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import StateStore
from tests.unit.engine_runs import apply, mutations, root  # noqa: F401 (fixtures)
from tests.unit.fakesys import NAMESPACE_ID
from tests.unit.planner_world import PROFILE_A, PROFILE_B, bind, fake_host, snapshot, symlink, tmpfs


def _store(root, name="p"):
    return StateStore(root, NAMESPACE_ID, name)


# ---- history ------------------------------------------------------------------------------------------------------
def test_history_keeps_each_new_profile_once(root):
    """Applying A, A again, B, then A: three records (A, B, A), numbered 1-3, with their step counts."""
    fake = fake_host()
    for data in (PROFILE_A, PROFILE_A, PROFILE_B, PROFILE_A):
        apply(data, fake, root, profile_data=data)
    records = history.load(_store(root))
    assert [r.number for r in records] == [1, 2, 3]
    assert [r.profile for r in records] == [PROFILE_A, PROFILE_B, PROFILE_A]
    assert records[0].changes > 0 and records[0].by
    assert history.pick(records).number == 2 and history.pick(records, 1).profile == PROFILE_A
    with pytest.raises(LookupError):
        history.pick(records, 7)


def test_history_keeps_the_last_ten(root):
    """Twelve different profiles: the history holds records 3 to 12."""
    fake = fake_host()
    for k in range(12):
        apply({"name": "p", "mounts": [tmpfs("/data/t", "size=%dm" % (k + 1))]}, fake, root)
    assert [r.number for r in history.load(_store(root))] == list(range(3, 13))


def test_failed_apply_and_check_mode_add_nothing(root):
    """A check-mode run and a failed (rolled back) apply leave the history as it was."""
    fake = fake_host()
    apply(PROFILE_A, fake, root, profile_data=PROFILE_A)
    apply(PROFILE_B, fake, root, check=True)
    fake.fail_at(len(fake.calls) + 3)
    with pytest.raises(Exception):
        apply(PROFILE_B, fake, root)
    assert [r.profile for r in history.load(_store(root))] == [PROFILE_A]


def test_a_tampered_history_is_not_trusted(root):
    """An edited history file is reported (StateError), never half read."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    path = history.path_of(_store(root))
    with open(path, "rb") as f:
        text = f.read()
    with open(path, "wb") as f:
        f.write(text.replace(b"/data/t", b"/data/u"))
    with pytest.raises(StateError, match="cannot trust history"):
        history.load(_store(root))


def test_rollback_restores_the_previous_table(root):
    """Applying the previous record's profile gives back the table that profile made."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    after_a = snapshot(fake)[0]  # the table (the overlay's replaced upper is kept aside: files differ)
    apply(PROFILE_B, fake, root)
    ns, records = engine.history_of("p", fake, root=root)
    assert ns == NAMESPACE_ID
    apply(history.pick(records).profile, fake, root)
    assert snapshot(fake)[0] == after_a


def test_history_of_an_unknown_name(root):
    """history_of a name never applied: UnknownProfileError listing the known names."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    with pytest.raises(UnknownProfileError, match=r"no profile named q in mnt:\[\d+\] \(known: p\)"):
        engine.history_of("q", fake, root=root)


# ---- unknown names --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("check", [False, True], ids=["destroy", "destroy-check"])
def test_destroy_of_an_unknown_name_writes_nothing(root, check):
    """destroy(known_only) of a typo: UnknownProfileError naming the known profiles; no lock, no file."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    files = sorted(os.listdir(_store(root).dir))
    with pytest.raises(UnknownProfileError) as exc:
        engine.destroy("yyy", fake, root=root, check=check, known_only=True)
    assert str(exc.value) == "cannot destroy yyy: no profile named yyy in %s (known: p)" % NAMESPACE_ID
    assert exc.value.known == ["p"]
    assert sorted(os.listdir(_store(root).dir)) == files


def test_status_of_an_unknown_name_and_of_a_destroyed_one(root):
    """status(known_only) of a typo refuses; of a destroyed profile too, pointing at rollback."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    with pytest.raises(UnknownProfileError, match="known: p"):
        engine.status(fake, root=root, name="zzz", known_only=True)
    engine.destroy("p", fake, root=root, known_only=True)
    with pytest.raises(UnknownProfileError, match="it was destroyed: `livemount rollback p`"):
        engine.status(fake, root=root, name="p", known_only=True)
    assert engine.status(fake, root=root) == []


# ---- --target -------------------------------------------------------------------------------------------------------
def test_target_limits_the_apply_to_a_subtree(root):
    """--target /data/m of B over A: the bind's replace and its child, nothing else; a full apply does the rest."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    report = apply(PROFILE_B, fake, root, targets=["/data/m"])
    assert {t for _, t in mutations(report)} == {"/data/m", "/data/m/x"}
    rest = apply(PROFILE_B, fake, root, check=True)
    assert "/data/m" not in {t for _, t in mutations(rest)} and mutations(rest)
    apply(PROFILE_B, fake, root)
    assert mutations(apply(PROFILE_B, fake, root)) == []


def test_target_brings_what_it_needs_above(root):
    """--target below a new tmpfs: the tmpfs comes first, with what lives in it; a sibling outside does not."""
    fake = fake_host()
    data = {"name": "p", "mounts": [tmpfs("/data/n"), bind("/srv/a", "/data/n/b"), symlink("/data/n/l", "/x"),
                                    tmpfs("/data/other")]}
    report = apply(data, fake, root, targets=["/data/n/b"])
    assert mutations(report) == [("mkdir", "/data/n"), ("mount", "/data/n"), ("mkdir", "/data/n/b"),
                                 ("mount", "/data/n/b"), ("link", "/data/n/l")]


def test_a_target_that_names_nothing_is_an_error(root):
    """--target of a path no entry is at, above or below: PlanError before any call."""
    fake = fake_host()
    with pytest.raises(PlanError, match=r"cannot plan --target /elsewhere: no entry of profile p"):
        apply(PROFILE_A, fake, root, targets=["/elsewhere"])
    assert fake.calls == []


def test_target_on_destroy_removes_only_that_entry(root):
    """destroy --target: one entry goes, the others stay owned."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    report = engine.destroy("p", fake, root=root, targets=["/data/t"])
    assert mutations(report) == [("unmount", "/data/t"), ("rmdir", "/data/t")]
    owned = {o.entry.target for o in _store(root).load().owned}
    assert "/data/t" not in owned and "/data/m" in owned


def test_select_widens_to_a_rebuilt_parent():
    """targeting.select: a parent replaced above the target brings its whole subtree (children are put back)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Action, Change
    from tests.unit.planner_world import entry

    def ch(action, target):
        return Change(action, entry(tmpfs(target)), "r")

    plan = [ch(Action.UNMOUNT, "/a/x"), ch(Action.UNMOUNT, "/a/y"), ch(Action.REPLACE, "/a"),
            ch(Action.MOUNT, "/a/x"), ch(Action.MOUNT, "/a/y"), ch(Action.REMOUNT, "/b")]
    assert [c.target for c in targeting.select(plan, ["/a/x"])] == ["/a/x", "/a/y", "/a", "/a/x", "/a/y"]
    assert [c.target for c in targeting.select(plan, ["/b"])] == ["/b"]
