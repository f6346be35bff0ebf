"""Changing the layers of a mounted overlay on the real kernel, with a process inside it.

Issue 4's bar: layer add/remove/reorder on a mounted overlay while a process
holds a file open inside it: the process keeps its view, new opens see the
new stack, no errors; and never a write into an upper or lower directory of
a mounted overlay (every entry's inode, times and content compared before
and after). upper_policy fresh (the default) and carry are both exercised,
and read-only overlays (no upper), whose replace is a plain atomic swap.
"""

import errno
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError, PlanError
from tests.integration.helpers import (apply, cli, destroy, expand, hand_mount, make_tree, owned_targets, pending,
                                       profile_dict, state_meaning, snapshot, top, write_profile)

TREE = ["l0/x=l0", "l0/only0=0", "l1/x=l1", "l1/only1=1", "l2/x=l2", "l2/only2=2", "up/", "wk/"]
LAYERS = {
    "add": (["@/l1", "@/l2"], ["@/l0", "@/l1", "@/l2"]),
    "remove": (["@/l0", "@/l1", "@/l2"], ["@/l1", "@/l2"]),
    "reorder": (["@/l1", "@/l2"], ["@/l2", "@/l1"]),
}
ASIDE = re.compile(r"(up|wk)\.livemount-\d{8}T\d{6}Z(-\d+)?")


def ovl(lower, upper=True, **extra):
    """Return an overlay entry at @/o over `lower` (with @/up and @/wk when `upper`)."""
    entry = {"target": "@/o", "type": "overlay", "lower": list(lower)}
    if upper:
        entry.update(upper="@/up", work="@/wk")
    entry.update(extra)
    return entry


