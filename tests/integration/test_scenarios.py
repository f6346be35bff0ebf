"""Scenarios 1-28 of docs/scenarios.md, applied for real inside the test's mount namespace.

Each table row: E (paths made first), S (a profile applied first with the
engine), an optional change made by hand, then D applied. The live table is
then compared with D (our own mountinfo reading, see helpers.py), a second
plan must have nothing to do, and destroy must leave no mount and no
directory livemount created.
"""

import os
import re
import subprocess
import sys
import time
from collections import namedtuple

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import PlanError, ProfileError
from tests.integration import helpers
from tests.integration.helpers import (apply, check_live, destroy, expand, hand_mount, hand_umount, make_tree,
                                       mount_points, owned_targets, pending, profile_dict, read, read_state, snapshot,
                                       status, steps, top, write)

Case = namedtuple("Case", "tree S hand D expect error foreign after")
Case.__new__.__defaults__ = ((), None, None, (), None, None, (), None)


def bind(src, dst, *opts, **kw):
    """Return a bind entry dict."""
    return dict(kw, target=dst, type="bind", source=src, **({"options": list(opts)} if opts else {}))


def tmpfs(dst, *opts):
    """Return a tmpfs entry dict."""
    return dict(target=dst, type="tmpfs", **({"options": list(opts)} if opts else {}))


def overlay(dst, lower, upper="@/up", work="@/wk"):
    """Return an overlay entry dict."""
    return dict(target=dst, type="overlay", lower=list(lower), upper=upper, work=work)


def link(dst, to):
    """Return a symlink entry dict."""
    return dict(target=dst, type="symlink", source=to)


# ---- hand-made changes and extra checks (run with scratch and a shared dict) ----

def _mount_id(scratch, ctx, *targets):
    ctx.update({t: top(expand(scratch, t)).mount_id for t in targets})


def _same_mount_ids(scratch, ctx):
    for t, mount_id in ctx.items():
        if t.startswith("@"):
            assert top(expand(scratch, t)).mount_id == mount_id, "%s was rebuilt, not changed live" % t


def _file_in(path):
    def hand(scratch, ctx):
        write(expand(scratch, path), "kept")
        _mount_id(scratch, ctx, os.path.dirname(path))

    def after(scratch, ctx, report):
        assert read(expand(scratch, path)) == "kept"
        _same_mount_ids(scratch, ctx)
    return hand, after


def _remember(*targets):
    return lambda scratch, ctx: _mount_id(scratch, ctx, *targets)


def _reason(target, words):
    def after(scratch, ctx, report):
        reasons = [c.reason for c in report.changes if c.target == expand(scratch, target)]
        assert any(words in r for r in reasons), reasons
    return after


def _adopted(scratch, ctx, report):
    assert [c.adopt for c in report.changes] == [True]
    assert owned_targets(scratch) == ["@/t"]


def _hand(*argvs):
    def hand(scratch, ctx):
        for argv in argvs:
            argv = expand(scratch, list(argv))
            if argv[0] == "mkdir":
                os.makedirs(argv[1], exist_ok=True)
            elif argv[0] == "umount":
                hand_umount(*argv[1:])
            else:
                hand_mount(*argv)
    return hand


def _overlay_shows(text):
    return lambda scratch, ctx, report: _assert_text(expand(scratch, "@/o/x"), text)


def _kept_aside(scratch, report):
    # upper_policy fresh (the default): the old upper and work were moved aside, not written, and kept.
    kept = sorted(n for n in os.listdir(scratch) if ASIDE.fullmatch(n))
    assert [n.split(".")[0] for n in kept] == ["up", "wk"], kept
    assert any("kept the old upper and work of overlay" in w for w in report.warnings), report.warnings


ASIDE = re.compile(r"(up|wk)\.livemount-\d{8}T\d{6}Z(-\d+)?")


def _assert_text(path, text):
    assert read(path) == text


