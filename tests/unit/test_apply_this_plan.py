"""reconcile(expect=...): apply exactly the plan that was shown, or refuse with what changed since (on the fake Sys).

A check-mode Report carries the fingerprint of what it was planned from;
`Report.expected()` hands it back to an apply, which observes again under
the lock and runs the very same Change objects (no second plan) when nothing
changed, and raises StalePlanError naming each change otherwise. A saved
plan (change dicts, no objects) is planned again and must come out equal.
"""

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, fingerprint, report as reports
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import StalePlanError
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from tests.unit.engine_runs import apply, mutations, root  # noqa: F401 (fixtures)
from tests.unit.planner_world import PROFILE_A, PROFILE_B, bind, fake_host, snapshot, tmpfs


def _preview(data, fake, root, **kw):
    return engine.reconcile(load_profile(data), fake, root=root, check=True, **kw)


def test_the_shown_plan_is_applied_without_planning_again(root, monkeypatch):
    """After a check-mode preview, apply(expect) performs exactly its Change objects; plan() is not called again."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    preview = _preview(PROFILE_B, fake, root)
    assert preview.fingerprint and preview.changed

    def no_second_plan(*args):
        raise AssertionError("planned twice")

    monkeypatch.setattr(engine, "plan", no_second_plan)
    report = apply(PROFILE_B, fake, root, expect=preview.expected())
    assert [id(c) for c in report.changes] == [id(c) for c in preview.changes]
    monkeypatch.undo()
    assert mutations(apply(PROFILE_B, fake, root)) == []


def _foreign_below(fake):
    fake.seed_dir("/data/t/sub")
    fake.seed_mount("tmpfs", "/data/t/sub", source="intruder")


def _unmounted_by_hand(fake):
    fake.umount("/data/t")


def _remounted_by_hand(fake):
    fake.setattr("/data/t", ["ro", "nosuid"])


def _path_appeared(fake):
    fake.seed_dir("/data/n")


def _filled(fake):
    fake.seed_file("/srv/b/x/new")


CHANGES = [
    # (id, what happens between the plan and the apply, words the refusal must have)
    ("foreign-mount-below-a-target", _foreign_below, "a mount appeared: /data/t/sub tmpfs intruder"),
    ("unmounted-by-hand", _unmounted_by_hand, "a mount went away: /data/t tmpfs"),
    ("remounted-by-hand", _remounted_by_hand, "the mount on /data/t changed: was tmpfs tmpfs nosuid "),
    ("directory-made", _path_appeared, "path /data/n changed: was missing, now dir"),
    # The apply observes without opening directories: the fingerprint reads emptiness when it is taken.
    ("directory-filled", _filled, "path /srv/b/x changed: was dir 0755 0:0 dev 8:1 empty, now "),
]


@pytest.mark.parametrize("change, words", [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_a_changed_world_refuses_the_plan(root, change, words):
    """Something changed between the plan and its apply: StalePlanError says what, and nothing is touched."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    preview = _preview(PROFILE_B, fake, root)
    change(fake)
    before, calls = snapshot(fake), len(fake.calls)
    with pytest.raises(StalePlanError) as exc:
        apply(PROFILE_B, fake, root, expect=preview.expected())
    assert any(words in d for d in exc.value.differences), exc.value.differences
    assert str(exc.value).startswith("cannot apply the plan for p: what it was made from changed since: ")
    assert snapshot(fake) == before and len(fake.calls) == calls


def test_another_apply_in_between_refuses_the_plan(root):
    """The state changed since the plan (another apply): refused, naming the state."""
    fake = fake_host()
    preview = _preview(PROFILE_A, fake, root)
    apply({"name": "p", "mounts": [tmpfs("/data/t", "size=1m")]}, fake, root)
    with pytest.raises(StalePlanError) as exc:
        apply(PROFILE_A, fake, root, expect=preview.expected())
    assert any(d.startswith("the profile's state changed (applied again at ") for d in exc.value.differences)


def test_a_plan_for_another_profile_text_is_refused(root):
    """The fingerprint covers the profile: a plan shown for one profile cannot apply another."""
    fake = fake_host()
    preview = _preview(PROFILE_A, fake, root)
    with pytest.raises(StalePlanError) as exc:
        apply(dict(PROFILE_A, mounts=PROFILE_A["mounts"][:2]), fake, root, expect=preview.expected())
    assert "the profile is not the one the plan was made from" in exc.value.differences


