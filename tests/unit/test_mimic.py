"""The writable mimic (docs/scenarios.md, 28) on the fake Sys: plan, transcript, idempotence, removal, undo at every step."""

import errno
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError, PlanError
from ansible_collections.livemount.core.plugins.module_utils.livemount.plan import to_perform
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from tests.unit.engine_runs import apply, mutations, root  # noqa: F401 (fixtures)
from tests.unit.planner_world import bind, fake_host, snapshot


def ro_host():
    """Return a fake host whose /ro (a read-only bind of /srv/ro) holds a file, a directory and a symlink."""
    fake = fake_host()
    fake.seed_dir("/srv/ro/sub")
    fake.seed_file("/srv/ro/keep")
    fake.seed_symlink("/srv/ro/ln", "keep")
    fake.seed_dir("/ro")
    fake.seed_bind("/srv/ro", "/ro", recursive=True, flags={"ro"})
    fake.calls.clear()
    return fake


def profile(mimic=True, target="/ro/new"):
    """Return the one-entry profile binding /srv/a at `target`."""
    return {"name": "p", "mounts": [dict(bind("/srv/a", target), mimic=mimic)] if target else []}


@pytest.mark.parametrize("mimic,expect", [
    (True, [("mimic", "/ro"), ("mkdir", "/ro/new"), ("mount", "/ro/new")]),
    (False, "cannot mount /ro/new: /ro is read-only, so /ro/new cannot be created there"),
], ids=["mimic", "no-mimic"])
def test_plan(root, mimic, expect):
    """The plan mimics /ro first when the entry allows it, else refuses."""
    fake = ro_host()
    if isinstance(expect, str):
        with pytest.raises(PlanError, match=expect):
            engine.reconcile(load_profile(profile(mimic)), fake, root=root, check=True)
        return
    report = engine.reconcile(load_profile(profile(mimic)), fake, root=root, check=True)
    assert mutations(report) == expect
    (change,) = [c for c in report.changes if c.action.value == "mimic"]
    assert [(e.type, e.target, e.recursive) for e in change.synthetic] == [
        ("bind", "/ro/keep", False), ("symlink", "/ro/ln", False), ("bind", "/ro/sub", True)]
    assert change.synthetic_for == "/ro/new"


def test_transcript_idempotence_and_removal(root):
    """Apply copies the children, mounts the tmpfs, puts them back; a rerun does nothing; removal restores all."""
    fake = ro_host()
    before = snapshot(fake)
    apply(profile(), fake, root)
    assert fake.calls[:9] == [
        'clone "/ro/keep" False', 'clone "/ro/sub" True',
        'create_fs "tmpfs" "tmpfs" [mode=755]', 'setattr <mount tmpfs> -', 'attach <mount tmpfs> "/ro"',
        'mkfile "/ro/keep" 0o644 0 0', 'attach <mount bind /ro/keep> "/ro/keep"',
        'symlink "keep" "/ro/ln"', 'mkdir "/ro/sub" 0o755 0 0',
    ]
    assert fake.lstat("/ro/ln").link == "keep"
    assert mutations(apply(profile(), fake, root)) == []
    report = apply(profile(target=None), fake, root)
    assert mutations(report)[-1] == ("unmount", "/ro")
    assert snapshot(fake) == before


def test_mimic_turned_off_keeps_it_while_the_entry_stays(root):
    """Turning mimic off for an applied entry keeps the mimic its mount point lives in; removal still restores all."""
    fake = ro_host()
    before = snapshot(fake)
    apply(profile(), fake, root)
    assert mutations(apply(profile(mimic=False), fake, root)) == []
    apply(profile(target=None), fake, root)
    assert snapshot(fake) == before


