"""overlay_changes on hand-built layer directories (no mount, no root): user.overlay.* xattrs as with userxattr.

Layers are written with the markers overlayfs itself writes (opaque,
redirect, metacopy, xattr whiteouts), so the walk's rules are checked one
by one; tests/integration/test_overlay_changes.py checks them against what
the kernel really shows.
"""

import errno
import os
import threading

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import changes as oc, walk as ow
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError, SysError
from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import parse_mountinfo
from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay.prefetch import Prefetch
from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay.stack import Layers

P = "user.overlay."


# ---- layer builders: each returns a function that creates the entry under a root ----

def D(path, mode=0o755, **xattrs):
    """Return a builder of directory `path` with overlay xattrs (opaque="y", redirect="/x"...)."""
    def make(root):
        os.makedirs(os.path.join(root, path), exist_ok=True)
        _finish(root, path, mode, xattrs)
    return make


def F(path, text="", mode=0o644, **xattrs):
    """Return a builder of regular file `path` holding `text`; xattrs may include user_* names."""
    def make(root):
        full = _parent(root, path)
        with open(full, "w") as f:
            f.write(text)
        _finish(root, path, mode, xattrs)
    return make


def L(path, target):
    """Return a builder of symlink `path` -> `target`."""
    def make(root):
        os.symlink(target, _parent(root, path))
    return make


def W(path):
    """Return a builder of an xattr whiteout at `path` (zero-size file with overlay.whiteout)."""
    def make(root):
        full = _parent(root, path)
        open(full, "w").close()
        os.setxattr(full, P + "whiteout", b"")
    return make


def M(path, size, mode=0o644, redirect=None):
    """Return a builder of a metacopy file `path`: `size` bytes long, no data blocks."""
    def make(root):
        full = _parent(root, path)
        with open(full, "w") as f:
            f.truncate(size)
        os.chmod(full, mode)
        os.setxattr(full, P + "metacopy", b"")
        if redirect:
            os.setxattr(full, P + "redirect", redirect.encode())
    return make


def _parent(root, path):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    return full


def _finish(root, path, mode, xattrs):
    full = os.path.join(root, path)
    os.chmod(full, mode)
    for key, value in xattrs.items():
        name = "user." + key[5:] if key.startswith("user_") else P + key
        os.setxattr(full, name, value.encode())


def build(tmp_path, lowers, upper, data=()):
    """Return (upper dir, [lower dirs], [data dirs]) made from lists of builders."""
    def layer(name, builders):
        root = str(tmp_path / name)
        os.makedirs(root)
        os.chmod(root, 0o755)
        for b in builders:
            b(root)
        return root
    return (layer("upper", upper), [layer("lower%d" % i, b) for i, b in enumerate(lowers)],
            [layer("data%d" % i, b) for i, b in enumerate(data)])


def listed(items):
    """Return [(path, kind, changed)] of items: what a case expects."""
    return [(it["path"], it["kind"], it["changed"]) for it in items]


BIG = "0123456789" * 100