def _modes(scratch, ctx, report):
    # The mount point itself is hidden by its mount: a plain (non-recursive)
    # bind of its parent shows the directory underneath.
    peek = expand(scratch, "@/peek")
    os.mkdir(peek)
    hand_mount("--bind", expand(scratch, "@/a/b"), peek)
    try:
        for p in (expand(scratch, "@/a/b"), os.path.join(peek, "c")):
            st = os.stat(p)
            assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o750, 1000, 1000), p
    finally:
        hand_umount(peek)
        os.rmdir(peek)
    assert os.stat(expand(scratch, "@/a")).st_uid == 0  # E: not ours, not touched


FILE_BIND = bind("@/f", "@/d/tf")
M2 = [tmpfs("@/m", "size=2m"), bind("@/e", "@/m/x"), bind("@/u", "@/other")]

CASES = {
    "01-keep": Case(tree=["s/"], S=[bind("@/s", "@/t")], D=[bind("@/s", "@/t")], expect=[("keep", "@/t")]),
    "01-empty": Case(S=[], D=[], expect=[]),
    "02-mount-ro": Case(tree=["s/", "t/"], D=[bind("@/s", "@/t", "ro")], expect=[("mount", "@/t")]),
    "03-unmount-created": Case(tree=["s/"], S=[bind("@/s", "@/a/t", "ro")], D=[],
                               expect=[("unmount", "@/a/t"), ("rmdir", "@/a/t"), ("rmdir", "@/a")]),
    "03-unmount-existing": Case(tree=["s/", "t/"], S=[bind("@/s", "@/t", "ro")], D=[],
                                expect=[("unmount", "@/t")]),
    "04-mkdir-parents": Case(tree=["s/", "a/"], D=[bind("@/s", "@/a/b/c", mode="0750", uid=1000, gid=1000)],
                             expect=[("mkdir", "@/a/b"), ("mkdir", "@/a/b/c"), ("mount", "@/a/b/c")], after=_modes),
    "05-children-first": Case(tree=["s1/", "s2/"], S=[bind("@/s1", "@/m"), bind("@/s2", "@/m/x")], D=[],
                              expect=[("unmount", "@/m/x"), ("rmdir", "@/m/x"), ("unmount", "@/m"), ("rmdir", "@/m")]),
    "06-shuffled": Case(tree=["s2/", "s3/"], D=[bind("@/s3", "@/m/a/b"), tmpfs("@/m"), bind("@/s2", "@/m/a")],
                        expect=[("mkdir", "@/m"), ("mount", "@/m"), ("mkdir", "@/m/a"), ("mount", "@/m/a"),
                                ("mkdir", "@/m/a/b"), ("mount", "@/m/a/b")]),
    "07-trailing-slash": Case(tree=["s/"], S=[bind("@/s", "@/t")], D=[bind("@/s/", "@/t/")], expect=[("keep", "@/t")]),
    "07-dot": Case(tree=["s/"], S=[bind("@/s", "@/t")], D=[bind("@/./s", "@/t/.")], expect=[("keep", "@/t")]),
    "07-double-slash": Case(tree=["s/"], S=[bind("@/s", "@/t")], D=[bind("@//s", "@//t")], expect=[("keep", "@/t")]),
    "07-dotdot": Case(tree=["s/", "x/"], S=[bind("@/s", "@/t")], D=[bind("@/s", "@/x/../t")], error=ProfileError),
    "08-remount-rw": Case(tree=["s/"], S=[bind("@/s", "@/t", "ro")], hand=_remember("@/t"), D=[bind("@/s", "@/t")],
                          expect=[("remount", "@/t")], after=lambda s, c, r: _same_mount_ids(s, c)),
    "09-options-set": Case(tree=["s/"], S=[bind("@/s", "@/t", "nosuid", "nodev")],
                           D=[bind("@/s", "@/t", "nodev", "nosuid")], expect=[("keep", "@/t")]),
    "10-tmpfs-size": Case(S=[tmpfs("@/t", "size=1m")], hand=_file_in("@/t/file")[0], D=[tmpfs("@/t", "size=4m")],
                          expect=[("remount", "@/t")], after=_file_in("@/t/file")[1]),
    "11-replace-source": Case(tree=["s1/a=1", "s2/b=2"], S=[bind("@/s1", "@/t")], D=[bind("@/s2", "@/t")],
                              expect=[("replace", "@/t")]),
    "12-replace-type": Case(tree=["s/"], S=[tmpfs("@/t")], D=[bind("@/s", "@/t")], expect=[("replace", "@/t")]),
    "13-overlay-layers": Case(tree=["l0/x=l0", "l1/x=l1", "l2/", "up/", "wk/"], S=[overlay("@/o", ["@/l1", "@/l2"])],
                              hand=lambda s, c: _assert_text(expand(s, "@/o/x"), "l1"),
                              D=[overlay("@/o", ["@/l0", "@/l1", "@/l2"])], expect=[("replace", "@/o")],
                              after=lambda s, c, r: (_overlay_shows("l0")(s, c, r), _kept_aside(s, r))),
    "14-remount-parent-only": Case(tree=["e/", "u/"], S=[tmpfs("@/m"), bind("@/e", "@/m/x"), bind("@/u", "@/other")],
                                   hand=lambda s, c: (_file_in("@/m/file")[0](s, c), _mount_id(s, c, "@/m/x")),
                                   D=M2, expect=[("remount", "@/m"), ("keep", "@/m/x"), ("keep", "@/other")],
                                   after=_file_in("@/m/file")[1]),
    "15-replace-parent": Case(tree=["a/", "b/x/", "e/", "u/"], S=[bind("@/a", "@/m"), bind("@/e", "@/m/x"),
                                                                   bind("@/u", "@/other")],
                              D=[bind("@/b", "@/m"), bind("@/e", "@/m/x"), bind("@/u", "@/other")],
                              expect=[("unmount", "@/m/x"), ("rmdir", "@/m/x"), ("replace", "@/m"),
                                      ("mount", "@/m/x"), ("keep", "@/other")]),
    "16-remount-child": Case(tree=["s/"], S=[bind("@/s", "@/m"), tmpfs("@/m/x", "size=1m")],
                             hand=_file_in("@/m/x/file")[0], D=[bind("@/s", "@/m"), tmpfs("@/m/x", "size=2m")],
                             expect=[("keep", "@/m"), ("remount", "@/m/x")], after=_file_in("@/m/x/file")[1]),
    "17-string-prefix": Case(tree=["c/", "d/"], S=[tmpfs("@/a/b"), bind("@/c", "@/a/b/c"), tmpfs("@/a/b-1"),
                                                   bind("@/d", "@/a/b-1/3")],
                             D=[tmpfs("@/a/b", "size=2m"), bind("@/c", "@/a/b/c"), tmpfs("@/a/b-1")],
                             expect=[("unmount", "@/a/b-1/3"), ("rmdir", "@/a/b-1/3"), ("keep", "@/a/b-1"),
                                     ("remount", "@/a/b"), ("keep", "@/a/b/c")]),
    "18-duplicate": Case(tree=["s/"], S=[bind("@/s", "@/t")], D=[bind("@/s", "@/m"), bind("@/s", "@/m")],
                         error=ProfileError),
    "19-unmounted-by-hand": Case(tree=["s/"], S=[bind("@/s", "@/t")], hand=_hand(("umount", "@/t")),
                                 D=[bind("@/s", "@/t")], expect=[("mount", "@/t")],
                                 after=_reason("@/t", "recorded but not mounted")),
    "20-remounted-rw-by-hand": Case(tree=["s/"], S=[bind("@/s", "@/t", "ro")],
                                    hand=_hand(("-o", "remount,bind,rw", "@/t")), D=[bind("@/s", "@/t", "ro")],
                                    expect=[("remount", "@/t")], after=_reason("@/t", "rw -> ro")),
    "21-foreign-tmpfs": Case(hand=_hand(("mkdir", "@/t"), ("-t", "tmpfs", "other", "@/t")), D=[tmpfs("@/t")],
                             error=PlanError, foreign=["@/t"]),
    "22-adopt-exact": Case(tree=["s/", "t/"], hand=_hand(("--bind", "@/s", "@/t")), D=[bind("@/s", "@/t")],
                           expect=[("keep", "@/t")], after=_adopted),
    "23-foreign-on-top": Case(tree=["s/"], S=[bind("@/s", "@/t")], hand=_hand(("-t", "tmpfs", "other", "@/t")),
                              D=[], error=PlanError, foreign=["@/t"]),
    "24-other-filesystem": Case(hand=_hand(("mkdir", "@/home"), ("-t", "tmpfs", "home", "@/home"),
                                           ("mkdir", "@/home/u/data")),
                                D=[bind("@/home/u/data", "@/t")], expect=[("mkdir", "@/t"), ("mount", "@/t")],
                                foreign=["@/home"]),
    "26-link-create": Case(tree=["x/"], D=[link("@/t", "@/x")], expect=[("link", "@/t")]),
    "26-link-same": Case(tree=["x/", "t->@/x"], D=[link("@/t", "@/x")], expect=[("keep", "@/t")]),
    "26-link-owned-elsewhere": Case(tree=["x/", "y/"], S=[link("@/t", "@/x")], D=[link("@/t", "@/y")],
                                    expect=[("replace", "@/t")]),
    "26-link-foreign-elsewhere": Case(tree=["x/", "y/", "t->@/y"], D=[link("@/t", "@/x")], error=PlanError),
    "26-link-file-in-way": Case(tree=["x/", "t=data"], D=[link("@/t", "@/x")], error=PlanError),
    "27-file-bind": Case(tree=["f=content"], D=[FILE_BIND], expect=[("mkdir", "@/d"), ("mkdir", "@/d/tf"),
                                                                    ("mount", "@/d/tf")],
                         after=lambda s, c, r: _assert_text(expand(s, "@/d/tf"), "content")),
    "27-file-bind-removed": Case(tree=["f=content"], S=[FILE_BIND], D=[],
                                 expect=[("unmount", "@/d/tf"), ("rmdir", "@/d/tf"), ("rmdir", "@/d")]),
}