def test_every_failed_step_is_undone(root):
    """A step of the mimic apply fails, for every step: the fake table and files are exactly as before."""
    fake = ro_host()
    before = snapshot(fake)
    apply(profile(), fake, root)
    n = len([c for c in fake.calls if not c.startswith("close")])
    apply(profile(target=None), fake, root)
    assert snapshot(fake) == before
    for k in range(1, n + 1):
        fake = ro_host()
        fake.fail_at(k, errno.EIO)
        with pytest.raises(ApplyError):
            apply(profile(), fake, root)
        assert snapshot(fake) == before, "step %d" % k


def test_killed_during_a_mimic_is_recovered_at_every_step(root):
    """Killed at each step of an apply that mimics /ro: the next run recovers, converges; destroy restores all."""
    from tests.unit.planner_world import Crash, CrashAt

    probe = ro_host()
    apply(profile(), probe, root)
    steps = probe.count
    shutil.rmtree(root)
    assert steps > 5
    for n in range(1, steps + 1):
        fake = ro_host()
        before = snapshot(fake)
        with pytest.raises(Crash):
            engine.reconcile(load_profile(profile()), CrashAt(fake, n), root=root)
        rerun = apply(profile(), fake, root)
        assert rerun.recovered, "step %d: the rerun did not say it recovered" % n
        assert not to_perform(apply(profile(), fake, root).changes), "step %d: not converged" % n
        engine.destroy("p", fake, root=root)
        assert snapshot(fake) == before, "step %d: destroy did not restore the table and files" % n
        shutil.rmtree(root)


# ---- nested: a directory of the mimicked one needs a mimic too ----------------

def nested_host():
    """Return ro_host() whose /ro/sub holds a file and a directory, so a mimic of /ro/sub has children to put back."""
    fake = ro_host()
    fake.seed_file("/srv/ro/sub/f")
    fake.seed_dir("/srv/ro/sub/d")
    fake.calls.clear()
    return fake


def nested(outer="/ro/new", inner="/ro/sub/n2"):
    """Return the profile binding /srv/a at `outer` (mimic of /ro) and a tmpfs at `inner` (mimic of /ro/sub)."""
    mounts = [dict(bind("/srv/a", t), mimic=True) for t in (outer,) if t]
    mounts += [{"target": t, "type": "tmpfs", "mimic": True} for t in (inner,) if t]
    return {"name": "p", "mounts": mounts}


@pytest.mark.parametrize("outer", ["/ro/new", "/ro/zz"], ids=["outer-sorts-first", "inner-sorts-first"])
def test_nested_plan_is_one_change_with_one_entry_per_target(root, outer):
    """/ro/sub is not put back as a read-only copy: it is a tmpfs of its own inside /ro's, in the same change."""
    report = engine.reconcile(load_profile(nested(outer)), nested_host(), root=root, check=True)
    assert mutations(report) == [("mimic", "/ro"), ("mkdir", outer), ("mount", outer), ("mkdir", "/ro/sub/n2"),
                                 ("mount", "/ro/sub/n2")] if outer < "/ro/sub" else [
        ("mimic", "/ro"), ("mkdir", "/ro/sub/n2"), ("mount", "/ro/sub/n2"), ("mkdir", outer), ("mount", outer)]
    (change,) = [c for c in report.changes if c.action.value == "mimic"]
    assert [(e.type, e.target) for e in change.synthetic] == [
        ("bind", "/ro/keep"), ("symlink", "/ro/ln"), ("tmpfs", "/ro/sub"), ("bind", "/ro/sub/d"), ("bind", "/ro/sub/f")]
    assert "nested in it: /ro/sub for /ro/sub/n2" in change.reason


