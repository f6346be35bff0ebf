"""overlay_changes on real overlays (private namespace, scratch tmpfs), held against the full-walk oracle.

Every case is checked three ways: the upper walk (overlay_changes), the
oracle with the lower layers stacked by hand, and the oracle with the lower
view taken from the kernel itself (the lower layers mounted as a read-only
overlay). The hypothesis tests drive random operations through the mounted
overlay: write, chmod, chown, rm, rm -r + mkdir, renames (redirect_dir=on),
chmod under metacopy=on, xattrs, symlinks, on one to three lower layers
that hold whiteouts and opaque directories of their own.
"""

import itertools
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import changes as oc
from tests.oracles import overlay_oracle as oo
from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import walk as ow
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import SysError

from .helpers import cli, cli_json, hand_mount, hand_umount, top

EXAMPLES = int(os.environ.get("LIVEMOUNT_HYPOTHESIS_EXAMPLES", "80"))
# A fixed sequence, so the test command is repeatable; LIVEMOUNT_HYPOTHESIS_RANDOM=1
# draws new examples each run (long hunts outside the test command).
RANDOM = bool(os.environ.get("LIVEMOUNT_HYPOTHESIS_RANDOM"))
HYPOTHESIS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not RANDOM,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FULL = "redirect_dir=on,metacopy=on"
BIG = bytes(range(256)) * 1024  # 256 KiB: chmod under metacopy=on copies up metadata only
_serial = itertools.count()


# ---- building layers and overlays ------------------------------------------------

def make_layer(root, entries, prefix="trusted."):
    """Return `root` after creating `entries`: (path, kind, arg) with kind file/dir/opaque/link/whiteout.

    An entry whose parent cannot be a directory (a file is in the way) is skipped.
    """
    os.makedirs(root)
    for path, kind, arg in entries:
        full = os.path.join(root, path)
        try:
            if not _parents(root, path) or os.path.lexists(full):
                continue
            if kind == "file":
                with open(full, "wb") as f:
                    f.write(arg)
            elif kind in ("dir", "opaque"):
                os.mkdir(full)
                if kind == "opaque":
                    os.setxattr(full, prefix + "overlay.opaque", b"y")
            elif kind == "link":
                os.symlink(arg, full)
            elif kind == "whiteout":
                os.mknod(full, 0o600 | 0o020000, os.makedev(0, 0))
        except (NotADirectoryError, FileExistsError):
            continue
    return root


def _parents(root, path):
    """Return True once every parent of `path` under `root` is a real directory (False if something else is)."""
    d = root
    for comp in path.split("/")[:-1]:
        d = os.path.join(d, comp)
        if not os.path.lexists(d):
            os.mkdir(d)
        elif os.path.islink(d) or not os.path.isdir(d):
            return False
    return True


def prefetched(fn, *args):
    """Return fn(*args) with every lookup taken for a cache miss, so the prefetch threads run beside the walk.

    tmpfs has no cold cache; tests/unit/test_overlay_changes.py checks when
    the walk starts them on its own.
    """
    slow, after = ow._SLOW, ow._SLOW_LOOKUPS
    ow._SLOW, ow._SLOW_LOOKUPS = -1.0, 1
    try:
        return fn(*args)
    finally:
        ow._SLOW, ow._SLOW_LOOKUPS = slow, after