# What the engine gets wrong today, with the owner of the fix.
XFAIL = {
}


# The new mount API, and the mount(2) fallback of kernels before 5.2 (LinuxSys(classic=True)).
APIS = {"new-api": {}, "classic": {"classic": True}}


@pytest.mark.parametrize("api", list(APIS), ids=list(APIS))
@pytest.mark.parametrize("name", [pytest.param(n, marks=XFAIL[n]) if n in XFAIL else n for n in CASES],
                         ids=list(CASES))
def test_scenario(scratch, name, api):
    """Apply S, change things by hand, apply D: the live table is exactly D, converged, and destroy cleans up."""
    helpers.SYS_OPTIONS.update(APIS[api])
    case = CASES[name]
    make_tree(scratch, case.tree)
    listing = _listing(scratch)
    ctx = {}
    if case.S is not None:
        s_prof = profile_dict(scratch, case.S)
        apply(scratch, s_prof)
        assert check_live(scratch, s_prof) == []
    if case.hand:
        case.hand(scratch, ctx)
    d_prof = profile_dict(scratch, case.D)
    if case.error:
        before, state = snapshot(scratch), read_state(scratch)
        with pytest.raises(case.error) as err:
            apply(scratch, d_prof)
        assert str(err.value).startswith("cannot ") or case.error is ProfileError
        assert (snapshot(scratch), read_state(scratch)) == (before, state), "an error changed something"
        return
    report = apply(scratch, d_prof)
    got = steps(scratch, report, everything=True)
    assert got == case.expect
    assert check_live(scratch, d_prof, case.foreign) == []
    assert pending(scratch, d_prof) == []
    if case.after:
        case.after(scratch, ctx, report)
    destroy(scratch)
    assert mount_points(scratch) == sorted(expand(scratch, list(case.foreign)))
    leftovers = sorted(p for p in set(_listing(scratch)) - set(listing) - _hand_made(scratch, case)
                       if not ASIDE.fullmatch(os.path.relpath(p, scratch).split("/")[0]))
    assert leftovers == [], "destroy left paths livemount created"


