"""Directories livemount made are known by device and inode: issue 13, defect 7 (a) and (b), on the real kernel.

(a) A bind at x/a/inner, then a tmpfs at x/a as well (inner is made again
    inside it, the first one hidden below), then destroy: the hidden copy is
    livemount's own, so x/a/inner, x/a and x all go.
(b) Two profiles each with a link in a directory one of them made:
    destroying both, in either order, removes the directory.
A directory livemount made and someone removed and made again is theirs:
never removed. (c), parallel runs over shared parents, is in
tests/reliability/test_concurrency_stress.py.
"""

import os

import pytest

from .helpers import apply, destroy, expand, make_tree, pending, profile_dict, status


def tree(scratch):
    """Return every path under scratch except the state directory."""
    out = []
    for d, dirs, files in os.walk(scratch):
        dirs[:] = [x for x in dirs if os.path.join(d, x) != os.path.join(scratch, "state")]
        out.extend(os.path.relpath(os.path.join(d, x), scratch) for x in dirs + files)
    return sorted(out)


INNER = {"target": "@/x/a/inner", "type": "bind", "source": "@/src"}
OVER = {"target": "@/x/a", "type": "tmpfs", "options": ["size=1m"]}


@pytest.mark.parametrize("steps", [["inner", "both"], ["inner", "both", "inner"], ["both", "inner", "both"]],
                         ids=["then-tmpfs", "tmpfs-and-back", "tmpfs-first"])
def test_defect7a_a_copy_hidden_under_a_later_mount_is_still_ours(scratch, steps):
    """Each version applied in turn, then destroy: every directory livemount made goes, the hidden copy too."""
    make_tree(scratch, ["src/f=1"])
    before = tree(scratch)
    versions = {"inner": [INNER], "both": [OVER, INNER]}
    for name in steps:
        data = profile_dict(scratch, versions[name])
        apply(scratch, data)
        assert pending(scratch, data) == []
    report = destroy(scratch)
    assert not any(w.startswith("kept ") for w in report.warnings), report.warnings
    assert tree(scratch) == before
    assert status(scratch) == []


@pytest.mark.parametrize("order", [("one", "two"), ("two", "one")], ids=["creator-first", "creator-last"])
def test_defect7b_a_directory_shared_by_two_profiles_links_goes_with_the_last(scratch, order):
    """one makes @/d for its link, two links into it too: after both destroys, @/d is gone and no state is left."""
    make_tree(scratch, [])
    before = tree(scratch)
    one = profile_dict(scratch, [{"target": "@/d/l1", "type": "symlink", "source": "/x"}], name="one")
    two = profile_dict(scratch, [{"target": "@/d/l2", "type": "symlink", "source": "/y"}], name="two")
    apply(scratch, one)
    apply(scratch, two)
    first, last = order
    report = destroy(scratch, first)
    if first == "one":
        row = [r for r in status(scratch) if r["profile"] == "one"]
        assert row and row[0]["leftovers"] == [expand(scratch, "@/d")], status(scratch)  # kept, not forgotten
        assert any("kept %s" % expand(scratch, "@/d") in w for w in report.warnings), report.warnings
    destroy(scratch, last)
    assert tree(scratch) == before
    assert status(scratch) == []


def test_a_created_directory_made_again_by_someone_else_is_theirs(scratch):
    """Our mount point removed by hand and made again by someone: not the directory we made, so it stays."""
    make_tree(scratch, [])
    data = profile_dict(scratch, [{"target": "@/p/q", "type": "symlink", "source": "/x"}])
    apply(scratch, data)
    p = expand(scratch, "@/p")
    os.unlink(os.path.join(p, "q"))
    os.rmdir(p)
    os.mkdir(p)  # the same path, another directory: someone else's
    report = destroy(scratch)
    assert os.path.isdir(p)
    assert any("not the directory livemount made" in w for w in report.warnings), report.warnings
    assert status(scratch) == []