CASES = [
    ("added-file", [[D("d"), F("d/f", "a")]], [D("d"), F("d/new", "x")], (),
     [("/d/new", "added", [])]),
    ("copied-up-parent-is-no-change", [[D("d"), F("d/f", "a")]], [D("d")], (), []),
    ("content-same-size", [[F("f", "aaa")]], [F("f", "bbb")], (), [("/f", "modified", ["content"])]),
    ("same-bytes-rewrite", [[F("f", "aaa")]], [F("f", "aaa")], (), []),
    ("size-change", [[F("f", "aaa")]], [F("f", "aaaa")], (), [("/f", "modified", ["size", "content"])]),
    ("mode-change", [[F("f", "a")]], [F("f", "a", mode=0o600)], (), [("/f", "modified", ["mode"])]),
    ("xattr-change", [[F("f", "a")]], [F("f", "a", user_color="red")], (), [("/f", "modified", ["xattrs"])]),
    ("symlink-retarget", [[L("l", "a")]], [L("l", "b")], (), [("/l", "modified", ["target"])]),
    ("root-mode", [[F("f")]], [D(".", mode=0o700)], (), [("/", "modified", ["mode"])]),
    ("whiteout-file", [[F("f", "a"), F("g")]], [W("f")], (), [("/f", "deleted", [])]),
    ("whiteout-dir-subtree", [[D("d"), F("d/a"), D("d/s"), F("d/s/b")]], [W("d")], (),
     [("/d", "deleted", []), ("/d/a", "deleted", []), ("/d/s", "deleted", []), ("/d/s/b", "deleted", [])]),
    ("whiteout-over-nothing", [[F("g")]], [W("f")], (), []),
    ("opaque-dir", [[D("d"), F("d/a", "1"), F("d/b", "2")]], [D("d", opaque="y"), F("d/a", "1")], (),
     [("/d", "opaque", []), ("/d/b", "deleted", [])]),
    ("opaque-dir-with-new-mode", [[D("d"), F("d/a")]], [D("d", mode=0o700, opaque="y")], (),
     [("/d", "opaque", ["mode"]), ("/d/a", "deleted", [])]),
    ("opaque-x-is-not-opaque", [[D("d"), F("d/a")]], [D("d", opaque="x")], (), []),
    ("new-dir-marked-opaque-is-added", [[F("f")]], [D("n", opaque="y"), F("n/a")], (),
     [("/n", "added", []), ("/n/a", "added", [])]),
    ("renamed-dir-relative", [[D("d"), F("d/a", "1")]], [D("d2", redirect="d"), W("d")], (),
     [("/d", "deleted", []), ("/d/a", "deleted", []), ("/d2", "renamed", []), ("/d2/a", "added", [])]),
    ("renamed-dir-absolute", [[D("x"), D("x/s"), F("x/s/g")]],
     [D("n", opaque="y"), D("n/s2", redirect="/x/s"), D("x"), W("x/s")], (),
     [("/n", "added", []), ("/n/s2", "renamed", []), ("/n/s2/g", "added", []), ("/x/s", "deleted", []),
      ("/x/s/g", "deleted", [])]),
    ("renamed-dir-hides-origin-child", [[D("d"), F("d/a"), F("d/b")]],
     [D("d2", redirect="d"), W("d"), W("d2/b")], (),
     [("/d", "deleted", []), ("/d/a", "deleted", []), ("/d/b", "deleted", []), ("/d2", "renamed", []),
      ("/d2/a", "added", [])]),
    ("rename-over-lower-dir", [[D("a"), F("a/x"), D("b"), F("b/y")]], [D("b", redirect="a"), W("a")], (),
     [("/a", "deleted", []), ("/a/x", "deleted", []), ("/b", "opaque", []), ("/b/x", "added", []),
      ("/b/y", "deleted", [])]),
    ("metacopy-chmod", [[F("big", BIG)]], [M("big", len(BIG), mode=0o600)], (),
     [("/big", "metacopy", ["mode"])]),
    ("metacopy-no-change", [[F("big", BIG)]], [M("big", len(BIG))], (), []),
    ("metacopy-renamed", [[F("big", BIG)]], [M("n2", len(BIG), redirect="/big"), W("big")], (),
     [("/big", "deleted", []), ("/n2", "renamed", [])]),
    ("metacopy-renamed-over-file", [[F("big", BIG), F("other", BIG[::-1])]],
     [M("other", len(BIG), redirect="/big"), W("big")], (),
     [("/big", "deleted", []), ("/other", "metacopy", ["content"])]),
    ("file-becomes-dir", [[F("f", "x")]], [D("f", opaque="y"), F("f/c")], (),
     [("/f", "modified", ["type"]), ("/f/c", "added", [])]),
    ("dir-becomes-file", [[D("d"), F("d/a")]], [F("d", "x")], (),
     [("/d", "modified", ["type"]), ("/d/a", "deleted", [])]),
    ("lower-whiteout-then-readded", [[W("f")], [F("f", "x")]], [F("f", "x")], (), [("/f", "added", [])]),
    ("lower-opaque-hides-deeper", [[D("d", opaque="y"), F("d/a")], [D("d"), F("d/b")]],
     [D("d"), W("d/b"), F("d/c")], (), [("/d/c", "added", [])]),
    ("lower-merge-two-layers", [[D("d"), F("d/a", "1")], [D("d"), F("d/b", "2")]], [D("d"), W("d/b")], (),
     [("/d/b", "deleted", [])]),
    ("lower-file-above-dir", [[F("d", "x")], [D("d"), F("d/a")]], [W("d")], (), [("/d", "deleted", [])]),
    ("lower-redirected-dir", [[D("n", redirect="o"), W("o")], [D("o"), F("o/a")]], [D("n"), F("n/b"), W("n/a")],
     (), [("/n/a", "deleted", []), ("/n/b", "added", [])]),
    # An absolute redirect whose path crosses a lower layer's redirected directory:
    # that layer goes on below the directory it found, the layers below look up
    # the redirect's path with the rest appended (a former upper used as lower).
    ("redirect-through-lower-redirect-absolute",
     [[D("b"), D("b/b", redirect="/c"), W("c")], [D("a"), D("b/a/a"), D("b/b"), W("b/b/a"), F("c/a/a")]],
     [D("a", redirect="/b/b/a"), D("b"), D("b/b"), W("b/b/a")], (),
     [("/a", "opaque", []), ("/a/a", "added", []), ("/b/b/a", "deleted", []), ("/b/b/a/a", "deleted", [])]),
    ("redirect-through-lower-redirect-relative",
     [[D("x"), D("x/n", redirect="o"), W("x/o")], [F("x/o/s/f")]],
     [D("t", redirect="/x/n/s"), D("x"), D("x/n"), W("x/n/s")], (),
     [("/t", "renamed", []), ("/t/f", "added", []), ("/x/n/s", "deleted", []), ("/x/n/s/f", "deleted", [])]),
    # A metacopy file found through it: its data is looked up below under the renamed path.
    ("metacopy-data-through-lower-redirect",
     [[D("b"), D("b/b", redirect="/c"), W("c"), M("b/b/f", 3)], [F("c/f", "abc"), F("other", "abd")]],
     [M("other", 3, redirect="/b/b/f"), D("b"), D("b/b"), W("b/b/f")], (),
     [("/b/b/f", "deleted", []), ("/other", "metacopy", ["content"])]),
    ("redirect-through-lower-opaque-stops", [[D("x", opaque="y"), D("x/s")], [F("x/s/g")]],
     [D("t", redirect="/x/s"), D("x"), W("x/s")], (), [("/t", "renamed", []), ("/x/s", "deleted", [])]),
    ("redirect-through-lower-opaque-then-absolute", [[D("x", opaque="y"), D("x/s", redirect="/y"), W("y")],
                                                    [F("y/g")]],
     [D("t", redirect="/x/s"), D("x"), W("x/s")], (),
     [("/t", "renamed", []), ("/t/g", "added", []), ("/x/s", "deleted", []), ("/x/s/g", "deleted", [])]),
    ("lower-metacopy-content-equal", [[M("f", 3, mode=0o600)], [F("f", "abc")]], [F("f", "abc", mode=0o600)], (),
     []),
    ("lower-metacopy-content-differs", [[M("f", 3, mode=0o600)], [F("f", "abc")]], [F("f", "abd", mode=0o600)],
     (), [("/f", "modified", ["content"])]),
    ("data-layer-content-equal", [[M("f", 3, redirect="/blob")]], [F("f", "abc")], [[F("blob", "abc")]], []),
    ("data-layer-content-differs", [[M("f", 3, redirect="/blob")]], [F("f", "abd")], [[F("blob", "abc")]],
     [("/f", "modified", ["content"])]),
    # Data-only layers are looked up as plain paths: overlay xattrs and whiteouts mean nothing there.
    ("data-layer-opaque-dir-ignored", [[M("f", 3, redirect="/x/blob")]], [F("f", "abc")],
     [[D("x", opaque="y")], [F("x/blob", "abc")]], []),
    ("data-layer-xattr-whiteout-is-a-file", [[M("f", 3, redirect="/blob")]], [F("f", "abc")],
     [[W("blob")], [F("blob", "abc")]], [("/f", "modified", ["content"])]),
    ("data-layer-metacopy-not-followed", [[M("f", 3, redirect="/blob")]], [F("f", "abc")],
     [[M("blob", 3)], [F("blob", "abc")]], [("/f", "modified", ["content"])]),
    ("data-layer-symlink-skipped", [[M("f", 3, redirect="/x/blob")]], [F("f", "abc")],
     [[L("x", "y"), F("y/blob", "abd")], [F("x/blob", "abc")]], []),
]