def test_nested_transcript_idempotence_and_removal(root):
    """Every copy is made before /ro's tmpfs hides them; /ro/sub's tmpfs goes on a directory made in /ro's."""
    fake = nested_host()
    before = snapshot(fake)
    apply(nested(), fake, root)
    assert [c for c in fake.calls if not c.startswith(("close", "mkdir \"/ro/new", "mkdir \"/ro/sub/n2"))][:16] == [
        'clone "/ro/keep" False', 'clone "/ro/sub/d" True', 'clone "/ro/sub/f" False',
        'create_fs "tmpfs" "tmpfs" [mode=755]', 'setattr <mount tmpfs> -', 'attach <mount tmpfs> "/ro"',
        'mkfile "/ro/keep" 0o644 0 0', 'attach <mount bind /ro/keep> "/ro/keep"', 'symlink "keep" "/ro/ln"',
        'mkdir "/ro/sub" 0o755 0 0', 'create_fs "tmpfs" "tmpfs" [mode=755]', 'setattr <mount tmpfs> -',
        'attach <mount tmpfs> "/ro/sub"', 'mkdir "/ro/sub/d" 0o755 0 0', 'attach <mount bind /ro/sub/d> "/ro/sub/d"',
        'mkfile "/ro/sub/f" 0o644 0 0',
    ]
    assert mutations(apply(nested(), fake, root)) == []
    report = apply(nested(None, None), fake, root)
    assert [t for a, t in mutations(report) if a == "unmount"][-2:] == ["/ro/keep", "/ro"]
    assert snapshot(fake) == before


@pytest.mark.parametrize("left", [nested(inner=None), nested(outer=None)], ids=["inner-removed", "outer-removed"])
def test_nested_mimic_stays_while_either_entry_does(root, left):
    """Removing one of the two entries keeps the whole mimic (the other lives in it); removing both restores all."""
    fake = nested_host()
    before = snapshot(fake)
    apply(nested(), fake, root)
    report = apply(left, fake, root)
    assert [a for a, t in mutations(report) if t in ("/ro", "/ro/sub", "/ro/sub/f")] == []
    assert mutations(apply(left, fake, root)) == []
    apply(nested(None, None), fake, root)
    assert snapshot(fake) == before


def test_inner_mimic_on_a_copy_put_back_earlier_is_refused(root):
    """A mimic is needed in a copy an earlier apply put back: refused (its original is hidden), nothing changes."""
    fake = nested_host()
    apply(nested(inner=None), fake, root)
    before = snapshot(fake)
    with pytest.raises(PlanError, match="cannot mount /ro/sub/n2: /ro/sub is a read-only copy put back by the "
                                        "writable mimic of /ro for /ro/new"):
        apply(nested(), fake, root)
    assert snapshot(fake) == before


def test_nested_every_failed_step_is_undone(root):
    """A step of the nested mimic apply fails, for every step: the fake table and files are exactly as before."""
    probe = nested_host()
    before = snapshot(probe)
    apply(nested(), probe, root)
    n = len([c for c in probe.calls if not c.startswith("close")])
    shutil.rmtree(root)
    assert n > 20
    for k in range(1, n + 1):
        fake = nested_host()
        fake.fail_at(k, errno.EIO)
        with pytest.raises(ApplyError):
            apply(nested(), fake, root)
        assert snapshot(fake) == before, "step %d" % k


def test_killed_during_a_nested_mimic_is_recovered_at_every_step(root):
    """Killed at each step of a nested mimic apply: the next run recovers and converges; destroy restores all."""
    from tests.unit.planner_world import Crash, CrashAt

    probe = nested_host()
    apply(nested(), probe, root)
    n = probe.count
    shutil.rmtree(root)
    for k in range(1, n + 1):
        fake = nested_host()
        before = snapshot(fake)
        with pytest.raises(Crash):
            engine.reconcile(load_profile(nested()), CrashAt(fake, k), root=root)
        assert apply(nested(), fake, root).recovered, "step %d" % k
        assert not to_perform(apply(nested(), fake, root).changes), "step %d: not converged" % k
        engine.destroy("p", fake, root=root)
        assert snapshot(fake) == before, "step %d: destroy did not restore the table and files" % k
        shutil.rmtree(root)


