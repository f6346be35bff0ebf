"""order_changes: conflicts first, then children down before parents, then parents up before children."""

import random

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Action, Change, Entry
from ansible_collections.livemount.core.plugins.module_utils.livemount.order import order_changes

from tests.unit.planner_world import Host


def ch(action, path, reason="r"):
    """Return a Change of `action` at `path` (an rmdir has no entry, like the planner's)."""
    action = Action(action)
    entry = None if action == Action.RMDIR else Entry(target=path, type="tmpfs")
    return Change(action, entry, reason, path=path)


def order(*pairs):
    """Return [(action, path)] of order_changes applied to changes given as (action, path) pairs."""
    return [(c.action.value, c.target) for c in order_changes([ch(a, p) for a, p in pairs])]


ORDERS = [
    ("unmount-children-before-parents", [("unmount", "/m"), ("unmount", "/m/x"), ("unmount", "/m/x/y")],
     [("unmount", "/m/x/y"), ("unmount", "/m/x"), ("unmount", "/m")]),
    ("mount-parents-before-children", [("mount", "/m/x/y"), ("mount", "/m"), ("mount", "/m/x")],
     [("mount", "/m"), ("mount", "/m/x"), ("mount", "/m/x/y")]),
    ("unmount-before-rmdir-at-one-path", [("rmdir", "/t"), ("unmount", "/t")], [("unmount", "/t"), ("rmdir", "/t")]),
    ("unlink-before-rmdir-at-one-path", [("rmdir", "/t"), ("unlink", "/t")], [("unlink", "/t"), ("rmdir", "/t")]),
    ("mkdir-before-mount-at-one-path", [("mount", "/t"), ("mkdir", "/t")], [("mkdir", "/t"), ("mount", "/t")]),
    ("rmdir-deepest-first", [("rmdir", "/a"), ("rmdir", "/a/b/c"), ("rmdir", "/a/b")],
     [("rmdir", "/a/b/c"), ("rmdir", "/a/b"), ("rmdir", "/a")]),
    ("child-rmdir-before-parent-unmount", [("unmount", "/m"), ("rmdir", "/m/x"), ("unmount", "/m/x")],
     [("unmount", "/m/x"), ("rmdir", "/m/x"), ("unmount", "/m")]),
    ("whole-down-phase-before-up-phase", [("mount", "/a"), ("unmount", "/z"), ("mkdir", "/b"), ("rmdir", "/y")],
     [("unmount", "/z"), ("rmdir", "/y"), ("mount", "/a"), ("mkdir", "/b")]),
    ("keeps-and-remounts-in-place-in-the-up-phase",
     [("keep", "/b"), ("mount", "/c"), ("remount", "/a"), ("replace", "/a/x"), ("link", "/b/l")],
     [("remount", "/a"), ("replace", "/a/x"), ("keep", "/b"), ("link", "/b/l"), ("mount", "/c")]),
    ("prefix-sibling-sorts-as-its-own-subtree", [("mount", "/a/b/c"), ("mount", "/a/b-1"), ("mount", "/a/b")],
     # sort key target + "/": "/a/b-1/" < "/a/b/" because "-" < "/".
     [("mount", "/a/b-1"), ("mount", "/a/b"), ("mount", "/a/b/c")]),
    ("prefix-sibling-down-phase", [("unmount", "/a/b"), ("unmount", "/a/b-1"), ("unmount", "/a/b/c")],
     [("unmount", "/a/b/c"), ("unmount", "/a/b"), ("unmount", "/a/b-1")]),
    ("root-children", [("mount", "/x"), ("mkdir", "/x"), ("unmount", "/y")],
     [("unmount", "/y"), ("mkdir", "/x"), ("mount", "/x")]),
]


@pytest.mark.parametrize("given, expected", [pytest.param(g, e, id=i) for i, g, e in ORDERS])
def test_order(given, expected):
    """Changes come out in execution order whatever order they went in."""
    assert order(*given) == expected
    assert order(*reversed(given)) == expected


def test_conflicts_come_first_once():
    """Conflicts lead the plan, each (action, target, reason) once; the others follow in phase order."""
    changes = [ch("mount", "/a"), ch("conflict", "/b", "x"), ch("unmount", "/c"), ch("conflict", "/b", "x"),
               ch("conflict", "/b", "y")]
    out = order_changes(changes)
    assert [(c.action.value, c.target, c.reason) for c in out] == [
        ("conflict", "/b", "x"), ("conflict", "/b", "y"), ("unmount", "/c", "r"), ("mount", "/a", "r")]


def test_random_plans_keep_every_change_and_respect_the_tree():
    """For shuffled plans: nothing lost, every down change before every up change, parents up before children."""
    rng = random.Random(7)
    tree = ["/a", "/a/b", "/a/b/c", "/a/b-1", "/a/b-1/x", "/z", "/z/y"]
    for _ in range(200):
        changes = [ch(rng.choice(["mount", "unmount", "mkdir", "rmdir", "keep", "remount"]), rng.choice(tree))
                   for _ in range(rng.randint(1, 8))]
        out = order_changes(list(changes))
        assert sorted(map(id, out)) == sorted(map(id, changes))
        phases = [c.action in (Action.UNMOUNT, Action.UNLINK, Action.RMDIR) for c in out]
        assert phases == sorted(phases, reverse=True)
        ups = [c.target for c in out if c.action not in (Action.UNMOUNT, Action.UNLINK, Action.RMDIR)]
        downs = [c.target for c in out if c.action in (Action.UNMOUNT, Action.UNLINK, Action.RMDIR)]
        for seq, parent_first in ((ups, True), (downs, False)):
            for i, p in enumerate(seq):
                for q in seq[i + 1:]:
                    child, parent = (q, p) if parent_first else (p, q)
                    assert not parent.startswith(child + "/"), (seq, p, q)


@pytest.mark.parametrize("have, want, last", [
    ((), {"ro"}, True), ({"ro"}, {"ro", "nosuid"}, False), ({"ro"}, (), False), ((), {"nosuid"}, False),
], ids=["rw-to-ro-goes-last", "stays-ro", "ro-to-rw-goes-first", "other-flag"])
def test_remount_making_read_only_follows_its_subtree(have, want, last):
    """A remount that turns a mount read-only comes after every change below it (mkdir there would be EROFS)."""
    host = Host().dir("/m")
    host.apply(Entry(target="/m", type="tmpfs", flags=frozenset(have)))
    remount = Change(Action.REMOUNT, Entry(target="/m", type="tmpfs", flags=frozenset(want)), "r",
                     live=host.table().top("/m"))
    out = order_changes([ch("mount", "/m/x/y"), remount, ch("mkdir", "/m/x"), ch("mount", "/m-1"), ch("keep", "/n")])
    # "/m-1" sorts before "/m" and its subtree: "/m-1/" < "/m/".
    expected = ["/m-1", "/m/x", "/m/x/y", "/m", "/n"] if last else ["/m-1", "/m", "/m/x", "/m/x/y", "/n"]
    assert [c.target for c in out] == expected