def _listing(scratch):
    """Return every path under scratch (state and profile files left out), not descending into mounts."""
    out = []
    for d, dirs, files in os.walk(scratch):
        dirs[:] = [x for x in dirs if os.path.join(d, x) not in (os.path.join(scratch, "state"),)
                   and not os.path.ismount(os.path.join(d, x))]
        out.extend(os.path.join(d, x) for x in dirs + files)
    return out


def _hand_made(scratch, case):
    """Return paths others made: hand-made mount points (and parents), overlayfs's own `work/work`."""
    made = set()
    for p in expand(scratch, list(case.foreign)):
        while p != scratch:
            made.add(p)
            p = os.path.dirname(p)
    for e in expand(scratch, list(case.S or []) + list(case.D)):
        if e.get("work"):
            made.add(os.path.join(e["work"], "work"))  # overlayfs creates it (overlayfs.rst)
    return made


def test_dotdot_names_the_field(scratch):
    """Scenario 7: a `..` component is refused with the entry and field named, before anything happens."""
    with pytest.raises(ProfileError) as err:
        apply(scratch, profile_dict(scratch, [bind("@/s", "@/x/../t")]))
    assert "entry 0" in str(err.value) and "target" in str(err.value) and ".." in str(err.value)


def test_duplicate_names_both_entries(scratch):
    """Scenario 18: the same target twice is an error naming both entries."""
    with pytest.raises(ProfileError) as err:
        apply(scratch, profile_dict(scratch, [bind("@/s", "@/m"), tmpfs("@/x"), bind("@/s", "@/m/")]))
    assert "entry 2" in str(err.value) and "entry 0" in str(err.value)


