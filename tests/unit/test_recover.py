"""recover(): what an interrupted apply left is judged step by step against the live table.

Each case: a state, a journal (begin records, some done) and a live world
the crash left; the decision is the new state's owned entries and created
paths, plus the operations still to finish (a half-done swap).
"""

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Ident, Owned
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import entry_from_dict, entry_to_dict
from ansible_collections.livemount.core.plugins.module_utils.livemount.recover import recover

from tests.unit.fakesys import UNIQUE_BASE
from tests.unit.planner_world import Host, bind, entry, state, symlink, tmpfs

HEADER = {"kind": "header", "plan_id": "p1", "steps": 4, "version": 2}


def begin(n, action, path, want=None, before=None, live=None):
    """Return the `begin` record the executor writes before step n (`live`: the Ident of the mount it acts on)."""
    return {"kind": "begin", "n": n, "action": action, "path": path,
            "entry": entry_to_dict(entry(want)) if want else None,
            "before": entry_to_dict(entry(before)) if before else None,
            "live": live.to_dict() if live is not None else None}


def attach(n, path, ident, role="new"):
    """Return the `attach` record the executor writes before attaching mount `ident` in step n."""
    return {"kind": "attach", "n": n, "path": path, "role": role, "ident": ident.to_dict()}


def ident(host, row):
    """Return the Ident of a Host row (as the run read it from its detached mount)."""
    return host.table().by_id(row["mount_id"]).ident


def done(n):
    """Return the `done` record of step n."""
    return {"kind": "done", "n": n}


def _host():
    return Host().dir("/a", "/b", "/data")


# Each setup returns (state, records, world).
def _mkdir(exists, created=()):
    def setup():
        h = _host()
        if exists:
            h.dir("/data/t")
        return state(created=created), [begin(1, "mkdir", "/data/t", tmpfs("/data/t"))], h.world()
    return setup


def _rmdir(exists):
    def setup():
        h = _host()
        if exists:
            h.dir("/data/t")
        return state(created=("/data/t",)), [begin(1, "rmdir", "/data/t")], h.world()
    return setup


def _link(present):
    def setup():
        h = _host()
        if present:
            h.link("/data/l", "/x")
        return state(), [begin(1, "link", "/data/l", symlink("/data/l", "/x"))], h.world()
    return setup


def _relink(now):
    def setup():
        h = _host().link("/data/l", now)
        old = Owned(entry(symlink("/data/l", "/y")))
        return state(old), [begin(1, "replace", "/data/l", symlink("/data/l", "/x"), symlink("/data/l", "/y"))], \
            h.world()
    return setup


def _unlink(present):
    def setup():
        h = _host()
        if present:
            h.link("/data/l", "/x")
        own = Owned(entry(symlink("/data/l", "/x")))
        return state(own), [begin(1, "unlink", "/data/l", before=symlink("/data/l", "/x"))], h.world()
    return setup


def _mount(what):
    """what: "ours" (the run attached its tmpfs), None (killed before), "other" (someone else's ramfs there),
    "lookalike" (killed before attaching, then an administrator mounted a tmpfs there: issue 13, defect 3)."""
    def setup():
        h = _host().dir("/data/t")  # step 1 (mkdir) was done
        records = [begin(1, "mkdir", "/data/t", tmpfs("/data/t")), done(1), begin(2, "mount", "/data/t", tmpfs("/data/t"))]
        if what == "ours":
            row = h.raw_mount("/data/t", "tmpfs", "tmpfs")
            records.append(attach(2, "/data/t", ident(h, row)))
        elif what == "other":
            h.raw_mount("/data/t", "ramfs", "ramfs")
        elif what == "lookalike":
            h.raw_mount("/data/t", "tmpfs", "tmpfs")
        return state(), records, h.world()
    return setup


def _replace(stack, attached=True):
    """stack: binds (bottom first) live at /data/t when the crash came; the plan replaced /a by /b.

    The /b bind is the run's own (its attach record is in the journal) unless `attached` is False.
    """
    def setup():
        h = _host()
        old = Owned(entry(bind("/a", "/data/t")), unique=UNIQUE_BASE + 999)  # unmounted since, unless in `stack`
        new = None
        for src in stack:
            o = h.apply(entry(bind(src, "/data/t")))
            if src == "/a":
                old = o
            else:
                new = h.table().top("/data/t").ident
        live = Ident(old.unique, 999, (0, 1)) if old.dev is None else h.table().by_unique(old.unique).ident
        records = [begin(1, "replace", "/data/t", bind("/b", "/data/t"), bind("/a", "/data/t"), live)]
        if new is not None and attached:
            records.append(attach(1, "/data/t", new))
        return state(old), records, h.world()
    return setup


def _unmount(still):
    def setup():
        h = _host()
        own = h.apply(entry(tmpfs("/data/t")))
        live = h.table().top("/data/t").ident
        if not still:
            h.unmount("/data/t")
        return state(own), [begin(1, "unmount", "/data/t", tmpfs("/data/t"), tmpfs("/data/t"), live)], h.world()
    return setup


def _remount():
    h = _host()
    own = h.apply(entry(tmpfs("/data/t", "size=1m")))
    live = h.table().top("/data/t").ident
    return state(own), [begin(1, "remount", "/data/t", tmpfs("/data/t", "size=2m"), tmpfs("/data/t", "size=1m"),
                              live)], h.world()