@pytest.mark.parametrize("lowers,upper,data,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_changes(tmp_path, lowers, upper, data, expected):
    """A hand-built upper over hand-built lowers lists exactly the expected paths, kinds and attributes."""
    u, ls, ds = build(tmp_path, lowers, upper, data)
    assert listed(oc.changes(u, ls, "user.", data=ds)) == expected


def test_details_and_types(tmp_path):
    """Items carry the merged file type and a readable detail of what changed."""
    u, ls, _ = build(tmp_path, [[F("f", "aaa"), D("d"), F("d/a")]],
                     [F("f", "aaaa", mode=0o600), D("d2", redirect="d"), W("d")])
    items = {it["path"]: it for it in oc.changes(u, ls, "user.")}
    assert items["/f"]["detail"] == "mode 0644 -> 0600, size 3 -> 4"
    assert (items["/d2"]["type"], items["/d2"]["detail"]) == ("dir", "from /d")
    assert items["/d/a"]["type"] == "file"


def _as_nobody(fn):
    """Return what fn() returns (or the message it raises) when run by uid 65534 (a forked child when root)."""
    if os.geteuid() != 0:
        try:
            return fn()
        except LivemountError as exc:
            return str(exc)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setuid(65534)
            try:
                text = repr(fn())
            except LivemountError as exc:
                text = str(exc)
            os.write(w, text.encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        text = f.read().decode()
    os.waitpid(pid, 0)
    return text


def test_trusted_needs_root(tmp_path):
    """Reading trusted.overlay.* unprivileged would silently see nothing: refused with a clear message."""
    text = _as_nobody(lambda: oc.changes(str(tmp_path), [str(tmp_path)]))
    assert text == "cannot read overlay xattrs under %s: trusted.overlay.* needs root (CAP_SYS_ADMIN)" % tmp_path


def test_unreadable_layer_is_an_error(tmp_path):
    """A missing upper directory is a LivemountError naming it, not a traceback."""
    with pytest.raises(LivemountError, match="cannot list overlay changes of .*/nope: .*No such file"):
        oc.changes(str(tmp_path / "nope"), [str(tmp_path)], "user.")


# ---- prefetch: lookups ahead of the walk on a cold cache --------------------------------

def prefetch_threads():
    """Return the prefetch worker threads still alive."""
    return [t for t in threading.enumerate() if t.name == "livemount-prefetch"]


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("lowers,upper,data,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_prefetch_keeps_items(tmp_path, monkeypatch, lowers, upper, data, expected):
    """Every lookup taken for a cache miss: the prefetch runs beside the walk, the items stay, no thread is left."""
    monkeypatch.setattr(ow, "_SLOW", -1.0)
    monkeypatch.setattr(ow, "_SLOW_LOOKUPS", 1)
    u, ls, ds = build(tmp_path, lowers, upper, data)
    assert listed(oc.changes(u, ls, "user.", data=ds)) == expected
    assert prefetch_threads() == []


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("lowers,upper,data", [c[1:4] for c in CASES], ids=[c[0] for c in CASES])
def test_prefetch_runs_to_the_end(tmp_path, lowers, upper, data):
    """Alone, the prefetch goes through each case's layers (opaque, redirects, whiteouts) and stops when closed."""
    u, ls, ds = build(tmp_path, lowers, upper, data)
    prefetch = Prefetch(u, Layers(ls, ds, "user."))
    prefetch.start()
    prefetch.drain()
    prefetch.close()
    assert prefetch_threads() == []


class StartRecorder(Prefetch):
    """A Prefetch that records start() instead of starting threads."""

    started = 0

    def start(self):
        """Return None after counting the call."""
        StartRecorder.started += 1


@pytest.mark.parametrize("slow,after,started", [
    (1e9, 3, 0),  # every lookup answered from the cache
    (-1.0, 3, 1),  # every lookup a miss: started once, not once per miss
    (-1.0, 99, 0),  # fewer misses than it takes
], ids=["warm", "cold", "too-few-misses"])
def test_prefetch_starts_after_slow_lookups(tmp_path, monkeypatch, slow, after, started):
    """A warm cache starts no thread; a few slow lookups (a cold cache) start the prefetch, once."""
    monkeypatch.setattr(ow, "_SLOW", slow)
    monkeypatch.setattr(ow, "_SLOW_LOOKUPS", after)
    monkeypatch.setattr(ow, "Prefetch", StartRecorder)
    monkeypatch.setattr(StartRecorder, "started", 0)
    names = ["a", "b", "c", "d", "e"]
    u, ls, _ = build(tmp_path, [[D("d")] + [F("d/" + n, "1") for n in names]],
                     [D("d")] + [F("d/" + n, "2") for n in names])
    assert len(oc.changes(u, ls, "user.")) == len(names)
    assert StartRecorder.started == started


# ---- projections ---------------------------------------------------------------------

def item(path, kind, type_="file", changed=()):
    """Return one change item as changes() makes it."""
    return {"path": path, "kind": kind, "type": type_, "detail": "", "changed": list(changed)}


@pytest.mark.parametrize("items,expected", [
    ([item("/a", "added"), item("/b", "renamed", "dir")], {"/a": ("added", ()), "/b": ("added", ())}),
    ([item("/m", "metacopy", changed=["mode"])], {"/m": ("modified", ("mode",))}),
    ([item("/o", "opaque", "dir")], {}),
    ([item("/o", "opaque", "dir", ["uid"]), item("/o/x", "deleted")],
     {"/o": ("modified", ("uid",)), "/o/x": ("deleted", ())}),
], ids=["added-renamed", "metacopy", "opaque-unchanged", "opaque-changed"])
def test_as_diff(items, expected):
    """Structural kinds project onto the oracle's plain added/modified/deleted."""
    assert oc.as_diff(items) == expected


COLLAPSE = [
    ("deleted-tree", [item("/d", "deleted", "dir"), item("/d/a", "deleted"), item("/d/s", "deleted", "dir"),
                      item("/d/s/b", "deleted"), item("/e", "deleted")],
     [("/d", 3), ("/e", None)]),
    ("renamed-holds-added", [item("/r", "renamed", "dir"), item("/r/a", "added"), item("/r2", "added")],
     [("/r", 1), ("/r2", None)]),
    ("opaque-not-folded", [item("/o", "opaque", "dir"), item("/o/a", "deleted"), item("/o/n", "added", "dir"),
                           item("/o/n/x", "added")],
     [("/o", None), ("/o/a", None), ("/o/n", 1)]),
    ("other-kind-inside-stays", [item("/n", "added", "dir"), item("/n/s", "renamed", "dir"),
                                 item("/n/s/g", "added")],
     [("/n", 2)]),
    ("sibling-prefix-not-inside", [item("/d", "deleted", "dir"), item("/d-1", "deleted")],
     [("/d", 0), ("/d-1", None)]),
    ("root-added", [item("/", "modified", "dir", ["mode"]), item("/a", "added", "dir"), item("/a/b", "added")],
     [("/", None), ("/a", 1)]),
]


@pytest.mark.parametrize("items,expected", [c[1:] for c in COLLAPSE], ids=[c[0] for c in COLLAPSE])
def test_collapse(items, expected):
    """Contents of added/renamed/deleted directories fold into them with a count; nothing else folds."""
    assert [(it["path"], it.get("count")) for it in oc.collapse(items)] == expected


def test_collapse_keeps_input():
    """Folding returns new dicts: the full list stays as it was (it is also the JSON answer)."""
    items = [item("/d", "deleted", "dir"), item("/d/a", "deleted")]
    oc.collapse(items)
    assert "count" not in items[0]


# ---- mounts: finding the overlay, freezing it through the Sys seam ---------------------

ROOT_LINE = "1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"


def overlay_line(mid, point, upper, lowers, mount_opts="rw,relatime", extra=",userxattr", dev="0:50"):
    """Return one mountinfo line of an overlay at `point`."""
    return "%d 1 %s / %s %s - overlay overlay rw,lowerdir=%s,upperdir=%s,workdir=/w%s\n" % (
        mid, dev, point, mount_opts, ":".join(lowers), upper, extra)


class RecordingSys:
    """A Sys stand-in for freezing: serves a mountinfo text, records setattr calls, fails on request."""

    def __init__(self, text, fail=None):
        self.text = text
        self.fail = fail or {}
        self.calls = []

    def read_mountinfo(self):
        """Return the mountinfo text."""
        return self.text

    def realpath(self, path):
        """Return `path` unchanged."""
        return path

    def setattr(self, where, flags, propagation=None, expect=None):
        """Record the call; raise SysError when its number is in `fail`."""
        self.calls.append((where, ",".join(sorted(flags))))
        err = self.fail.get(len(self.calls))
        if err:
            raise SysError("setattr failed: %s" % os.strerror(err), errno=err, call="setattr")


def overlay_fixture(tmp_path, mount_opts="rw,relatime", extra=",userxattr", more=""):
    """Return (RecordingSys text, upper) for a hand-built overlay at /mnt/ov with one added file."""
    u, ls, _ = build(tmp_path, [[F("f", "a")]], [F("new", "x")])
    return ROOT_LINE + overlay_line(2, "/mnt/ov", u, ls, mount_opts, extra) + more, u


@pytest.mark.parametrize("mount_opts,fail,calls,error", [
    ("rw,relatime", {}, [("/mnt/ov", "ro"), ("/mnt/ov", "")], None),
    ("rw,nosuid,relatime", {}, [("/mnt/ov", "nosuid,ro"), ("/mnt/ov", "nosuid")], None),
    ("ro,relatime", {}, [], None),
    ("rw,relatime", {1: errno.EBUSY}, [("/mnt/ov", "ro")],
     "cannot freeze overlay /mnt/ov: a process holds a file open for writing on it"),
    ("rw,relatime", {2: errno.EPERM}, [("/mnt/ov", "ro"), ("/mnt/ov", "")],
     "cannot unfreeze overlay /mnt/ov: .*it is left read-only"),
], ids=["rw", "keeps-other-flags", "already-ro", "busy", "thaw-fails"])
def test_freeze(tmp_path, mount_opts, fail, calls, error):
    """--freeze sets ro and restores the exact flags; EBUSY and a failed restore say what to do."""
    text, _ = overlay_fixture(tmp_path, mount_opts)
    s = RecordingSys(text, fail)
    if error is None:
        rep = oc.report("/mnt/ov", freeze=True, system=s)
        assert [it["path"] for it in rep["changes"]] == ["/new"]
        assert rep["frozen"] == (mount_opts != "ro,relatime")
    else:
        with pytest.raises(SysError, match=error):
            oc.report("/mnt/ov", freeze=True, system=s)
    assert s.calls == calls


def test_freeze_refuses_covered_mount(tmp_path):
    """A mount hidden under another cannot be frozen by path: refused before any change."""
    text, _ = overlay_fixture(tmp_path)
    live = parse_mountinfo(text).top("/mnt/ov")
    s = RecordingSys(text + "3 2 0:51 / /mnt/ov rw,relatime - tmpfs tmpfs rw\n")
    with pytest.raises(LivemountError, match="cannot freeze overlay /mnt/ov: another mount covers it"):
        oc.for_mount(live, freeze=True, system=s)
    assert s.calls == []


BIND = "4 1 0:50 / /elsewhere rw,relatime - overlay overlay rw\n"
RO_BIND = "4 1 0:50 / /elsewhere ro,relatime - overlay overlay rw\n"


@pytest.mark.parametrize("freeze,more,warnings", [
    (False, "", ["the overlay is writable and was not frozen"]),
    (True, "", []),
    (True, BIND, ["other mounts of the same overlay are writable (not frozen): /elsewhere"]),
    (False, BIND, ["the overlay is writable", "other mounts of the same overlay are writable"]),
    (True, RO_BIND, []),
], ids=["not-frozen", "frozen", "frozen-with-bind", "not-frozen-with-bind", "frozen-with-ro-bind"])
def test_report_warnings(tmp_path, freeze, more, warnings):
    """The report says when the listing may be racy: not frozen, or other writable mounts of the overlay."""
    text, u = overlay_fixture(tmp_path, more=more)
    rep = oc.report("/mnt/ov", freeze=freeze, system=RecordingSys(text))
    assert [w[:len(p)] for w, p in zip(rep["warnings"], warnings)] == warnings and len(rep["warnings"]) == len(
        warnings)
    assert (rep["upper"], rep["xattr_prefix"], rep["counts"]) == (u, "user.", {"added": 1})


@pytest.mark.parametrize("text,target,error", [
    (ROOT_LINE, "/mnt/ov", "cannot list overlay changes of /mnt/ov: it is not a mount point"),
    (ROOT_LINE + "2 1 0:50 / /mnt/ov rw - tmpfs tmpfs rw\n", "/mnt/ov",
     "cannot list overlay changes of /mnt/ov: the mount there is tmpfs, not overlay"),
    (ROOT_LINE + overlay_line(2, "/mnt/ov", "u", ["/l"]), "/mnt/ov",
     "cannot list overlay changes of /mnt/ov: layer path 'u' is relative"),
], ids=["not-a-mount-point", "not-overlay", "relative-upper"])
def test_report_errors(text, target, error):
    """Targets that are not an overlay mount point, or unusable layer paths, are clear errors."""
    with pytest.raises(LivemountError, match=error):
        oc.report(target, system=RecordingSys(text))


@pytest.mark.parametrize("extra,prefix", [(",userxattr", "user."), ("", "trusted."), (",userxattr,metacopy=on",
                                                                                      "user.")],
                         ids=["userxattr", "default", "userxattr-and-more"])
def test_xattr_prefix(extra, prefix):
    """The mount option userxattr selects user.overlay.*; otherwise trusted.overlay.*."""
    live = parse_mountinfo(ROOT_LINE + overlay_line(2, "/o", "/u", ["/l"], extra=extra)).top("/o")
    assert oc.xattr_prefix(live) == prefix


def test_read_only_overlay_changes_nothing():
    """An overlay without upper layer lists no change and reads nothing."""
    text = ROOT_LINE + "2 1 0:50 / /o ro - overlay overlay ro,lowerdir=/nonexistent1:/nonexistent2\n"
    assert oc.for_mount(parse_mountinfo(text).top("/o")) == []


DIFF_ITEMS = [
    {"path": "/a", "kind": "added", "type": "file", "detail": "", "changed": []},
    {"path": "/d", "kind": "opaque", "type": "dir", "detail": "", "changed": []},
    {"path": "/d/x", "kind": "deleted", "type": "file", "detail": "", "changed": []},
    {"path": "/m", "kind": "modified", "type": "file", "detail": "mode 0644 -> 0600", "changed": ["mode"]},
    {"path": "/n", "kind": "added", "type": "dir", "detail": "", "changed": [], "count": 2},
]


@pytest.mark.parametrize("discarded", [False, True], ids=["changes", "discarded-by-reset"])
def test_diff_text(discarded):
    """diff_text: lower view and overlay view of the changed paths; a reset's diff has the two sides swapped."""
    lower = "/d/x\n/m\n"
    merged = "/a\n/m  mode 0644 -> 0600\n/n/ (and 2 inside)\n"
    got = oc.diff_text("/t", DIFF_ITEMS, discarded=discarded)
    sides = [("lower layers of /t", lower), ("overlay /t", merged)]
    (bh, b), (ah, a) = sides[::-1] if discarded else sides
    assert got == {"before_header": bh, "before": b, "after_header": ah, "after": a}