def test_conflict_names_the_target(scratch):
    """Scenario 23: the conflict error names the target and says the mount on top is not ours."""
    make_tree(scratch, ["s/"])
    apply(scratch, profile_dict(scratch, [bind("@/s", "@/t")]))
    hand_mount("-t", "tmpfs", "other", expand(scratch, "@/t"))
    with pytest.raises(PlanError) as err:
        apply(scratch, profile_dict(scratch, []))
    assert str(err.value).startswith("cannot ")
    assert expand(scratch, "@/t") in str(err.value) and "not owned by livemount" in str(err.value)
    assert [c.target for c in err.value.conflicts] == [expand(scratch, "@/t")]


def test_replaced_parent_keeps_the_users_directory(scratch):
    """Scenario 15, then destroy: @/b/x, made by the user and shown at @/m/x after the replace, survives."""
    make_tree(scratch, ["a/", "b/x/", "e/"])
    apply(scratch, profile_dict(scratch, [bind("@/a", "@/m"), bind("@/e", "@/m/x")]))
    apply(scratch, profile_dict(scratch, [bind("@/b", "@/m"), bind("@/e", "@/m/x")]))
    destroy(scratch)
    assert os.path.isdir(expand(scratch, "@/b/x")), "destroy removed a directory livemount did not create"


READER = """
import os, sys, time
target, stop, out = sys.argv[1:]
seen = set()
while not os.path.exists(stop):
    try:
        names = ",".join(sorted(os.listdir(target)))
    except OSError as exc:
        names = "error: %s" % exc.strerror
    if names not in seen and names == "b":
        open(out + ".b", "w").close()  # the test waits for this before it stops us
    seen.add(names)
with open(out, "w") as f:
    f.write("\\n".join(sorted(seen)))
"""


def test_atomic_replace(scratch):
    """Scenario 11: a process inside the old bind keeps its view; lookups see the new source, never nothing."""
    make_tree(scratch, ["s1/a=1", "s2/b=2"])
    t = expand(scratch, "@/t")
    apply(scratch, profile_dict(scratch, [bind("@/s1", "@/t")]))
    old_fd = os.open(t, os.O_RDONLY | os.O_DIRECTORY)
    sleeper = subprocess.Popen(["sleep", "120"], cwd=t)
    stop, seen = expand(scratch, "@/stop"), expand(scratch, "@/seen")
    reader = subprocess.Popen([sys.executable, "-c", READER, t, stop, seen])
    try:
        time.sleep(0.3)  # the reader is looping
        report = apply(scratch, profile_dict(scratch, [bind("@/s2", "@/t")]))
        deadline = time.monotonic() + 60  # a loaded machine may starve the reader for a while
        while not os.path.exists(seen + ".b") and time.monotonic() < deadline:
            time.sleep(0.05)
        write(stop, "")
        assert reader.wait(timeout=30) == 0
        assert steps(scratch, report) == [("replace", "@/t")]
        assert read(seen).split("\n") in (["a", "b"], ["b"]), "a lookup saw the target without a mount"
        assert os.listdir(t) == ["b"]
        assert os.listdir(old_fd) == ["a"], "an open directory lost its view"
        assert os.listdir("/proc/%d/cwd" % sleeper.pid) == ["a"], "a process inside lost its view"
        assert check_live(scratch, profile_dict(scratch, [bind("@/s2", "@/t")])) == []
    finally:
        os.close(old_fd)
        sleeper.kill()
        sleeper.wait()
        reader.kill()
        reader.wait()