def _owned(target, kind, synthetic_for):
    from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Entry, Owned

    entry = Entry(target=target, type=kind, source=target if kind == "bind" else None)
    return Owned(entry, synthetic_for=synthetic_for)


# /ro mimicked for /ro/new; /ro/sub/x (a directory put back by it) mimicked later for /ro/sub/x/n.
_FAMILY = [_owned("/ro", "tmpfs", "/ro/new"), _owned("/ro/sub", "bind", "/ro/new"),
           _owned("/ro/sub/x", "tmpfs", "/ro/sub/x/n"), _owned("/ro/sub/x/f", "bind", "/ro/sub/x/n")]


@pytest.mark.parametrize("desired, kept", [
    (["/ro/new", "/ro/sub/x/n"], 4),
    (["/ro/new"], 4),
    (["/ro/sub/x/n"], 4),
    (["/ro/sub/other"], 4),
    (["/elsewhere"], 0),
    ([], 0),
], ids=["both", "outer-only", "inner-only", "something-inside", "unrelated", "nothing"])
def test_carried_keeps_a_mimic_family_whole(desired, kept):
    """Mimics made one inside another are kept, all of them, while anything desired needs or lives in one."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import mimic

    assert len(mimic.carried(_FAMILY, dict.fromkeys(desired))) == kept


def test_a_mimic_deeper_in_a_copy_put_back_earlier_joins_its_family(root):
    """/ro/sub/d (inside the copy of /ro/sub) is mimicked later; the two are kept together, destroy restores all."""
    fake = nested_host()
    before = snapshot(fake)
    apply(nested(inner=None), fake, root)
    assert mutations(apply(nested(inner="/ro/sub/d/n3"), fake, root))[0] == ("mimic", "/ro/sub/d")
    assert mutations(apply(nested(inner="/ro/sub/d/n3"), fake, root)) == []
    outer_gone = mutations(apply(nested(None, "/ro/sub/d/n3"), fake, root))
    assert outer_gone == [("unmount", "/ro/new"), ("rmdir", "/ro/new")]
    apply(nested(None, None), fake, root)
    assert snapshot(fake) == before


# ---- found by tests/integration/test_transition_mimic.py (random transitions on the real kernel) ---------------
def test_an_entry_where_the_mimic_puts_a_copy_back_is_refused(root):
    """/ro/keep bound by the profile while /ro/new needs a mimic of /ro, which puts /ro/keep back as a copy: two
    mounts of ours at one target, of which the state kept one (destroy then failed EBUSY): refused, nothing done."""
    fake = ro_host()
    before = snapshot(fake)
    data = {"name": "p", "mounts": [bind("/srv/a/f", "/ro/keep"), dict(bind("/srv/a", "/ro/new"), mimic=True)]}
    fake.seed_file("/srv/a/f")
    with pytest.raises(PlanError, match="cannot mount /ro/keep: the writable mimic of /ro for /ro/new puts /ro/keep "
                                        "back as a copy"):
        apply(data, fake, root)
    assert snapshot(fake)[0] == before[0]


def test_a_copy_of_a_directory_whose_mount_goes_first_records_what_it_shows_then(root):
    """/ro/sub, a tmpfs of the profile, goes while /ro/new's mimic puts /ro/sub back: the copy is of the read-only
    directory under it, and is recorded so (it was recorded with the tmpfs's flags: every rerun remounted it)."""
    fake = ro_host()
    apply({"name": "p", "mounts": [{"target": "/ro/sub", "type": "tmpfs", "options": []}]}, fake, root)
    apply(profile(), fake, root)
    again = engine.reconcile(load_profile(profile()), fake, root=root, check=True)
    assert mutations(again) == []


def test_a_mount_point_hidden_under_a_mount_that_goes_in_a_read_only_directory_is_refused(root):
    """/ro/sub/n2 is under /ro/sub, a bind of the profile that goes: whether it exists in read-only /ro/sub cannot
    be seen, and it cannot be made if not: refused with the way out, not an apply failing EROFS."""
    fake = ro_host()
    apply({"name": "p", "mounts": [bind("/srv/a", "/ro/sub")]}, fake, root)
    before = snapshot(fake)
    with pytest.raises(PlanError, match="cannot mount /ro/sub/n2: /ro/sub/n2 is hidden under the mount at /ro/sub"):
        apply({"name": "p", "mounts": [bind("/srv/a", "/ro/sub/n2")]}, fake, root)
    assert snapshot(fake) == before


def test_an_outer_mimic_whose_copy_would_carry_our_own_mounts_is_refused(root):
    """/ro/sub mimicked earlier (for /ro/sub/n2), then /ro/new needs a mimic of /ro: its copy of /ro/sub would carry
    that mimic and the entry in it, a second mount of ours at each target. Refused with the way out; all at once
    from nothing, the mimics nest and it applies."""
    fake = ro_host()
    inner = dict(bind("/srv/a", "/ro/sub/n2"), mimic=True)
    apply({"name": "p", "mounts": [inner]}, fake, root)
    before = snapshot(fake)
    both = {"name": "p", "mounts": [inner, dict(bind("/srv/a", "/ro/new"), mimic=True)]}
    with pytest.raises(PlanError, match="cannot mount /ro/new: the writable mimic of /ro would put /ro/sub back as a "
                                        "copy, which carries livemount's own mount at /ro/sub along"):
        apply(both, fake, root)
    assert snapshot(fake) == before
    apply({"name": "p", "mounts": []}, fake, root)
    apply(both, fake, root)
    assert mutations(engine.reconcile(load_profile(both), fake, root=root, check=True)) == []


@pytest.mark.parametrize("keep_ro_entry,match", [
    (True, "cannot mount /ro/sub/n2: /ro/sub, where it needs a writable mimic, is the target of an entry of this "
           "profile"),
    (False, "cannot mount /ro/sub/n2: /ro/sub needs a writable mimic, but what it shows now is a mount this plan "
            "takes away first"),
], ids=["entry-at-the-directory", "directory-shown-by-a-mount-that-goes"])
def test_a_mimic_of_a_directory_our_own_mount_shows_is_refused(root, keep_ro_entry, match):
    """/ro/sub is the profile's read-only bind of /srv/a: a mimic there would stack a tmpfs on our own mount (kept),
    or copy what that mount shows although it goes first (the copies failed ENOENT at apply). Refused, nothing done."""
    fake = ro_host()
    ro_entry = bind("/srv/a", "/ro/sub", "ro")
    apply({"name": "p", "mounts": [ro_entry]}, fake, root)
    before = snapshot(fake)
    mounts = ([ro_entry] if keep_ro_entry else []) + [dict(bind("/srv/a", "/ro/sub/n2"), mimic=True)]
    with pytest.raises(PlanError, match=match):
        apply({"name": "p", "mounts": mounts}, fake, root)
    assert snapshot(fake) == before


def test_a_link_of_a_mimic_whose_tmpfs_went_is_forgotten_never_unlinked(root):
    """The mimic of /ro (for /ro/new) recreated /ro/ln in its tmpfs; the tmpfs is then detached by hand, so /ro/ln is
    D's own link again, the very same content. Destroy forgets the record: it never unlinks someone else's link (it
    did, through a writable view of the read-only mount, found by the mimic transitions killed mid-destroy)."""
    fake = ro_host()
    apply(profile(), fake, root)
    fake.umount("/ro", True)  # by hand, with everything on it
    assert fake.lstat("/ro/ln").kind == "symlink"
    report = apply({"name": "p", "mounts": []}, fake, root)
    assert ("forget", "/ro/ln") in [(c.action.value, c.target) for c in report.changes]
    assert not any(c.startswith("unlink") for c in fake.calls)
    assert fake.lstat("/ro/ln").kind == "symlink" and fake.lstat("/ro/ln").link == "keep"