class Inside:
    """A process with its cwd in the overlay and one of its files open: it answers questions about its view."""

    PROG = r"""
import os, sys
os.chdir(sys.argv[1])
f = open("x")
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.strip()
    try:
        if cmd == "fd":
            f.seek(0); out = f.read()
        elif cmd == "cwd":
            out = ",".join(sorted(os.listdir(".")))
        elif cmd == "abs":
            with open(os.path.join(sys.argv[1], "x")) as g:
                out = g.read()
        elif cmd == "write":
            with open("written-inside", "w") as g:
                g.write("inside")
            out = "ok"
        else:
            out = "?"
    except OSError as exc:
        out = "error %s" % exc
    print(out, flush=True)
"""

    def __init__(self, directory):
        self.p = subprocess.Popen([sys.executable, "-c", self.PROG, directory], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "ready"

    def ask(self, cmd):
        """Return the process's answer to `cmd` (fd, cwd, abs, write)."""
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def close(self):
        """Return the exit status after letting the process end."""
        self.p.stdin.close()
        return self.p.wait(timeout=10)


def tree_facts(root, with_root=True):
    """Return {relative path: (inode, mode, uid, gid, size, mtime, ctime, content or link, xattrs)} under `root`."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in [""] + dirs + files if d == root else dirs + files:
            p = os.path.join(d, name) if name else d
            if p == root and not with_root:
                continue
            st = os.lstat(p)
            if os.path.islink(p):
                body = os.readlink(p)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    body = f.read()
            else:
                body = None
            xattrs = {k: os.getxattr(p, k, follow_symlinks=False) for k in os.listxattr(p, follow_symlinks=False)}
            out[os.path.relpath(p, root)] = (st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                             st.st_mtime_ns, st.st_ctime_ns, body, xattrs)
    return out


def asides(scratch):
    """Return the sorted names of uppers/works kept aside under scratch."""
    return sorted(n for n in os.listdir(scratch) if ASIDE.fullmatch(n))


@pytest.mark.parametrize("upper", [True, False], ids=["writable-fresh", "read-only"])
@pytest.mark.parametrize("change", sorted(LAYERS))
def test_layer_change_with_a_process_inside(scratch, change, upper):
    """Layers added/removed/reordered live: the process inside keeps its old view, new opens see the new stack."""
    make_tree(scratch, TREE)
    before, after = LAYERS[change]
    o = expand(scratch, "@/o")
    apply(scratch, profile_dict(scratch, [ovl(before, upper)]))
    if upper:
        with open(os.path.join(o, "mine"), "w") as f:
            f.write("written before")
    old_top = before[0][2:]
    old_names = sorted(os.listdir(o))
    inside = Inside(o)
    try:
        assert inside.ask("fd") == old_top
        lowers = {p: tree_facts(expand(scratch, p)) for p in ("@/l0", "@/l1", "@/l2")}
        upper_facts = tree_facts(expand(scratch, "@/up"), with_root=False)
        old_mount = top(o)

        report = apply(scratch, profile_dict(scratch, [ovl(after, upper)]))

        replace = [c for c in report.changes if c.action.value == "replace"]
        assert len(replace) == 1 and "keep their view" in replace[0].reason
        assert replace[0].upper_policy == ("fresh" if upper else None)
        new_top = after[0][2:]
        assert top(o).mount_id != old_mount.mount_id
        assert inside.ask("fd") == old_top, "an open file keeps reading the old stack"
        assert inside.ask("cwd") == ",".join(old_names), "a cwd inside keeps the old tree"
        assert inside.ask("abs") == new_top, "a new open by absolute path sees the new stack"
        with open(os.path.join(o, "x")) as f:
            assert f.read() == new_top
        want = {"x"} | {"only%s" % p[-1] for p in after}
        assert set(os.listdir(o)) == want, "the new overlay starts from its lower layers alone"
        if upper:
            assert inside.ask("write") == "ok", "the old overlay stays writable for whoever is inside"
        assert inside.close() == 0
        for p, facts in lowers.items():
            assert tree_facts(expand(scratch, p)) == facts, "a lower layer was written: %s" % p
        if upper:
            kept = asides(scratch)
            assert [n.split(".")[0] for n in kept] == ["up", "wk"]
            aside_up = os.path.join(scratch, kept[0])
            now = tree_facts(aside_up, with_root=False)
            written = now.pop("written-inside")
            assert written[7] == b"inside", "the process inside wrote into the old overlay, now aside"
            assert {k: v for k, v in now.items() if k != "."} == {k: v for k, v in upper_facts.items()
                                                                   if k != "."}, "the old upper was written"
            assert any(kept[0] in w for w in report.warnings)
        else:
            assert asides(scratch) == []
        assert pending(scratch, profile_dict(scratch, [ovl(after, upper)])) == []
    finally:
        if inside.p.poll() is None:
            inside.p.kill()


def test_fresh_check_mode_changes_nothing(scratch):
    """Check mode predicts the fresh replace (policy, reason) and renames, creates and mounts nothing."""
    make_tree(scratch, TREE)
    apply(scratch, profile_dict(scratch, [ovl(["@/l1"])]))
    table, listing, state = snapshot(scratch), sorted(os.listdir(scratch)), state_meaning(scratch)
    report = apply(scratch, profile_dict(scratch, [ovl(["@/l0", "@/l1"])]), check=True)
    change = [c for c in report.changes if c.action.value == "replace"][0]
    assert change.upper_policy == "fresh" and change.to_dict()["upper_policy"] == "fresh"
    assert "moved aside" in change.reason
    assert (snapshot(scratch), sorted(os.listdir(scratch)), state_meaning(scratch)) == (table, listing, state)


def test_option_change_is_a_fresh_replace(scratch):
    """An overlay option change (a remount cannot apply it) replaces the overlay with a fresh upper too."""
    make_tree(scratch, TREE)
    apply(scratch, profile_dict(scratch, [ovl(["@/l1"])]))
    report = apply(scratch, profile_dict(scratch, [ovl(["@/l1"], options=["redirect_dir=on"])]))
    change = [c for c in report.changes if c.action.value == "replace"][0]
    assert change.upper_policy == "fresh"
    assert "redirect_dir=on" in top(expand(scratch, "@/o")).super
    assert pending(scratch, profile_dict(scratch, [ovl(["@/l1"], options=["redirect_dir=on"])])) == []


def test_carry_keeps_the_upper(scratch, monkeypatch):
    """upper_policy carry with nobody inside: the old overlay goes, the new one shows what the old upper held."""
    make_tree(scratch, TREE)
    o = expand(scratch, "@/o")
    apply(scratch, profile_dict(scratch, [ovl(["@/l1"], upper_policy="carry")]))
    with open(os.path.join(o, "mine"), "w") as f:
        f.write("carried")
    report = apply(scratch, profile_dict(scratch, [ovl(["@/l0", "@/l1"], upper_policy="carry")]))
    change = [c for c in report.changes if c.action.value == "replace"][0]
    assert change.upper_policy == "carry" and "empty for a moment" in change.reason
    with open(os.path.join(o, "mine")) as f:
        assert f.read() == "carried"
    with open(os.path.join(o, "x")) as f:
        assert f.read() == "l0"
    assert asides(scratch) == []
    assert pending(scratch, profile_dict(scratch, [ovl(["@/l0", "@/l1"], upper_policy="carry")])) == []


@pytest.mark.parametrize("how", ["reader", "writer"])
def test_carry_refuses_while_in_use(scratch, monkeypatch, how):
    """carry with a process inside: refused naming it (a writer at the freeze, a reader after the wait)."""
    monkeypatch.setenv("LIVEMOUNT_CARRY_WAIT", "0.3")
    make_tree(scratch, TREE)
    o = expand(scratch, "@/o")
    apply(scratch, profile_dict(scratch, [ovl(["@/l1"], upper_policy="carry")]))
    mode = "r" if how == "reader" else "a"
    code = "f = open(os.path.join(d, 'x'), %r)" % mode
    prog = ("import os, sys; d = sys.argv[1]; %s; print('ready', flush=True); sys.stdin.read()" % code)
    p = subprocess.Popen([sys.executable, "-c", prog, o], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        table, state, up = snapshot(scratch), state_meaning(scratch), tree_facts(expand(scratch, "@/up"))
        with pytest.raises(ApplyError) as err:
            apply(scratch, profile_dict(scratch, [ovl(["@/l0", "@/l1"], upper_policy="carry")]))
        assert err.value.errno == errno.EBUSY
        said = str(err.value)
        assert ("cannot freeze overlay" if how == "writer" else "still in use after 0.3s") in said
        assert "held by pid %d" % p.pid in said
        assert (snapshot(scratch), state_meaning(scratch)) == (table, state), "refused, and nothing changed"
        assert "ro" not in top(o).opts, "the freeze was undone"
        assert tree_facts(expand(scratch, "@/up")) == up
    finally:
        p.kill()
        p.wait()
    apply(scratch, profile_dict(scratch, [ovl(["@/l0", "@/l1"], upper_policy="carry")]))  # nobody inside now
    with open(os.path.join(o, "x")) as f:
        assert f.read() == ("l1" if how == "writer" else "l0")  # the writer opened x for append: copied up


def test_carry_waits_for_the_last_user(scratch, monkeypatch):
    """carry: a reader that lets go during the wait does not stop the replace."""
    monkeypatch.setenv("LIVEMOUNT_CARRY_WAIT", "10")
    make_tree(scratch, TREE)
    o = expand(scratch, "@/o")
    apply(scratch, profile_dict(scratch, [ovl(["@/l1"], upper_policy="carry")]))
    prog = "import os, sys, time; f = open(os.path.join(sys.argv[1], 'x')); print('ready', flush=True); time.sleep(0.5)"
    p = subprocess.Popen([sys.executable, "-c", prog, o], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    apply(scratch, profile_dict(scratch, [ovl(["@/l0", "@/l1"], upper_policy="carry")]))
    assert p.wait(timeout=10) == 0
    with open(os.path.join(o, "x")) as f:
        assert f.read() == "l0"


def test_carry_refused_when_the_overlay_is_mounted_elsewhere(scratch):
    """carry while a bind of the same overlay exists elsewhere: the plan refuses it (check mode too), naming it."""
    make_tree(scratch, TREE + ["elsewhere/"])
    o = expand(scratch, "@/o")
    apply(scratch, profile_dict(scratch, [ovl(["@/l1"], upper_policy="carry")]))
    hand_mount("--bind", o, expand(scratch, "@/elsewhere"))
    for check in (True, False):
        with pytest.raises(PlanError) as err:
            apply(scratch, profile_dict(scratch, [ovl(["@/l0", "@/l1"], upper_policy="carry")]), check=check)
        assert "upper_policy carry cannot reuse upper" in str(err.value)
        assert expand(scratch, "@/elsewhere") in str(err.value)
    assert owned_targets(scratch) == ["@/o"]


def test_cli_refusal_of_carry_says_nothing_changed(scratch):
    """livemount plan of a refused carry: exit 1, the entry and field named, and no foreign-mount hint."""
    make_tree(scratch, TREE + ["elsewhere/"])
    apply(scratch, profile_dict(scratch, [ovl(["@/l1"], upper_policy="carry")]))
    hand_mount("--bind", expand(scratch, "@/o"), expand(scratch, "@/elsewhere"))
    path = write_profile(scratch, profile_dict(scratch, [ovl(["@/l0", "@/l1"], upper_policy="carry")]))
    proc = cli(scratch, "plan", path)
    assert proc.returncode == 1
    assert "cannot replace overlay entry 0 (%s): upper_policy carry" % expand(scratch, "@/o") in proc.stderr
    assert "nothing was changed" in proc.stderr and "does not own" not in proc.stderr


def test_detached_busy_overlay_leaves_its_upper_aside(scratch):
    """destroy with on_busy detach of a busy writable overlay: its upper goes aside, so a re-apply never shares it."""
    make_tree(scratch, TREE)
    o = expand(scratch, "@/o")
    data = profile_dict(scratch, [ovl(["@/l1"], on_busy="detach")])
    apply(scratch, data)
    with open(os.path.join(o, "mine"), "w") as f:
        f.write("mine")
    inside = Inside(o)
    try:
        report = destroy(scratch)
        assert top(o) is None
        kept = asides(scratch)
        assert [n.split(".")[0] for n in kept] == ["up", "wk"]
        assert any("on_busy detach" in w and kept[0] in w for w in report.warnings), report.warnings
        assert os.listdir(expand(scratch, "@/up")) == [], "fresh, empty directories took the old names"
        assert inside.ask("write") == "ok", "the detached overlay still works for the process inside"
        assert sorted(os.listdir(os.path.join(scratch, kept[0]))) == ["mine", "written-inside"]
        apply(scratch, data)
        assert sorted(os.listdir(o)) == ["only1", "x"], "mounted again on the fresh upper, not the old one"
        assert inside.ask("fd") == "l1"
    finally:
        inside.p.kill()
        inside.p.wait()
