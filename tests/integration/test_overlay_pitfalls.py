"""Overlay pitfalls on the real kernel: every rule of docs/overlay-rules.md refused before anything changes.

Each refusal case prepares directories (and sometimes a hand-made or
unmounted overlay) under scratch, then asks the engine for the overlay /o:
check mode and apply must both raise the same error naming the entry and the
field, and the mount table, the state and every file under scratch must be
exactly as before. The kernel would have refused most of these mounts too,
but later, with EINVAL or ESTALE and nothing in the fs context log: the
point is the clear message up front. The positive cases show that what
overlayfs leaves behind after a clean unmount is accepted again.
"""

import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import sys_linux
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import PlanError, ProfileError, SysError
from tests.integration.helpers import (apply, check_live, cli, destroy, expand, hand_mount, hand_umount, make_tree,
                                       mount_points, pending, profile_dict, read_state, snapshot,
                                       write_profile)

TREE = ["l1/x=l1", "l2/x=l2", "up/", "wk/", "o/"]


def overlay(lower=("@/l1",), upper="@/up", work="@/wk", target="@/o", options=(), **extra):
    """Return an overlay entry dict."""
    e = dict(target=target, type="overlay", lower=list(lower), upper=upper, work=work, **extra)
    if options:
        e["options"] = list(options)
    return e


def _files(root):
    """Return {path: (kind, content)} of everything under `root` but the state directory, mounts entered."""
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = [n for n in dirs if os.path.join(d, n) != os.path.join(root, "state")]
        for name in dirs + files:
            p = os.path.join(d, name)
            if os.path.islink(p) or not os.path.isfile(p):
                out[p] = ("link", os.readlink(p)) if os.path.islink(p) else ("dir", oct(os.lstat(p).st_mode))
            else:
                with open(p, "rb") as f:
                    out[p] = ("file", f.read())
    return out


def _ovl(scratch, lower, upper, work, target, *extra):
    """Mount an overlay by hand (mount(8)), layers under scratch."""
    opts = "lowerdir=%s,upperdir=%s,workdir=%s" % (expand(scratch, lower), expand(scratch, upper),
                                                     expand(scratch, work))
    hand_mount("-t", "overlay", "overlay", "-o", ",".join((opts,) + extra), expand(scratch, target))


# ---- preparations: each leaves scratch in the state one rule refuses ------------------------------

def _other_mount(scratch):
    make_tree(scratch, ["other/"])
    hand_mount("-t", "tmpfs", "tmpfs", expand(scratch, "@/other"))
    make_tree(scratch, ["other/wk/"])


def _foreign_work(scratch):
    make_tree(scratch, ["wk/a.txt=data", "wk/notes/"])


def _upper_in_use(scratch):
    make_tree(scratch, ["wk2/", "o2/"])
    _ovl(scratch, "@/l2", "@/up", "@/wk2", "@/o2")


def _volatile_leftover(scratch):
    _ovl(scratch, "@/l1", "@/up", "@/wk", "@/o", "volatile")
    hand_umount(expand(scratch, "@/o"))


def _index_over_l2(scratch):
    _ovl(scratch, "@/l2", "@/up", "@/wk", "@/o", "index=on")
    hand_umount(expand(scratch, "@/o"))


def _index_with_other_upper(scratch):
    make_tree(scratch, ["up2/"])
    _ovl(scratch, "@/l1", "@/up2", "@/wk", "@/o", "index=on")
    hand_umount(expand(scratch, "@/o"))


REFUSED = [
    # (id, prepare, entry, error, field, phrase of the message)
    ("lower-is-the-target", None, overlay(lower=["@/o"]), ProfileError, "lower[0]",
     "is the target itself: the layer would show the target's old content only until the overlay is mounted"),
    ("lower-inside-lower", None, overlay(lower=["@/l1", "@/l1/x"]), ProfileError, "lower[1]",
     "overlapping lowerdir path"),
    ("upper-inside-lower", None, overlay(upper="@/l1/up"), ProfileError, "upper",
     "lies inside lower[0]"),
    ("upper-missing", None, overlay(upper="@/nope"), PlanError, "upper",
     "does not exist: overlayfs needs an existing directory"),
    ("work-on-another-mount", _other_mount, overlay(work="@/other/wk"), PlanError, "work",
     "is on another filesystem"),
    ("work-holds-foreign-files", _foreign_work, overlay(), PlanError, "work",
     "holds files overlayfs did not put there (a.txt, notes)"),
    ("upper-of-a-live-overlay", _upper_in_use, overlay(), PlanError, "upper",
     "is the upper of the overlay live at"),
    ("volatile-leftover", _volatile_leftover, overlay(), PlanError, "work",
     "holds work/incompat/volatile, left by an overlay mounted with volatile"),
    ("index-upper-over-another-lower", _index_over_l2, overlay(options=["index=on"]), PlanError, "upper",
     "was used with index=on over another lower layer"),
    ("index-work-of-another-upper", _index_with_other_upper, overlay(options=["index=on"]), PlanError, "work",
     "index records another upper"),
]