WEIRD = {"space": " ", "tab": "\t", "newline": "\n", "backslash": "\\", "comma": ",", "colon": ":",
         "all": " \t\n\\,:"}


@pytest.mark.parametrize("api", list(APIS), ids=list(APIS))
@pytest.mark.parametrize("c", list(WEIRD.values()), ids=list(WEIRD))
def test_weird_paths(scratch, c, api):
    """Scenario 25: a bind, a tmpfs, an overlay and a symlink with odd characters in every path converge."""
    helpers.SYS_OPTIONS.update(APIS[api])
    o = c  # in overlay layers, upper and work too
    make_tree(scratch, ["src%sdir/f=src" % c, "l%s1/f=lower" % o, "l%s2/" % o, "u%sp/" % o, "w%sk/" % o])
    listing = _listing(scratch)
    entries = [bind("@/src%sdir" % c, "@/t%sarget" % c), tmpfs("@/tm%sp" % c, "size=1m"),
               overlay("@/ov%sl" % c, ["@/l%s1" % o, "@/l%s2" % o], upper="@/u%sp" % o, work="@/w%sk" % o),
               bind("@/src%sdir" % c, "@/tm%sp/in%sside" % (c, c)), link("@/ln%sk" % c, "@/src%sdir" % c)]
    data = profile_dict(scratch, entries)
    apply(scratch, data)
    assert check_live(scratch, data) == []
    assert read(expand(scratch, "@/ov%sl/f" % c)) == "lower"
    assert read(expand(scratch, "@/tm%sp/in%sside/f" % (c, c))) == "src"
    assert pending(scratch, data) == []
    assert [e["health"] for row in status(scratch) for e in row["entries"]] == ["ok"] * 5
    destroy(scratch)
    assert mount_points(scratch) == []
    made = {expand(scratch, "@/w%sk/work" % o)}
    assert sorted(set(_listing(scratch)) - set(listing) - made) == []


_MIMICS = {
    "one": [bind("@/s", "@/ro/new", mimic=True)],
    "in-a-subdirectory": [dict(tmpfs("@/ro/d/n2"), mimic=True)],
    "one-inside-another": [bind("@/s", "@/ro/new", mimic=True), dict(tmpfs("@/ro/d/n2"), mimic=True)],
}


@pytest.mark.parametrize("name", list(_MIMICS), ids=list(_MIMICS))
def test_writable_mimic(scratch, name):
    """Scenario 28: a mount point inside a read-only directory comes through a tmpfs mimic, undone with it."""
    make_tree(scratch, ["ro/keep=x", "ro/d/f=y", "s/f=s"])
    ro = expand(scratch, "@/ro")
    hand_mount("--bind", ro, ro)
    hand_mount("-o", "remount,bind,ro", ro)
    before = snapshot(scratch)
    data = profile_dict(scratch, _MIMICS[name])
    apply(scratch, data)
    assert pending(scratch, data) == []
    assert read(expand(scratch, "@/ro/keep")) == "x" and read(expand(scratch, "@/ro/d/f")) == "y"
    if name != "in-a-subdirectory":
        assert read(expand(scratch, "@/ro/new/f")) == "s"
    apply(scratch, profile_dict(scratch, []))
    assert snapshot(scratch) == before
    assert not os.path.lexists(expand(scratch, "@/ro/new"))


# mount_namespaces(7): MS_SLAVE on a mount with no peers (scratch is private, so both are) leaves it
# private: there is nothing to be a slave of, and `slave` is met as far as the kernel can meet it.
@pytest.mark.parametrize("prop, live", [("shared", "shared"), ("slave", "private"), ("private", "private"),
                                        ("unbindable", "unbindable")], ids=["shared", "slave", "private", "unbindable"])