def test_a_saved_plan_is_planned_again_and_must_be_equal(root):
    """A saved plan (change dicts only) applies when the plan made now is the same, and is refused when not."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    preview = _preview(PROFILE_B, fake, root)
    dicts = tuple(reports.change_dict(c) for c in preview.changes)
    tampered = fingerprint.Expected(preview.fingerprint, change_dicts=dicts[:-1])
    with pytest.raises(StalePlanError) as exc:
        apply(PROFILE_B, fake, root, expect=tampered)
    assert "the plan made now differs from the one shown" in exc.value.differences[0]
    report = apply(PROFILE_B, fake, root, expect=fingerprint.Expected(preview.fingerprint, change_dicts=dicts))
    assert [reports.change_dict(c) for c in report.changes] == list(dicts)
    assert mutations(apply(PROFILE_B, fake, root)) == []


def test_unchanged_world_gives_the_same_fingerprint(root):
    """Two check-mode plans of an unchanged world have equal fingerprints (no false refusals)."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    first, second = _preview(PROFILE_B, fake, root), _preview(PROFILE_B, fake, root)
    assert fingerprint.differences(first.fingerprint, second.fingerprint) == []


def test_json_changes_carry_before_and_after(root):
    """change_dict: a replace and a remount say the entry before and after, as a profile writes it; a keep not."""
    fake = fake_host()
    apply({"name": "p", "mounts": [bind("/srv/a", "/data/m"), tmpfs("/data/t", "size=1m"),
                                   tmpfs("/data/k")]}, fake, root)
    preview = _preview({"name": "p", "mounts": [bind("/srv/b", "/data/m"), tmpfs("/data/t", "size=2m"),
                                                tmpfs("/data/k")]}, fake, root)
    by = {(c["action"], c["target"]): c for c in preview.to_dict()["changes"]}
    assert by[("replace", "/data/m")]["before"]["source"] == "/srv/a"
    assert by[("replace", "/data/m")]["after"]["source"] == "/srv/b"
    assert by[("remount", "/data/t")]["before"]["options"] == ["size=1m"]
    assert by[("remount", "/data/t")]["after"]["options"] == ["size=2m"]
    assert "before" not in by[("keep", "/data/k")]


# ---- a plan nobody fingerprints (`livemount plan` without --out) ------------------------

def test_a_plan_without_fingerprint_is_the_same_plan(root):
    """fingerprinted=False opens no directory to see whether it is empty: the plan, its keeps and report are the same."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    for data in (PROFILE_A, PROFILE_B):
        full, lean = _preview(data, fake, root), _preview(data, fake, root, fingerprinted=False)
        assert lean.changes == full.changes and lean.to_dict() == full.to_dict()


def test_a_fingerprint_asked_anyway_reads_emptiness_when_taken(root):
    """A fingerprint of a plan observed without emptiness reads it when taken: the same as one observed with it."""
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    full, lean = _preview(PROFILE_B, fake, root), _preview(PROFILE_B, fake, root, fingerprinted=False)
    assert lean.fingerprint == full.fingerprint
    assert any(text.endswith("empty") for text in full.fingerprint["paths"].values())


def test_an_apply_opens_no_directory_to_see_whether_it_is_empty(root, monkeypatch):
    """Only a check-mode plan's fingerprint records emptiness: every observe of an apply (its first look too) is
    without it, a check-mode plan's with it unless fingerprinted=False."""
    seen = []
    real = engine.observe
    monkeypatch.setattr(engine, "observe", lambda *args: seen.append(args[4]) or real(*args))
    fake = fake_host()
    apply(PROFILE_A, fake, root)
    apply(PROFILE_B, fake, root)
    assert seen and not any(seen)
    del seen[:]
    _preview(PROFILE_A, fake, root)
    _preview(PROFILE_A, fake, root, fingerprinted=False)
    assert seen == [True, False]


def test_observe_without_emptiness_leaves_it_unknown(root):
    """observe(empty=False): each fact as lstat() gives it, `empty` None (Sys.facts)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.observe import observe

    fake = fake_host()
    entries = load_profile(PROFILE_A).entries
    full, lean = observe(fake, entries), observe(fake, entries, empty=False)
    assert set(lean.facts) == set(full.facts)
    for p, fact in full.facts.items():
        assert lean.facts[p].empty is None and lean.facts[p] == type(fact)(**dict(vars(fact), empty=None))