class Overlay:
    """One overlay under `base`: lower layers (existing `lowers`, then ones made from `entries`), upper, work, merged."""

    def __init__(self, base, entries, options=FULL, lowers=()):
        self.base = base
        self.prefix = "user." if "userxattr" in options else "trusted."
        self.lowers = list(lowers) + [make_layer(os.path.join(base, "l%d" % i), e, self.prefix)
                                      for i, e in enumerate(entries)]
        self.upper, self.work, self.merged = (os.path.join(base, n) for n in ("u", "w", "m"))
        for d in (self.upper, self.work, self.merged):
            os.makedirs(d)
        self.options = options
        opts = "lowerdir=%s,upperdir=%s,workdir=%s" % (":".join(self.lowers), self.upper, self.work)
        hand_mount("-t", "overlay", "overlay", "-o", opts + ("," + options if options else ""), self.merged)

    def changes(self):
        """Return the upper walk's items, after asserting a walk with the cold-cache prefetch finds the same."""
        items = oc.changes(self.upper, self.lowers, self.prefix)
        assert prefetched(oc.changes, self.upper, self.lowers, self.prefix) == items
        return items

    def kernel_oracle(self):
        """Return the oracle's answer with the lower view read from the kernel: the lowers mounted read-only.

        One lower layer gets an empty layer below it (overlayfs needs two
        lower layers when it has no upper).
        """
        view = os.path.join(self.base, "lowerview")
        os.makedirs(view)
        layers = self.lowers if len(self.lowers) > 1 else self.lowers + [make_layer(view + ".empty", [])]
        # The same options: a lower metacopy file or redirect is refused (EPERM) where not followed.
        extra = "," + self.options if self.options else ""
        hand_mount("-t", "overlay", "overlay", "-o", "lowerdir=%s%s" % (":".join(layers), extra), view)
        try:
            return oo.by_path(oo.diff_trees(oo.walk_tree(view), oo.walk_tree(self.merged)))
        finally:
            hand_umount(view)

    def check(self, context="", by_hand=True):
        """Return the items after asserting the upper walk equals both oracles (the kernel's alone without by_hand)."""
        items = self.changes()
        by_kernel = self.kernel_oracle()
        by_hand = oo.by_path(oo.oracle(self.merged, self.lowers, self.prefix)) if by_hand else by_kernel
        assert by_hand == by_kernel, "the oracle's stacking differs from the kernel's%s" % context
        got = oc.as_diff(items)
        assert got == by_hand, "upper walk != oracle%s\nonly walk: %s\nonly oracle: %s" % (
            context, sorted(set(got.items()) - set(by_hand.items())),
            sorted(set(by_hand.items()) - set(got.items())))
        return items

    def close(self):
        """Unmount, then remove the layers (only once nothing is mounted on them)."""
        hand_umount(self.merged)
        shutil.rmtree(self.base)


def new_overlay(scratch, lowers, options=FULL):
    """Return a mounted Overlay in a fresh directory under scratch."""
    return Overlay(os.path.join(scratch, "ov%d" % next(_serial)), lowers, options)


# ---- scenarios ------------------------------------------------------------------------

BASE = [("d/f", "file", b"hello"), ("d/sub/g", "file", b"g"), ("e/h", "file", b"h"), ("e/deep/z", "file", b"z"),
        ("k", "file", b"keep"), ("big", "file", BIG), ("l", "link", "d/f")]


def op_write(m, path, data):
    with open(os.path.join(m, path), "wb") as f:
        f.write(data)


def op_rmr_mkdir(m, path):
    shutil.rmtree(os.path.join(m, path))
    os.mkdir(os.path.join(m, path))


def op_noops(m):
    full = os.path.join(m, "d/f")
    open(full, "r+b").close()
    os.chmod(full, 0o644)
    op_write(m, "d/f", b"hello")
    os.utime(os.path.join(m, "k"))


def op_symlink(m, path, target):
    os.unlink(os.path.join(m, path))
    os.symlink(target, os.path.join(m, path))


SCENARIOS = [
    ("write", FULL, lambda m: op_write(m, "d/f", b"HELLO"), [("/d/f", "modified")]),
    ("no-op-copy-ups", FULL, op_noops, []),
    ("chmod-metacopy", FULL, lambda m: os.chmod(os.path.join(m, "big"), 0o600), [("/big", "metacopy")]),
    ("chmod-full-copy", "redirect_dir=on", lambda m: os.chmod(os.path.join(m, "big"), 0o600),
     [("/big", "modified")]),
    ("chown", FULL, lambda m: os.lchown(os.path.join(m, "k"), 1000, -1), [("/k", "metacopy")]),
    ("rm", FULL, lambda m: os.unlink(os.path.join(m, "k")), [("/k", "deleted")]),
    ("rm-r-mkdir", FULL, lambda m: op_rmr_mkdir(m, "e"),
     [("/e", "opaque"), ("/e/deep", "deleted"), ("/e/deep/z", "deleted"), ("/e/h", "deleted")]),
    ("rename-dir", FULL, lambda m: os.rename(os.path.join(m, "d"), os.path.join(m, "d2")),
     [("/d", "deleted"), ("/d/f", "deleted"), ("/d/sub", "deleted"), ("/d/sub/g", "deleted"), ("/d2", "renamed"),
      ("/d2/f", "added"), ("/d2/sub", "added"), ("/d2/sub/g", "added")]),
    ("rename-dir-across", FULL, lambda m: os.rename(os.path.join(m, "d/sub"), os.path.join(m, "e/moved")),
     [("/d/sub", "deleted"), ("/d/sub/g", "deleted"), ("/e/moved", "renamed"), ("/e/moved/g", "added")]),
    ("rename-metacopy-file", FULL, lambda m: (os.chmod(os.path.join(m, "big"), 0o600),
                                               os.rename(os.path.join(m, "big"), os.path.join(m, "e/big2"))),
     [("/big", "deleted"), ("/e/big2", "renamed")]),
    ("retarget-symlink", FULL, lambda m: op_symlink(m, "l", "k"), [("/l", "modified")]),
    ("xattr", FULL, lambda m: os.setxattr(os.path.join(m, "k"), "user.note", b"x"), [("/k", "metacopy")]),
    ("userxattr", "userxattr", lambda m: (op_write(m, "d/f", b"x"), os.unlink(os.path.join(m, "k")),
                                          op_rmr_mkdir(m, "e")),
     [("/d/f", "modified"), ("/e", "opaque"), ("/e/deep", "deleted"), ("/e/deep/z", "deleted"),
      ("/e/h", "deleted"), ("/k", "deleted")]),
]