def test_propagation(scratch, prop, live):
    """A bind and a tmpfs with a propagation setting converge, change live, and go away."""
    make_tree(scratch, ["s/"])
    entries = [bind("@/s", "@/t", propagation=prop), dict(tmpfs("@/m", "size=1m"), propagation=prop)]
    data = profile_dict(scratch, entries)
    apply(scratch, data)
    assert [top(expand(scratch, p)).propagation for p in ("@/m", "@/t")] == [live, live]
    assert pending(scratch, data) == []
    changed = profile_dict(scratch, [bind("@/s", "@/t", "ro", propagation=prop), tmpfs("@/m", "size=1m")])
    apply(scratch, changed)
    assert check_live(scratch, changed) == [] and pending(scratch, changed) == []
    destroy(scratch)
    assert mount_points(scratch) == []


@pytest.mark.parametrize("source_shared, live", [(True, "slave"), (False, "private")],
                         ids=["shared-source", "private-source"])
def test_slave_bind_follows_a_shared_source(scratch, source_shared, live):
    """A slave bind of a shared source receives its mounts; made shared by hand it is remounted back, converging."""
    make_tree(scratch, ["s/", "s/sub/"])
    hand_mount("--bind", expand(scratch, "@/s"), expand(scratch, "@/s"))
    if source_shared:
        hand_mount("--make-shared", expand(scratch, "@/s"))
    data = profile_dict(scratch, [bind("@/s", "@/t", propagation="slave")])
    apply(scratch, data)
    assert top(expand(scratch, "@/t")).propagation == live
    assert pending(scratch, data) == []
    # A mount under the source reaches a slave (mount_namespaces(7)), never a private bind.
    hand_mount("-t", "tmpfs", "sub", expand(scratch, "@/s/sub"))
    assert (top(expand(scratch, "@/t/sub")) is not None) is source_shared
    hand_umount(expand(scratch, "@/s/sub"))
    assert top(expand(scratch, "@/t/sub")) is None
    hand_mount("--make-shared", expand(scratch, "@/t"))
    assert pending(scratch, data) == [("remount", "@/t")]
    apply(scratch, data)
    assert top(expand(scratch, "@/t")).propagation == live
    assert pending(scratch, data) == []
    destroy(scratch)
    assert mount_points(scratch) == [expand(scratch, "@/s")]


def test_recursive_bind_with_submounts(scratch):
    """A recursive bind carries the source's submounts; it changes live, is replaced and destroyed with them."""
    make_tree(scratch, ["s/sub/", "s2/"])
    hand_mount("-t", "tmpfs", "inner", expand(scratch, "@/s/sub"))
    write(expand(scratch, "@/s/sub/f"), "inner")
    data = profile_dict(scratch, [bind("@/s", "@/t", recursive=True)])
    apply(scratch, data)
    assert read(expand(scratch, "@/t/sub/f")) == "inner"
    assert pending(scratch, data) == []
    apply(scratch, profile_dict(scratch, [bind("@/s2", "@/t", recursive=True)]))
    assert mount_points(scratch) == [expand(scratch, "@/s/sub"), expand(scratch, "@/t")]
    destroy(scratch)
    assert mount_points(scratch) == [expand(scratch, "@/s/sub")]


# (id, mount(8) arguments of a mount made by hand below the recursive bind @/t of @/s, which carries @/t/sub)
FOREIGN_BELOW_RBIND = [
    ("beside-the-copies", ("-t", "tmpfs", "foreign", "@/t/other")),
    ("on-top-of-a-copy", ("-t", "tmpfs", "foreign", "@/t/sub")),
    ("inside-a-copy", ("-t", "tmpfs", "foreign", "@/t/sub/deeper")),
    ("bind-of-elsewhere", ("--bind", "@/s2", "@/t/other")),
]