# (id, setup, owned {target: source-or-type}, created, finish)
DECISIONS = [
    ("mkdir-made-is-ours", _mkdir(True), {}, ["/data/t"], []),
    ("mkdir-not-made-is-forgotten", _mkdir(False), {}, [], []),
    ("mkdir-already-recorded-once", _mkdir(True, created=("/data/t",)), {}, ["/data/t"], []),
    ("rmdir-done-is-forgotten", _rmdir(False), {}, [], []),
    ("rmdir-not-done-stays-ours", _rmdir(True), {}, ["/data/t"], []),
    ("link-made-is-ours", _link(True), {"/data/l": "/x"}, [], []),
    ("link-not-made-is-not-ours", _link(False), {}, [], []),
    ("relink-done-owns-the-new-link", _relink("/x"), {"/data/l": "/x"}, [], []),
    ("relink-not-done-keeps-the-old-link", _relink("/y"), {"/data/l": "/y"}, [], []),
    ("unlink-done-is-forgotten", _unlink(False), {}, [], []),
    ("unlink-not-done-stays-ours", _unlink(True), {"/data/l": "/x"}, [], []),
    ("mount-done-is-adopted", _mount("ours"), {"/data/t": "tmpfs"}, ["/data/t"], []),
    ("mount-not-done-is-not-ours", _mount(None), {}, ["/data/t"], []),
    ("mount-place-taken-by-something-else", _mount("other"), {}, ["/data/t"], []),
    ("mount-not-done-a-lookalike-is-not-ours", _mount("lookalike"), {}, ["/data/t"], []),
    ("replace-done-owns-the-new-mount", _replace(["/b"]), {"/data/t": "/b"}, [], []),
    ("replace-cut-mid-swap-is-finished", _replace(["/b", "/a"]), {"/data/t": "/b"}, [],
     [("umount", ("/data/t", True))]),
    ("replace-not-started-keeps-the-old-mount", _replace(["/a"]), {"/data/t": "/a"}, [], []),
    ("replace-a-lookalike-of-the-new-is-not-ours", _replace(["/b"], attached=False), {}, [], []),
    ("replace-with-nothing-mounted-forgets-it", _replace([]), {}, [], []),
    ("unmount-done-is-forgotten", _unmount(False), {}, [], []),
    ("unmount-not-done-stays-ours", _unmount(True), {"/data/t": "tmpfs"}, [], []),
    ("remount-changes-no-ownership", _remount, {"/data/t": "tmpfs"}, [], []),
]


def _owned_view(st):
    return {o.entry.target: (o.entry.source or o.entry.type) for o in st.owned}


@pytest.mark.parametrize("setup, owned, created, finish", [pytest.param(*c[1:], id=c[0]) for c in DECISIONS])
def test_recover_decision(setup, owned, created, finish):
    """Whatever the crash left, the new state owns exactly what the journal was making and is live."""
    st, records, world = setup()
    new, todo, messages = recover(st, HEADER, records, world, entry_from_dict)
    assert _owned_view(new) == owned
    assert list(new.created) == created
    assert [(name, args[:2]) for name, args in todo] == finish  # which mount each acts on: test_recover_finish_*
    assert (new.profile, new.namespace) == (st.profile, st.namespace)


def test_recover_keeps_entries_the_journal_does_not_mention():
    """Owned entries no record talks about are kept as they were, created paths too."""
    h = _host()
    other = h.apply(entry(tmpfs("/data/o")))
    st = state(other, created=("/data/o",))
    new, _, _ = recover(st, HEADER, [begin(1, "link", "/data/l", symlink("/data/l", "/x"))], h.world(),
                        entry_from_dict)
    assert new.owned == (other,) and new.created == ("/data/o",)


def test_recover_message_counts_the_steps_done():
    """The message names the plan and how far it got."""
    st, records, world = _mount("ours")()
    _, _, messages = recover(st, HEADER, records, world, entry_from_dict)
    assert messages == ["recovered an interrupted apply (plan p1, 1 of 4 steps done): adopted what it made, "
                        "then planned afresh"]


def test_recover_of_an_empty_journal_changes_nothing():
    """A journal with only its header (killed before the first step) leaves the state as it was."""
    h = _host()
    own = h.apply(entry(tmpfs("/data/t")))
    st = state(own, created=("/data/t",))
    new, todo, messages = recover(st, {"kind": "header"}, [], h.world(), entry_from_dict)
    assert (new.owned, new.created, todo) == (st.owned, st.created, [])
    assert "plan ?, 0 of 0 steps done" in messages[0]


def test_recover_finish_names_the_mount_it_takes_off():
    """A swap cut in the middle is finished by detaching the old top, checked to be that very mount."""
    st, records, world = _replace(["/b", "/a"])()
    _, todo, _ = recover(st, HEADER, records, world, entry_from_dict)
    assert todo == [("umount", ("/data/t", True, world.table.top("/data/t").ident))]


@pytest.mark.parametrize("mount, adopted", [(tmpfs("/data/t"), False), (bind("/a", "/data/t"), True)],
                         ids=["tmpfs-is-not-adopted", "bind-is-recognised"])
def test_a_journal_from_before_version_2_adopts_only_what_is_recognisable(mount, adopted):
    """A journal naming no mount: a bind is its source's, a tmpfs could be anyone's (issue 13, defect 3)."""
    h = _host().dir("/data/t")
    h.apply(entry(mount))
    old = {"kind": "begin", "n": 1, "action": "mount", "path": "/data/t", "entry": entry_to_dict(entry(mount)),
           "before": None}
    new, _, _ = recover(state(), {"kind": "header", "plan_id": "p0", "steps": 1}, [old], h.world(), entry_from_dict)
    assert bool(new.owned) == adopted