@pytest.mark.parametrize("options,op,expected", [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_scenario(scratch, options, op, expected):
    """One kind of change made through the kernel is listed as that kind, and agrees with both oracles."""
    ov = new_overlay(scratch, [BASE], options)
    try:
        op(ov.merged)
        assert [(it["path"], it["kind"]) for it in ov.check()] == expected
    finally:
        ov.close()


def test_multiple_lowers(scratch):
    """Whiteouts and opaque directories inside lower layers shape the lower view the changes are measured from."""
    top_layer = [("gone", "whiteout", None), ("o", "opaque", None), ("o/new", "file", b"1"), ("s/t", "file", b"t")]
    bottom = [("gone", "file", b"x"), ("o/old", "file", b"2"), ("s/u", "file", b"u")]
    ov = new_overlay(scratch, [top_layer, bottom])
    try:
        op_write(ov.merged, "gone", b"x")  # recreated over a lower whiteout: added
        os.unlink(os.path.join(ov.merged, "s/u"))  # from the bottom layer through a merged dir
        os.rename(os.path.join(ov.merged, "s"), os.path.join(ov.merged, "s2"))
        assert [(it["path"], it["kind"]) for it in ov.check()] == [
            ("/gone", "added"), ("/s", "deleted"), ("/s/t", "deleted"), ("/s/u", "deleted"), ("/s2", "renamed"),
            ("/s2/t", "added")]
    finally:
        ov.close()


# ---- randomized: operations through the kernel, compared with the oracles -------------

NAMES = ["a", "b", "c"]
PATHS = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join)
CONTENT = st.sampled_from([b"", b"x", b"xy", b"hello", b"HELLO"])


def layer_entry(content):
    """Return a strategy of make_layer entries whose files hold one of `content`."""
    return st.one_of(
        st.tuples(PATHS, st.just("file"), content),
        st.tuples(PATHS, st.just("dir"), st.none()),
        st.tuples(PATHS, st.just("opaque"), st.none()),
        st.tuples(PATHS, st.just("link"), st.sampled_from(NAMES)),
        st.tuples(PATHS, st.just("whiteout"), st.none()),
    )


LOWER_ENTRY = layer_entry(CONTENT)
OPS = ["write", "write", "chmod", "chmod", "chown", "rm", "rmmk", "mkdir", "create", "rename", "rename", "rename",
       "symlink", "xattr", "touch", "open_rw", "chmod_big", "chmod_big"]


def merged_paths(m):
    """Return every path in the merged tree (relative, sorted), directories included."""
    out = []
    for dirpath, dirs, files in os.walk(m):
        rel = os.path.relpath(dirpath, m)
        out.extend(os.path.normpath(os.path.join(rel, n)) for n in dirs + files)
    return sorted(out)


def apply_op(m, op, path, data):
    """Apply one drawn operation at `path` of merged tree `m`; refusals (EXDEV, EINVAL...) are outcomes too."""
    full = os.path.join(m, path) if path else m
    is_dir = os.path.isdir(full) and not os.path.islink(full)
    try:
        if op == "write" and not is_dir:
            with open(full, "wb") as f:
                f.write(data.draw(CONTENT))
        elif op == "chmod" and not os.path.islink(full):
            os.chmod(full, data.draw(st.sampled_from([0o600, 0o644, 0o755])))
        elif op == "chown":
            os.lchown(full, data.draw(st.sampled_from([0, 1000])), -1)
        elif op == "rm":
            shutil.rmtree(full) if is_dir else os.unlink(full)
        elif op == "rmmk":
            shutil.rmtree(full) if is_dir else os.unlink(full)
            os.mkdir(full)
        elif op in ("mkdir", "create", "symlink") and is_dir:
            new = os.path.join(full, data.draw(st.sampled_from(NAMES + ["n"])))
            if op == "mkdir":
                os.mkdir(new)
            elif op == "create":
                with open(new, "wb") as f:
                    f.write(data.draw(CONTENT))
            else:
                os.symlink(data.draw(st.sampled_from(NAMES)), new)
        elif op == "rename":
            dest_dir = os.path.join(m, data.draw(st.sampled_from([""] + [p for p in merged_paths(m)
                                                                          if os.path.isdir(os.path.join(m, p))])))
            os.rename(full, os.path.join(dest_dir, data.draw(st.sampled_from(NAMES + ["r"]))))
        elif op == "xattr" and not os.path.islink(full):
            os.setxattr(full, "user.t", data.draw(st.sampled_from([b"1", b"2"])))
        elif op == "touch":
            os.utime(full, follow_symlinks=False)
        elif op == "open_rw" and not is_dir and not os.path.islink(full):
            open(full, "r+b").close()
        elif op == "chmod_big":
            os.chmod(os.path.join(m, "big"), data.draw(st.sampled_from([0o600, 0o640, 0o644])))
    except OSError:
        pass


@pytest.mark.ns_timeout(900)
@HYPOTHESIS
@given(data=st.data())
def test_random_operations_match_oracle(scratch, data):
    """Random operations through a mounted overlay: the upper walk equals the full-walk oracle every time."""
    options = data.draw(st.sampled_from([FULL, FULL, "redirect_dir=on", "", "userxattr"]), label="options")
    layers = data.draw(st.lists(st.lists(LOWER_ENTRY, min_size=2, max_size=12), min_size=1, max_size=3),
                       label="lowers")
    layers[-1] = layers[-1] + [("big", "file", BIG)]
    ov = new_overlay(scratch, layers, options)
    try:
        log = []
        for _ in range(data.draw(st.integers(1, 15), label="n_ops")):
            op = data.draw(st.sampled_from(OPS))
            path = data.draw(st.sampled_from([""] + merged_paths(ov.merged)))
            apply_op(ov.merged, op, path, data)
            log.append((op, path))
        ov.check("\noptions %r, lowers %r\nops %r" % (options, layers, log))
    finally:
        ov.close()


@pytest.mark.ns_timeout(900)
@HYPOTHESIS
@given(data=st.data())
def test_former_upper_as_lower(scratch, data):
    """An upper holding redirects, metacopy files and whiteouts, used as a lower layer: the walk follows them as the kernel does."""
    layers = data.draw(st.lists(st.lists(LOWER_ENTRY, min_size=2, max_size=12), min_size=1, max_size=2),
                       label="lowers")
    layers[-1] = layers[-1] + [("big", "file", BIG)]
    first = new_overlay(scratch, layers)
    log = []
    try:
        for _ in range(data.draw(st.integers(1, 10), label="n_ops first")):
            op, path = data.draw(st.sampled_from(OPS)), data.draw(st.sampled_from([""] + merged_paths(first.merged)))
            apply_op(first.merged, op, path, data)
            log.append((op, path))
    finally:
        hand_umount(first.merged)
    second = Overlay(first.base + "-2", [], FULL, lowers=[first.upper] + first.lowers)
    try:
        for _ in range(data.draw(st.integers(0, 10), label="n_ops second")):
            op, path = data.draw(st.sampled_from(OPS)), data.draw(st.sampled_from([""] + merged_paths(second.merged)))
            apply_op(second.merged, op, path, data)
            log.append((op, path))
        second.check("\nlowers %r\nops %r" % (layers, log), by_hand=False)
    finally:
        second.close()
        shutil.rmtree(first.base)


@pytest.mark.ns_timeout(900)
@HYPOTHESIS
@given(data=st.data())
def test_former_uppers_stacked(scratch, data):
    """Two or three generations, each overlay's upper a lower layer of the next (redirects of redirects, metacopy
    files over metacopy files): the last generation's walk equals the kernel's lower view."""
    layers = data.draw(st.lists(st.lists(LOWER_ENTRY, min_size=2, max_size=10), min_size=1, max_size=2),
                       label="lowers")
    layers[-1] = layers[-1] + [("big", "file", BIG)]
    ov = new_overlay(scratch, layers)
    made, log = [ov.base], []
    try:
        for gen in range(data.draw(st.integers(2, 3), label="generations")):
            if gen:
                hand_umount(ov.merged)  # an upper becomes a lower layer only once its overlay is gone
                ov = Overlay("%s-%d" % (made[0], gen), [], FULL, lowers=[ov.upper] + ov.lowers)
                made.append(ov.base)
            for _ in range(data.draw(st.integers(1, 6), label="n_ops")):
                op, path = data.draw(st.sampled_from(OPS)), data.draw(st.sampled_from([""] + merged_paths(ov.merged)))
                apply_op(ov.merged, op, path, data)
                log.append((gen, op, path))
        ov.check("\nlowers %r\nops %r" % (layers, log), by_hand=False)
    finally:
        if os.path.ismount(ov.merged):
            hand_umount(ov.merged)
        for base in made:
            shutil.rmtree(base)


@pytest.mark.parametrize("lower,first_rename,second_rename,added", [
    # Found by test_former_upper_as_lower: the second rename's absolute redirect
    # /b/b/a passes /b/b, which the first rename redirected to /c.
    ([("a", "dir", None), ("b/a/a", "dir", None), ("c/a/a", "file", b""), ("b/b/a", "whiteout", None)],
     ("c", "b/b"), ("b/b/a", "a"), "/a/a"),
    # The same through a relative redirect (a rename within one directory).
    ([("x/o/s/f", "file", b"f")], ("x/o", "x/n"), ("x/n/s", "t"), "/t/f"),
], ids=["absolute", "relative"])
def test_redirect_through_a_former_uppers_rename(scratch, lower, first_rename, second_rename, added):
    """A directory renamed out of one a former upper renamed: the walk follows both redirects as the kernel does."""
    first = new_overlay(scratch, [lower])
    try:
        os.rename(*(os.path.join(first.merged, p) for p in first_rename))
    finally:
        hand_umount(first.merged)
    second = Overlay(first.base + "-2", [], FULL, lowers=[first.upper] + first.lowers)
    try:
        os.rename(*(os.path.join(second.merged, p) for p in second_rename))
        items = second.check(by_hand=False)
        assert (added, "added") in [(it["path"], it["kind"]) for it in items]
    finally:
        second.close()
        shutil.rmtree(first.base)


def test_metacopy_data_through_a_former_uppers_rename(scratch):
    """A metacopy file inside a directory a former upper renamed, renamed again: its data is found as the kernel finds it."""
    first = new_overlay(scratch, [[("c/f", "file", BIG), ("other", "file", BIG[::-1])]])
    try:
        os.mkdir(os.path.join(first.merged, "b"))
        os.rename(os.path.join(first.merged, "c"), os.path.join(first.merged, "b/b"))
        os.chmod(os.path.join(first.merged, "b/b/f"), 0o600)  # metacopy=on: metadata only, data stays in c/f below
    finally:
        hand_umount(first.merged)
    second = Overlay(first.base + "-2", [], FULL, lowers=[first.upper] + first.lowers)
    try:
        os.rename(os.path.join(second.merged, "b/b/f"), os.path.join(second.merged, "other"))
        items = second.check(by_hand=False)
        assert ("/other", "metacopy") in [(it["path"], it["kind"]) for it in items]
    finally:
        second.close()
        shutil.rmtree(first.base)


def mount_over_data(base, lower, data):
    """Return (upper, merged): an overlay of lower layer `lower` and data-only layers `data` mounted under `base`."""
    upper, work, merged = (os.path.join(base, n) for n in ("u", "w", "m"))
    for d in (upper, work, merged):
        os.makedirs(d)
    hand_mount("-t", "overlay", "overlay", "-o", "lowerdir=%s::%s,upperdir=%s,workdir=%s,%s"
               % (lower, "::".join(data), upper, work, FULL), merged)
    return upper, merged


def kernel_diff_over_data(base, lower, data, merged):
    """Return the kernel's diff of `merged` against its lower view: `lower` and `data` mounted read-only.

    An empty second lower layer: overlayfs needs two lower layers when it has no upper.
    """
    empty, view = make_layer(base + "/l-empty", []), os.path.join(base, "view")
    os.makedirs(view)
    hand_mount("-t", "overlay", "overlay", "-o", "lowerdir=%s:%s::%s,%s" % (lower, empty, "::".join(data), FULL), view)
    try:
        return oo.by_path(oo.diff_trees(oo.walk_tree(view), oo.walk_tree(merged)))
    finally:
        hand_umount(view)


@pytest.mark.parametrize("first_data", [[("x", "opaque", None)], [("x", "link", "y"), ("y/blob", "file", b"y")],
                                        [("x/blob", "dir", None)]], ids=["opaque-dir", "symlink", "dir"])
def test_data_only_layers_are_plain_paths(scratch, first_data):
    """A metacopy lower file's data in data-only layers (lowerdir=l::d1::d2): found as a plain path, as the kernel does.

    The first data layer has something at the path that means nothing
    there (an opaque directory, a symlink on the way, a directory): the
    data is the second layer's file, for the walk as for the kernel.
    """
    base = os.path.join(scratch, "dl%d" % next(_serial))
    lower = make_layer(base + "/l0", [])
    meta = os.path.join(lower, "f")
    with open(meta, "wb") as f:
        f.truncate(len(BIG))  # metadata only: the data is in a data-only layer
    os.setxattr(meta, "trusted.overlay.metacopy", b"")
    os.setxattr(meta, "trusted.overlay.redirect", b"/x/blob")
    data = [make_layer(base + "/d0", first_data), make_layer(base + "/d1", [("x/blob", "file", BIG)])]
    upper, merged = mount_over_data(base, lower, data)
    try:
        with open(os.path.join(merged, "f"), "r+b") as f:
            f.write(b"X")  # copies the data up, then changes its first byte
        by_kernel = kernel_diff_over_data(base, lower, data, merged)
        items = oc.changes(upper, [lower], "trusted.", data=data)
        assert oc.as_diff(items) == by_kernel == {"/f": ("modified", ("content",))}
    finally:
        hand_umount(merged)
        shutil.rmtree(base)


# Files of one length: whichever data file the lookup finds fits the metacopy file's size.
DATA_ENTRY = layer_entry(st.sampled_from([b"hello", b"HELLO", b"abcde"]))


def _data_paths_fit(metas):
    """Return True when every metacopy file's data path can be a file of the last data layer (none below another)."""
    paths = [p for _name, p in metas]
    return not any(a == b or b.startswith(a + "/") for i, a in enumerate(paths) for j, b in enumerate(paths) if i != j)


@pytest.mark.ns_timeout(900)
@HYPOTHESIS
@given(data=st.data())
def test_data_only_layers_match_kernel(scratch, data):
    """Metacopy files whose data is in data-only layers holding anything at all, then random operations:
    the walk equals the kernel's lower view."""
    base = os.path.join(scratch, "dr%d" % next(_serial))
    metas = data.draw(st.lists(st.tuples(st.sampled_from(NAMES), PATHS), min_size=1, max_size=3,
                               unique_by=lambda t: t[0]).filter(_data_paths_fit), label="metacopy files (name, data path)")
    layers = data.draw(st.lists(st.lists(DATA_ENTRY, max_size=8), min_size=1, max_size=3), label="data layers")
    layers[-1] = [(path, "file", b"hello") for _name, path in metas] + layers[-1]  # the data is somewhere
    lower = make_layer(base + "/l0", [])
    for name, path in metas:
        meta = os.path.join(lower, name)
        with open(meta, "wb") as f:
            f.truncate(5)
        os.setxattr(meta, "trusted.overlay.metacopy", b"")
        os.setxattr(meta, "trusted.overlay.redirect", ("/" + path).encode())
    dirs = [make_layer("%s/d%d" % (base, i), entries) for i, entries in enumerate(layers)]
    upper, merged = mount_over_data(base, lower, dirs)
    log = []
    try:
        for _ in range(data.draw(st.integers(0, 8), label="n_ops")):
            op, path = data.draw(st.sampled_from(OPS)), data.draw(st.sampled_from([""] + merged_paths(merged)))
            apply_op(merged, op, path, data)
            log.append((op, path))
        by_kernel = kernel_diff_over_data(base, lower, dirs, merged)
        got = oc.as_diff(oc.changes(upper, [lower], "trusted.", data=dirs))
        assert got == by_kernel, "metas %r\ndata layers %r\nops %r" % (metas, layers, log)
    finally:
        hand_umount(merged)
        shutil.rmtree(base)


@HYPOTHESIS
@given(layers=st.lists(st.lists(LOWER_ENTRY, max_size=12), min_size=2, max_size=4))
def test_oracle_stacking_matches_kernel(scratch, layers):
    """The oracle's by-hand stacking of lower layers shows exactly the tree the kernel shows for them."""
    base = os.path.join(scratch, "st%d" % next(_serial))
    roots = [make_layer(os.path.join(base, "l%d" % i), e) for i, e in enumerate(layers)]
    view = os.path.join(base, "view")
    os.makedirs(view)
    hand_mount("-t", "overlay", "overlay", "-o", "lowerdir=" + ":".join(roots), view)
    try:
        by_kernel = oo.walk_tree(view)
        by_hand = oo.stack_layers(roots)
        assert sorted(by_kernel) == sorted(by_hand)
        assert oo.diff_trees(by_hand, by_kernel) == []
    finally:
        hand_umount(view)
        shutil.rmtree(base)


# ---- freezing and the CLI ----------------------------------------------------------------

def test_freeze_restores_flags(scratch):
    """--freeze makes the mount read-only for the walk only: the same items, and rw (nosuid kept) afterwards."""
    ov = new_overlay(scratch, [BASE])
    try:
        hand_mount("-o", "remount,bind,nosuid", ov.merged)
        op_write(ov.merged, "d/f", b"HELLO")
        rep = oc.report(ov.merged, freeze=True)
        assert (rep["frozen"], [it["path"] for it in rep["changes"]], rep["warnings"]) == (True, ["/d/f"], [])
        assert {"rw", "nosuid"} <= top(ov.merged).opts and "ro" not in top(ov.merged).opts
    finally:
        ov.close()


def test_freeze_busy_writer(scratch):
    """A file held open for writing makes --freeze fail with EBUSY, a clear message, and the mount untouched."""
    ov = new_overlay(scratch, [BASE])
    try:
        with open(os.path.join(ov.merged, "k"), "ab"):
            with pytest.raises(SysError, match="cannot freeze overlay .*: a process holds a file open for writing"
                                               " on it \\(EBUSY\\)") as info:
                oc.report(ov.merged, freeze=True)
            assert info.value.errno == 16
        assert "rw" in top(ov.merged).opts
    finally:
        ov.close()


def test_cli_table_and_json(scratch):
    """`overlay changes` prints folded rows and a summary; --all every path; --json the full report."""
    ov = new_overlay(scratch, [BASE])
    try:
        op_rmr_mkdir(ov.merged, "e")
        os.rename(os.path.join(ov.merged, "d"), os.path.join(ov.merged, "d2"))
        op_write(os.fsencode(ov.merged), b"caf\xe9", b"not UTF-8")
        proc = cli(scratch, "overlay", "changes", ov.merged)
        assert proc.returncode == 0, proc.stderr
        rows = [line.split("│")[1:4] for line in proc.stdout.splitlines() if line.startswith("│")]
        assert [[c.strip() for c in r] for r in rows] == [
            ["added", "/caf\\xe9", "file"], ["deleted", "/d", "dir"], ["renamed", "/d2", "dir"],
            ["opaque", "/e", "dir"], ["deleted", "/e/deep", "dir"], ["deleted", "/e/h", "file"]]
        assert "4 added, 1 renamed, 1 opaque, 7 deleted" in proc.stdout
        assert "was not frozen" in proc.stderr
        proc = cli(scratch, "overlay", "changes", "--all", ov.merged)
        assert "/d2/sub/g" in proc.stdout
        status, doc, _ = cli_json(scratch, "overlay", "changes", "--json", "--freeze", ov.merged)
        assert (status, doc["frozen"], doc["counts"]) == (0, True, {"added": 4, "deleted": 7, "opaque": 1,
                                                                   "renamed": 1})
        assert doc["changes"] == ov.changes()  # surrogate escapes survive the JSON round trip
    finally:
        ov.close()


def test_cli_not_an_overlay(scratch):
    """A target that is not an overlay mount point exits 1 with one clear error line."""
    proc = cli(scratch, "overlay", "changes", scratch)
    assert proc.returncode == 1
    assert "error: cannot list overlay changes of %s: the mount there is tmpfs, not overlay" % scratch in \
        " ".join(proc.stderr.split())