@pytest.mark.parametrize("action", ["replace", "destroy"])
@pytest.mark.parametrize("args", [r[1] for r in FOREIGN_BELOW_RBIND], ids=[r[0] for r in FOREIGN_BELOW_RBIND])
def test_recursive_bind_refuses_foreign_mounts_below(scratch, args, action):
    """A mount made by hand below a recursive bind is no copy of the source's: replace and destroy refuse, untouched."""
    make_tree(scratch, ["s/sub/deeper/", "s/other/", "s2/"])
    hand_mount("-t", "tmpfs", "inner", expand(scratch, "@/s/sub"))
    os.makedirs(expand(scratch, "@/s/sub/deeper"))
    apply(scratch, profile_dict(scratch, [bind("@/s", "@/t", recursive=True)]))
    hand_mount(*expand(scratch, list(args)))
    before = snapshot(scratch)
    with pytest.raises(PlanError) as err:
        if action == "replace":
            apply(scratch, profile_dict(scratch, [bind("@/s2", "@/t", recursive=True)]))
        else:
            destroy(scratch)
    assert [c.target for c in err.value.conflicts] == [expand(scratch, "@/t")]
    assert "not owned by livemount is below it at %s" % expand(scratch, args[-1]) in str(err.value)
    assert snapshot(scratch) == before


# (id, source @/s is a shared mount, hand changes after the apply, mounts then below @/t,
#  mount point refused as foreign or None)
RBIND_DRIFT = [
    ("copy-unmounted-by-hand", False, [("umount", "@/t/sub")], [], None),
    ("late-submount-propagated-from-source", True, [("mount", "-t", "tmpfs", "late", "@/s/late")],
     ["@/t/late", "@/t/sub"], None),
    ("original-gone-copy-stays", False, [("umount", "@/s/sub")], ["@/t/sub"], "@/t/sub"),
]


@pytest.mark.parametrize("shared,hand,below,refused", [r[1:] for r in RBIND_DRIFT], ids=[r[0] for r in RBIND_DRIFT])
def test_recursive_bind_drift_below(scratch, shared, hand, below, refused):
    """Copies below a recursive bind that still match the source's mounts go with it; an orphaned copy is refused."""
    make_tree(scratch, ["s/sub/", "s/late/"])
    if shared:
        hand_mount("--bind", expand(scratch, "@/s"), expand(scratch, "@/s"))
        hand_mount("--make-shared", expand(scratch, "@/s"))
    hand_mount("-t", "tmpfs", "inner", expand(scratch, "@/s/sub"))
    apply(scratch, profile_dict(scratch, [bind("@/s", "@/t", recursive=True)]))
    for cmd, *args in hand:
        (hand_mount if cmd == "mount" else hand_umount)(*expand(scratch, args))
    assert mount_points(expand(scratch, "@/t")) == expand(scratch, below)
    source_side = [p for p in mount_points(scratch) if not p.startswith(expand(scratch, "@/t"))]
    if refused:
        before = snapshot(scratch)
        with pytest.raises(PlanError) as err:
            destroy(scratch)
        assert "below it at %s" % expand(scratch, refused) in str(err.value) and snapshot(scratch) == before
        return
    destroy(scratch)
    assert mount_points(scratch) == source_side


KERNEL_FS = {
    "proc": {"type": "proc", "source": "proc", "options": ["nosuid", "nodev", "noexec"]},
    "ramfs": {"type": "ramfs", "source": "ramfs", "options": ["mode=0700"]},
    "mqueue": {"type": "mqueue", "source": "mqueue"},
    "sysfs": {"type": "sysfs", "source": "sysfs", "options": ["ro"]},
    "devpts": {"type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]},
    "tmpfs-options": {"type": "tmpfs", "options": ["size=10%", "nr_inodes=1k", "mode=1777", "uid=1000", "noatime"]},
}


@pytest.mark.parametrize("api", list(APIS), ids=list(APIS))
@pytest.mark.parametrize("kind", list(KERNEL_FS), ids=list(KERNEL_FS))
def test_kernel_filesystem(scratch, kind, api):
    """Any kernel filesystem with its options mounts, converges (the kernel's spelling of options is no drift), goes."""
    helpers.SYS_OPTIONS.update(APIS[api])
    data = profile_dict(scratch, [dict(KERNEL_FS[kind], target="@/fs")])
    apply(scratch, data)
    assert check_live(scratch, data) == []
    assert pending(scratch, data) == []
    destroy(scratch)
    assert mount_points(scratch) == [] and not os.path.lexists(expand(scratch, "@/fs"))