@pytest.mark.parametrize("prepare, entry, error, field, phrase", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_before_anything_changes(scratch, prepare, entry, error, field, phrase):
    """Check mode and apply refuse with the entry and field named; table, state and files stay as they were."""
    make_tree(scratch, TREE)
    if prepare:
        prepare(scratch)
    data = profile_dict(scratch, [entry])
    before = (snapshot(scratch), read_state(scratch), _files(scratch))
    messages = []
    for check in (True, False):
        with pytest.raises(error) as err:
            apply(scratch, data, check=check)
        messages.append(str(err.value))
        assert (snapshot(scratch), read_state(scratch), _files(scratch)) == before, "a refusal changed something"
    assert messages[0] == messages[1], "check mode predicts another error"
    label = "entry 0 (%s)" % expand(scratch, "@/o")
    assert "%s: %s" % (label, field) in messages[0] and phrase in messages[0], messages[0]


def test_cli_exit_status_and_message(scratch):
    """`livemount plan` and `apply` exit 1 on a predicted refusal and print the reason, not a traceback."""
    make_tree(scratch, TREE)
    _volatile_leftover(scratch)
    path = write_profile(scratch, profile_dict(scratch, [overlay()]))
    for argv in (("plan", path), ("apply", "--yes", path)):
        proc = cli(scratch, *argv)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "cannot mount overlay entry 0 (%s): work" % expand(scratch, "@/o") in proc.stderr
        assert "holds work/incompat/volatile" in proc.stderr
    assert mount_points(scratch) == []


def test_volatile_overlay_unmounted_then_applied_again(scratch):
    """A volatile overlay unmounted by hand is not mounted again: a clear refusal instead of EINVAL."""
    make_tree(scratch, TREE)
    data = profile_dict(scratch, [overlay(options=["volatile"])])
    apply(scratch, data)
    assert check_live(scratch, data) == []
    hand_umount(expand(scratch, "@/o"))
    assert os.path.isdir(expand(scratch, "@/wk/work/incompat/volatile"))
    for check in (True, False):
        with pytest.raises(PlanError) as err:
            apply(scratch, data, check=check)
        assert "work %s holds work/incompat/volatile" % expand(scratch, "@/wk") in str(err.value)
    assert mount_points(scratch) == []


def test_index_upper_reused_over_another_lower(scratch):
    """An index=on upper kept after destroy and given another lower: refused up front, not ESTALE at mount."""
    make_tree(scratch, TREE)
    apply(scratch, profile_dict(scratch, [overlay(options=["index=on"])]))
    destroy(scratch)
    assert os.getxattr(expand(scratch, "@/up"), "trusted.overlay.origin")
    data = profile_dict(scratch, [overlay(lower=["@/l2"], options=["index=on"])])
    with pytest.raises(PlanError) as err:
        apply(scratch, data)
    assert "upper %s was used with index=on over another lower layer" % expand(scratch, "@/up") in str(err.value)
    assert "ESTALE" in str(err.value) and mount_points(scratch) == []
    # The same upper over the lower it remembers, or with index=off, mounts.
    for ok in (overlay(options=["index=on"]), overlay(lower=["@/l2"], options=["index=off"])):
        apply(scratch, profile_dict(scratch, [ok]))
        destroy(scratch)


def test_carry_of_a_volatile_overlay_is_refused(scratch):
    """Replacing a volatile overlay with upper_policy carry would remount on its leftover: refused, fresh works."""
    make_tree(scratch, TREE)
    apply(scratch, profile_dict(scratch, [overlay(options=["volatile"])]))
    before = snapshot(scratch)
    carry = profile_dict(scratch, [overlay(lower=["@/l2"], options=["volatile"], upper_policy="carry")])
    with pytest.raises(PlanError) as err:
        apply(scratch, carry)
    assert "upper_policy carry cannot work; use upper_policy fresh" in str(err.value)
    assert snapshot(scratch) == before


@pytest.mark.parametrize("options", [(), ("index=on",), ("volatile",)], ids=["plain", "index", "volatile-fresh-work"])
def test_work_left_by_overlayfs_is_accepted_again(scratch, options):
    """After destroy the work holds overlayfs's own `work` (and `index`): applying again mounts, then converges."""
    make_tree(scratch, TREE)
    data = profile_dict(scratch, [overlay(options=list(options))])
    apply(scratch, data)
    destroy(scratch)
    if "volatile" in options:
        # The documented way out: throw the work away (the upper is kept here: nothing crashed).
        os.rename(expand(scratch, "@/wk"), expand(scratch, "@/wk-old"))
        os.mkdir(expand(scratch, "@/wk"))
    else:
        assert set(os.listdir(expand(scratch, "@/wk"))) <= {"work", "index"} and os.listdir(expand(scratch, "@/wk"))
    apply(scratch, data)
    assert check_live(scratch, data) == [] and pending(scratch, data) == []


# ---- the kernel's own refusals, when they still happen: the error explains them ----------------

def test_mount_time_hints(scratch):
    """create_fs refused with EINVAL (volatile leftover) or ESTALE (index) says why, though dmesg alone knows."""
    make_tree(scratch, TREE)
    _volatile_leftover(scratch)
    s = sys_linux.LinuxSys()
    layers = dict(lower=[expand(scratch, "@/l1")], upper=expand(scratch, "@/up"), work=expand(scratch, "@/wk"))
    with pytest.raises(SysError) as err:
        s.create_fs("overlay", None, [], **layers)
    assert err.value.errno == 22 and "work/incompat/volatile was left by a mount with volatile" in str(err.value)
    make_tree(scratch, ["up3/", "wk3/"])
    _ovl(scratch, "@/l2", "@/up3", "@/wk3", "@/o", "index=on")
    hand_umount(expand(scratch, "@/o"))
    layers = dict(lower=[expand(scratch, "@/l1")], upper=expand(scratch, "@/up3"), work=expand(scratch, "@/wk3"))
    with pytest.raises(SysError) as err:
        s.create_fs("overlay", None, [("index", "on")], **layers)
    assert err.value.errno == 116 and "remembers other layers from a mount with index=on" in str(err.value)
