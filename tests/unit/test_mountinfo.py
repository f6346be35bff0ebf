"""parse_mountinfo and LiveTable against real captures (tests/fixtures/mountinfo) and generated tables."""

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount import mountinfo, options
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import LiveMount
from mountinfo_gen import format_mountinfo_line, generate_table

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "mountinfo")
CAP = "/tmp/lmcap"  # where CAPTURE.py set everything up
SCRATCH_DEV = (0, 39)  # the scratch tmpfs every namespaced capture mounted first


def load(name):
    with open(os.path.join(FIXTURES, name + ".txt"), encoding="utf-8", errors="surrogateescape") as f:
        return mountinfo.parse_mountinfo(f.read())


def at(table, path):
    top = table.top(path)
    assert top is not None, "nothing mounted at %r" % path
    return top


@pytest.mark.parametrize("name", sorted(f[:-4] for f in os.listdir(FIXTURES) if f.endswith(".txt")))
def test_every_capture_parses(name):
    """Each real capture parses into one LiveMount per line, with a root mount on /."""
    with open(os.path.join(FIXTURES, name + ".txt")) as f:
        lines = [line for line in f.read().split("\n") if line]
    table = load(name)
    assert len(table.mounts) == len(lines)
    assert table.visible("/").mount_point == "/"


BINDS = [
    ("directory", "dst", SCRATCH_DEV, "/src", "tmpfs", set()),
    ("file", "file-dst", SCRATCH_DEV, "/src/file", "tmpfs", set()),
    ("subdir-of-other-fs", "subfs", (254, 0), "/usr/share", "ext4", set()),
    ("recursive-top", "recdst", SCRATCH_DEV, "/rec", "tmpfs", set()),
    ("recursive-child", "recdst/inner", (0, 40), "/", "tmpfs", set()),
    ("read-only-subdir", "ro", SCRATCH_DEV, "/src/sub", "tmpfs", {"ro"}),
    ("nosuid-noexec-nodev-noatime", "nosuid", SCRATCH_DEV, "/src", "tmpfs", {"nosuid", "noexec", "nodev", "noatime"}),
    ("nodiratime", "diratime", SCRATCH_DEV, "/src", "tmpfs", {"nodiratime"}),
    ("strictatime", "strict", SCRATCH_DEV, "/src", "tmpfs", {"strictatime"}),
]


@pytest.mark.parametrize("target,dev,root,fstype,flags", [c[1:] for c in BINDS], ids=[c[0] for c in BINDS])
def test_binds_capture(target, dev, root, fstype, flags):
    """Binds show the source filesystem's device, the root inside it and their own flags."""
    m = at(load("binds"), CAP + "/" + target)
    assert (m.dev, m.root, m.fstype, m.flags) == (dev, root, fstype, frozenset(flags))


IDENTITY = [
    ("directory", CAP + "/src", "dst"),
    ("file", CAP + "/src/file", "file-dst"),
    ("other-filesystem", "/usr/share", "subfs"),
    ("through-a-bind", CAP + "/dst/sub", "ro"),
    ("submount", CAP + "/rec/inner", "recdst/inner"),
]


@pytest.mark.parametrize("source,target", [c[1:] for c in IDENTITY], ids=[c[0] for c in IDENTITY])
def test_bind_identity_matches_the_bind(source, target):
    """bind_identity(source) is exactly the (dev, root) the real bind of it shows."""
    table = load("binds")
    m = at(table, CAP + "/" + target)
    assert table.bind_identity(source) == (m.dev, m.root)


def test_bind_identity_is_not_a_string_prefix():
    """Scenario 24: /home is its own filesystem; /home2 and /homes are not inside it."""
    lines = [
        format_mountinfo_line(1, 0, (8, 1), "/", "/", fstype="ext4", source="/dev/sda1"),
        format_mountinfo_line(2, 1, (8, 2), "/", "/home", fstype="ext4", source="/dev/sda2"),
        format_mountinfo_line(3, 2, (8, 3), "/vol/h", "/home/u/data", fstype="xfs", source="/dev/sdb"),
    ]
    table = mountinfo.parse_mountinfo("\n".join(lines))
    assert table.bind_identity("/home/u/data/x") == ((8, 3), "/vol/h/x")
    assert table.bind_identity("/home/u/datax") == ((8, 2), "/u/datax")
    assert table.bind_identity("/home2/u") == ((8, 1), "/home2/u")
    assert table.bind_identity("/home") == ((8, 2), "/")
    assert table.bind_identity("/home/") == ((8, 2), "/")


TMPFS = [
    ("size-mode-inodes", "t1", ["size=16m", "mode=0755", "nr_inodes=1k"],
     (("mode", "755"), ("nr_inodes", "1024"), ("size", str(16 << 20))), set()),
    ("percent-uid-gid", "t2", ["size=25%", "uid=1000", "gid=1000", "mode=01777"],
     (("gid", "1000"), ("size", str(6171024 << 10)), ("uid", "1000")), set()),
    ("blocks-inode32-huge-noswap", "t3", ["nr_blocks=10", "inode32", "huge=within_size", "noswap"],
     (("huge", "within_size"), ("noswap", None), ("size", "40960")), set()),
    ("flags-and-tiny-size", "t4", ["size=1000"], (("size", "4096"),), {"ro", "nosuid", "nodev", "noexec", "noatime"}),
]


@pytest.mark.parametrize("target,asked,fs_options,flags", [c[1:] for c in TMPFS], ids=[c[0] for c in TMPFS])
def test_tmpfs_capture(target, asked, fs_options, flags):
    """tmpfs super options normalize to bytes/octal and match what the mount asked for."""
    m = at(load("tmpfs"), CAP + "/" + target)
    assert (m.fs_options, m.flags, m.source) == (fs_options, frozenset(flags), target)
    want = options.normalize_fs_options("tmpfs", asked)
    assert options.fs_options_diff("tmpfs", want, m.fs_options) == []
    assert options.fs_options_match("tmpfs", want, m.fs_options, {"ram_pages": 6171021})


PROPAGATION = [
    ("shared", "shared", "shared", 1, None),
    ("slave", "slave", "slave", None, 1),
    ("shared-and-slave", "both", "shared+slave", 2, 1),
    ("unbindable", "unbind", "unbindable", None, None),
    ("private", "private", "private", None, None),
]


@pytest.mark.parametrize("target,propagation,peer,master", [c[1:] for c in PROPAGATION],
                         ids=[c[0] for c in PROPAGATION])
def test_propagation_capture(target, propagation, peer, master):
    """Optional fields give propagation, peer group and master group."""
    m = at(load("propagation"), CAP + "/" + target)
    assert (m.propagation, m.peer, m.master) == (propagation, peer, master)


STACKS = [
    ("three-on-one-path", CAP + "/s", ["s1", "s2", "s3"]),
    ("over-mount-hiding-a-child", CAP + "/h", ["h-lower", "h-upper"]),
    ("hidden-child-unreachable", CAP + "/h/c", []),
    ("hidden-by-ancestor-over-mount", CAP + "/o/deep/er", []),
    ("not-a-mount-point", CAP + "/nothing", []),
    ("host-stacked-devpts", "/dev/pts", ["devpts", "devpts"]),
]


@pytest.mark.parametrize("path,sources", [c[1:] for c in STACKS], ids=[c[0] for c in STACKS])
def test_stack(path, sources):
    """stack(path) lists the reachable mounts at path bottom first; top() is its last."""
    table = load("stacked") if path.startswith(CAP) else load("host")
    stack = table.stack(path)
    assert [m.source for m in stack] == sources
    assert table.top(path) is (stack[-1] if stack else None)
    for lower, upper in zip(stack, stack[1:]):
        assert upper.parent_id == lower.mount_id


VISIBLE = [
    ("top-of-stack", "stacked", CAP + "/s/file", "s3"),
    ("over-mount-hides-child", "stacked", CAP + "/h/c/x", "h-upper"),
    ("ancestor-over-mount-hides-deeper", "stacked", CAP + "/o/deep/er", "o-over"),
    ("plain-directory", "stacked", CAP + "/nothing/here", "lmcap"),
    ("host-root", "host", "/usr/bin", "/dev/vda"),
    ("host-stacked-shm", "host", "/dev/shm/x", "tmpfs"),
    ("host-deep", "host", "/sys/fs/cgroup/cpu/tasks", "cgroup"),
]


@pytest.mark.parametrize("fixture,path,source", [c[1:] for c in VISIBLE], ids=[c[0] for c in VISIBLE])
def test_visible(fixture, path, source):
    """visible(path) is the mount a path lookup lands in, never a hidden one."""
    assert load(fixture).visible(path).source == source


def test_visible_takes_top_of_stack_ids():
    """On the host capture /dev/shm is two stacked tmpfs: the later (upper) one is visible."""
    table = load("host")
    assert table.visible("/dev/shm").mount_id == 30
    assert [m.mount_id for m in table.stack("/dev/shm")] == [25, 30]


def test_submounts_skip_hidden():
    """submounts lists reachable stacks below a path, parents first, and leaves hidden mounts out."""
    table = load("stacked")
    assert [m.source for m in table.submounts(CAP)] == ["h-lower", "h-upper", "o-over", "s1", "s2", "s3"]
    assert table.submounts(CAP + "/s") == []
    assert [m.mount_point for m in table.submounts("/")][:2] == ["/dev", "/dev/pts"]


def test_submounts_prefix_is_not_parenthood():
    """Scenario 17: /a/b-1 is not below /a/b; sorting keeps subtrees together."""
    lines = [format_mountinfo_line(1, 0, (8, 1), "/", "/", fstype="ext4")]
    for i, parent, mp in [(2, 1, "/a/b"), (3, 1, "/a/b-1"), (4, 2, "/a/b/c"), (5, 3, "/a/b-1/3"), (6, 1, "/a/bc")]:
        lines.append(format_mountinfo_line(i, parent, (0, i), "/", mp, source=mp))
    table = mountinfo.parse_mountinfo("\n".join(lines))
    assert [m.mount_point for m in table.submounts("/a/b")] == ["/a/b/c"]
    assert [m.mount_point for m in table.submounts("/a")] == ["/a/b-1", "/a/b-1/3", "/a/b", "/a/b/c", "/a/bc"]


def test_children_include_hidden():
    """children(mount) is the mount tree as it is, hidden mounts included."""
    table = load("stacked")
    lower = at(table, CAP + "/h")
    lower = table.stack(CAP + "/h")[0]
    assert [m.source for m in table.children(lower)] == ["h-child", "h-upper"]
    assert table.by_id(lower.mount_id) is lower
    assert table.by_id(999999) is None


OVERLAYS = [
    ("legacy", "overlay_legacy", "m", (CAP + "/l1", CAP + "/l2"), (), CAP + "/u", CAP + "/w", (("uuid", "on"),)),
    ("legacy-read-only", "overlay_legacy", "ro", (CAP + "/l1", CAP + "/l2"), (), None, None,
     (("redirect_dir", "on"),)),
    ("legacy-data-only", "overlay_legacy", "dm", (CAP + "/l1",), (CAP + "/d1",), None, None,
     (("metacopy", "on"), ("redirect_dir", "on"))),
    ("new-api", "overlay_newapi", "m", (CAP + "/l1", CAP + "/l2"), (), CAP + "/u", CAP + "/w", (("uuid", "on"),)),
    ("new-api-data-only", "overlay_newapi", "dm", (CAP + "/l1",), (CAP + "/d1", CAP + "/d2"), None, None,
     (("metacopy", "on"), ("redirect_dir", "on"))),
]


@pytest.mark.parametrize("fixture,target,lower,data,upper,work,fs_options", [c[1:] for c in OVERLAYS],
                         ids=[c[0] for c in OVERLAYS])
def test_overlay_layers(fixture, target, lower, data, upper, work, fs_options):
    """Overlay layers come out of the super options, top first; the rest stay fs_options."""
    m = at(load(fixture), CAP + "/" + target)
    assert (m.lower, m.data, m.upper, m.work, m.fs_options) == (lower, data, upper, work, fs_options)


WEIRD = ["a b", "t\tab", "n\nl", "b\\s", "c,m", "c:l", "all \t\n\\,:"]


@pytest.mark.parametrize("name", WEIRD, ids=["space", "tab", "newline", "backslash", "comma", "colon", "all"])
def test_weird_paths_capture(name):
    """Escaped mount points and sources decode to the exact names set up."""
    table = load("weird_paths")
    bind = at(table, CAP + "/B " + name)
    assert (bind.root, bind.dev) == ("/src", SCRATCH_DEV)
    assert at(table, CAP + "/T " + name).source == "src " + name


def test_weird_paths_overlays():
    """Both overlay renderings give back layer paths with space, tab, newline, backslash, comma, colon."""
    table = load("weird_paths")
    legacy = at(table, CAP + "/ovl legacy")
    assert legacy.lower == tuple(CAP + "/L " + n for n in WEIRD if "\n" not in n)
    assert (legacy.upper, legacy.work, legacy.source) == (CAP + "/u,3", CAP + "/w:3", "ovl legacy")
    new = at(table, CAP + "/ovl new")
    assert new.lower == tuple(CAP + "/L " + n for n in WEIRD)
    assert (new.upper, new.work) == (CAP + "/u,n e\\w", CAP + "/w:n e\\w")
    assert at(table, CAP + "/src").root == "/L a b"


LINES = [
    ("fuse-subtype", "40 1 0:50 / /mnt/s rw,nosuid,nodev,relatime - fuse.sshfs me@host:/ rw,user_id=0,group_id=0",
     {"fstype": "fuse.sshfs", "source": "me@host:/", "fs_options": (("group_id", "0"), ("user_id", "0"))}),
    ("empty-source", "40 1 0:50 / /m rw,relatime - tmpfs  rw", {"source": "", "fs_options": ()}),
    ("none-source", "40 1 0:50 / /m rw,relatime - tmpfs none ro,size=4k", {"source": "none",
                                                                          "fs_options": (("size", "4096"),)}),
    ("propagate-from-and-unknown-tags", "40 1 0:50 / /m rw shared:3 master:2 propagate_from:1 future:9 - tmpfs x rw",
     {"propagation": "shared+slave", "peer": 3, "master": 2, "flags": frozenset({"strictatime"})}),
    ("nsfs-root", "40 1 0:4 net:[4026531840] /run/netns/a rw - nsfs nsfs rw", {"root": "net:[4026531840]"}),
    ("escaped-comma-in-value", "40 1 0:50 / /m rw - cifs //s/x rw,domain=A\\054B,pass\\075word",
     {"fs_options": (("domain", "A,B"), ("pass=word", None))}),
    ("non-utf8-escape", "40 1 0:50 / /m\\303\\251\\377 rw - tmpfs x rw",
     {"mount_point": "/m\u00e9\udcff"}),
    ("odd-backslash-kept", "40 1 0:50 / /m\\x rw - tmpfs x\\9 rw", {"mount_point": "/m\\x", "source": "x\\9"}),
    ("mixed-overlay-renderings", "40 1 0:50 / /m rw - overlay o rw,lowerdir+=/a\\054b,datadir+=/d,upperdir=/u\\134:x",
     {"lower": ("/a,b",), "data": ("/d",), "upper": "/u:x", "work": None}),
    ("deleted-mount-point", "40 1 0:50 / /gone//deleted rw - tmpfs x rw", {"mount_point": "/gone//deleted"}),
]


@pytest.mark.parametrize("line,fields", [c[1:] for c in LINES], ids=[c[0] for c in LINES])
def test_parse_line_fields(line, fields):
    """Single lines decode every field the way fs/proc_namespace.c wrote it."""
    (m,) = load_text(line).mounts
    assert {k: getattr(m, k) for k in fields} == fields


def load_text(text):
    return mountinfo.parse_mountinfo(text)


BAD = [
    ("garbage", "hello", 1, "expected at least 10 fields"),
    ("no-separator", "1 0 8:1 / / rw a b c d e", 1, "no ' - ' separator"),
    ("short-after-separator", "1 0 8:1 / / rw shared:1 - ext4 /dev/sda", 1, "expected 3 fields after"),
    ("long-after-separator", "1 0 8:1 / / rw - ext4 /dev/sda rw x", 1, "expected 3 fields after"),
    ("signed-id", "+1 0 8:1 / / rw - ext4 /dev/sda rw", 1, "bad mount id"),
    ("arabic-digit", "\u0661 0 8:1 / / rw - ext4 /dev/sda rw", 1, "bad mount id"),
    ("dev-without-colon", "1 0 8-1 / / rw - ext4 /dev/sda rw", 1, "major:minor"),
    ("relative-mount-point", "1 0 8:1 / mnt rw - ext4 /dev/sda rw", 1, "not absolute"),
    ("bad-peer-group", "1 0 8:1 / / rw shared:x - ext4 /dev/sda rw", 1, "bad peer group"),
    ("empty-fstype", "1 0 8:1 / / rw -  /dev/sda rw", 1, "empty filesystem type"),
    ("bad-overlay-lowerdir", "1 0 0:9 / / rw - overlay o rw,lowerdir=/a:::/b", 1, "more than two colons"),
    ("second-line", "1 0 8:1 / / rw - ext4 /dev/sda rw\n\nbroken", 3, "expected at least 10"),
    ("lone-surrogate", "1 0 8:1 / /\ud800\\040 rw - ext4 /dev/sda rw", 1, "codec"),
]


@pytest.mark.parametrize("text,lineno,cause", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_malformed_lines(text, lineno, cause):
    """Malformed lines raise ValueError naming the line and the cause."""
    with pytest.raises(ValueError, match=r"^cannot parse mountinfo line %d: .*%s" % (lineno, re.escape(cause))):
        mountinfo.parse_mountinfo(text)


def test_chroot_style_table():
    """Without a mount on / (a chroot's view), mounts hanging from outside are still found; the rest is unknown."""
    text = "\n".join([
        format_mountinfo_line(30, 7, (0, 21), "/", "/proc", fstype="proc", source="proc"),
        format_mountinfo_line(31, 7, (0, 6), "/", "/dev", fstype="devtmpfs", source="udev"),
        format_mountinfo_line(32, 31, (0, 24), "/", "/dev/pts", fstype="devpts", source="devpts"),
    ])
    table = mountinfo.parse_mountinfo(text)
    assert table.visible("/proc/self").mount_id == 30
    assert table.visible("/dev/pts/0").mount_id == 32
    assert table.visible("/etc") is None and table.top("/") is None
    assert [m.mount_id for m in table.submounts("/")] == [31, 32, 30]
    with pytest.raises(ValueError, match="cannot find the mount holding /etc"):
        table.bind_identity("/etc")


def test_root_hides_other_orphans():
    """With a root mount on /, another mount whose parent is outside the table is not reachable."""
    text = "\n".join([
        format_mountinfo_line(1, 0, (8, 1), "/", "/", fstype="ext4"),
        format_mountinfo_line(2, 99, (0, 5), "/", "/mnt"),
    ])
    table = mountinfo.parse_mountinfo(text)
    assert table.visible("/mnt").mount_id == 1
    assert table.top("/mnt") is None and table.submounts("/") == []


def test_duplicate_mount_id():
    """Two mounts with one id cannot be a real table."""
    with pytest.raises(ValueError, match="duplicate mount id"):
        mountinfo.parse_mountinfo("1 0 8:1 / / rw - ext4 a rw\n1 1 8:1 / /x rw - ext4 a rw\n")


def test_empty_table():
    """An empty text is an empty table with no root: visible() says None, bind_identity refuses."""
    table = mountinfo.parse_mountinfo("")
    assert (len(table.mounts), table.visible("/"), table.top("/"), table.stack("/"), table.submounts("/")) == (
        0, None, None, [], [])
    with pytest.raises(ValueError, match="cannot find the mount holding /x"):
        table.bind_identity("/x")


def test_fast_build_equals_constructor():
    """The fast LiveMount build gives a value equal to (and hashing like) the constructor's."""
    (m,) = load_text("40 1 0:50 /r /m ro,nosuid shared:3 - tmpfs x rw,size=4k").mounts
    fields = {k: getattr(m, k) for k in LiveMount.__dataclass_fields__}
    assert LiveMount(**fields) == m and hash(LiveMount(**fields)) == hash(m)


def test_generated_table():
    """A generated 2,000-mount table with stacks answers consistently: every top is its own visible mount."""
    table = mountinfo.parse_mountinfo(generate_table(2000))
    assert len(table.mounts) == 2000
    for m in table.mounts[::37]:
        top = table.top(m.mount_point)
        if top is not None:
            assert table.visible(m.mount_point) is top
            assert table.stack(m.mount_point)[-1] is top
    assert len(table.submounts("/")) == sum(1 for m in table.mounts if table.stack(m.mount_point)
                                           and m in table.stack(m.mount_point)) - 1


# ---- properties -------------------------------------------------------------

PATH_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/") | st.sampled_from(
    [" ", "\t", "\n", "\\", ",", ":", "#", "-"])
COMPONENT = st.text(PATH_CHARS, min_size=1, max_size=8)
PATH = st.lists(COMPONENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@given(root=PATH, mount_point=PATH, source=st.text(PATH_CHARS, max_size=12), value=st.text(PATH_CHARS, max_size=12))
def test_roundtrip_escapes(root, mount_point, source, value):
    """Any path bytes written the kernel's way come back decoded exactly."""
    line = format_mountinfo_line(7, 1, (0, 5), root, mount_point, fstype="ext4", source=source,
                                 super_options=(("rw", None), ("opt", value)))
    (m,) = mountinfo.parse_mountinfo(line).mounts
    assert (m.root, m.mount_point, m.source, m.fs_options) == (root, mount_point, source, (("opt", value),))


@given(lower=st.lists(PATH, min_size=1, max_size=4), data=st.lists(PATH, max_size=2), upper=PATH)
def test_roundtrip_overlay_layers(lower, data, upper):
    """Overlay layers round-trip through both renderings: lowerdir+/datadir+ and legacy lowerdir=."""
    new = [("lowerdir+", x) for x in lower] + [("datadir+", x) for x in data]
    new += [("upperdir", options.ovl_escape(upper)), ("workdir", options.ovl_escape(upper + "w"))]
    legacy_value = ":".join(options.ovl_escape(x) for x in lower) + "".join("::" + options.ovl_escape(x) for x in data)
    legacy = [("lowerdir", legacy_value), ("upperdir", options.ovl_escape(upper)),
              ("workdir", options.ovl_escape(upper + "w"))]
    for opts in (new, legacy):
        line = format_mountinfo_line(7, 1, (0, 5), "/", "/m", fstype="overlay", source="overlay",
                                     super_options=[("rw", None)] + opts + [("uuid", "on")])
        (m,) = mountinfo.parse_mountinfo(line).mounts
        assert (m.lower, m.data, m.upper, m.work, m.fs_options) == (
            tuple(lower), tuple(data), upper, upper + "w", (("uuid", "on"),))


def _real_lines():
    out = []
    for name in sorted(os.listdir(FIXTURES)):
        if name.endswith(".txt"):
            with open(os.path.join(FIXTURES, name)) as f:
                out.extend(line for line in f.read().split("\n") if line)
    return out


REAL_LINES = _real_lines()
MUTATIONS = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 3), st.sampled_from(
    [" ", "-", ":", "\\", "\\0", "\\134", ",", "=", "0", "x", "\n", "lowerdir=", "::", "shared:", "\udcff", "\u0661"])),
    max_size=6)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL_LINES), MUTATIONS)
def test_fuzz_mutated_real_lines(line, edits):
    """Mutated real lines parse or raise ValueError, and the table never fails another way."""
    for pos, cut, text in edits:
        pos %= len(line) + 1
        line = line[:pos] + text + line[pos + cut:]
    try:
        table = mountinfo.parse_mountinfo(line)
    except ValueError:
        return
    for m in table.mounts:
        _exercise(table, m.mount_point)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_fuzz_garbage(text):
    """Arbitrary text parses or raises ValueError, nothing else."""
    try:
        mountinfo.parse_mountinfo(text)
    except ValueError:
        pass


@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 7), st.sampled_from(["/", "/a", "/a/b", "/b", "/a/b/c"])),
                min_size=1, max_size=8, unique_by=lambda t: t[0]))
def test_fuzz_tree_shapes(rows):
    """Any parent links, cycles included, give a table whose queries terminate without surprises."""
    text = "\n".join(format_mountinfo_line(i, p, (0, i), "/", mp) for i, p, mp in rows)
    table = mountinfo.parse_mountinfo(text)
    for path in ("/", "/a", "/a/b", "/a/b/c/d", "/b"):
        _exercise(table, path)
    # submounts (one tree walk) agrees with stack() (one path walk per mount point)
    by_walk = {m.mount_id for mp in {m.mount_point for m in table.mounts} for m in table.stack(mp)}
    by_tree = {m.mount_id for m in table.submounts("/")} | {m.mount_id for m in table.stack("/")}
    assert by_tree == by_walk


def _exercise(table, path):
    try:
        table.visible(path)
        table.top(path)
        for m in table.stack(path):
            assert m.mount_point == path
        table.submounts(path)
        table.bind_identity(path)
    except ValueError:
        pass  # a mount point that is not a clean path, or a table without a root


def _tops_one_by_one(table):
    return {m.mount_id for m in table.mounts if table.top(m.mount_point) is m}


def _every_text():
    out = {}
    for name in sorted(os.listdir(FIXTURES)):
        if name.endswith(".txt"):
            with open(os.path.join(FIXTURES, name), encoding="utf-8", errors="surrogateescape") as f:
                out[name[:-4]] = f.read()
    out["generated"] = generate_table(2000)
    return out


EVERY_TEXT = _every_text()


@pytest.mark.parametrize("name", sorted(EVERY_TEXT))
def test_top_ids_is_top_asked_of_each_mount(name):
    """top_ids() (one pass, what `show --json` marks visible) answers as top() asked about each mount does."""
    text = EVERY_TEXT[name]
    assert mountinfo.points(text).top_ids() == _tops_one_by_one(mountinfo.points(text))
    # the same after other questions filled the table's answers, and on whole LiveMounts
    table = mountinfo.parse_mountinfo(text)
    table.visible("/proc/self")
    assert table.top_ids() == _tops_one_by_one(mountinfo.parse_mountinfo(text))


def test_top_ids_leave_out_hidden_mounts():
    """The stacked capture: s1 and s2 under s3, h-lower under h-upper with its child, o-deep under o-over."""
    table = mountinfo.parse_mountinfo(EVERY_TEXT["stacked"])
    tops = table.top_ids()
    hidden = [m.source for m in table.mounts if m.mount_id not in tops]
    assert sorted(s for s in hidden if s[:2] in ("s1", "s2", "s3", "h-", "o-")) == [
        "h-child", "h-lower", "o-deep", "s1", "s2"]


UNCLEAN = ["/", "/a", "/a/b", "/b", "/a/b/c", "/a/", "//a", "/a/./b", "/a/../b", "/."]


@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 7), st.sampled_from(UNCLEAN)),
                min_size=1, max_size=8, unique_by=lambda t: t[0]))
def test_fuzz_top_ids(rows):
    """Any parent links (cycles, orphans) and unclean mount points: top_ids() is top() of each, or both refuse."""
    text = "\n".join(format_mountinfo_line(i, p, (0, i), "/", mp) for i, p, mp in rows)
    try:
        expected = _tops_one_by_one(mountinfo.points(text))
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            mountinfo.points(text).top_ids()
        return
    assert mountinfo.points(text).top_ids() == expected


TAGS = [
    ("none", [], ("private", None, None)),
    ("shared", ["shared:3"], ("shared", 3, None)),
    ("slave", ["master:7"], ("slave", None, 7)),
    ("shared-and-slave", ["shared:3", "master:7", "propagate_from:2"], ("shared+slave", 3, 7)),
    ("unbindable", ["unbindable"], ("unbindable", None, None)),
    ("unknown-tags-ignored", ["future:1", "x"], ("private", None, None)),
]


@pytest.mark.parametrize("optional,expected", [c[1:] for c in TAGS], ids=[c[0] for c in TAGS])
def test_tags(optional, expected):
    """tags(): a line's optional fields as (propagation, peer group, master group)."""
    assert mountinfo.tags(optional) == expected


@pytest.mark.parametrize("tag", ["shared:", "master:x", "propagate_from:\u0661"])
def test_tags_refuse_bad_numbers(tag):
    """A group that is no ASCII number is refused."""
    with pytest.raises(ValueError, match="bad"):
        mountinfo.tags([tag])


@pytest.mark.parametrize("text,lineno,cause", [c[1:] for c in BAD if "\n" not in c[1]],
                         ids=[c[0] for c in BAD if "\n" not in c[1]])
def test_decode_line_says_what_iter_fields_says(text, lineno, cause):
    """decode_line(line, n): line n's fields, or the ValueError iter_fields raises for it, numbered n."""
    with pytest.raises(ValueError) as whole:
        list(mountinfo.iter_fields("1 0 8:1 / / rw - ext4 /dev/sda rw\n" + text))
    with pytest.raises(ValueError) as one:
        mountinfo.decode_line(text, 2)
    assert str(one.value) == str(whole.value)
    line = "40 1 0:50 /r /m ro,nosuid shared:3 - tmpfs x rw,size=4k"
    assert mountinfo.decode_line(line, 9) == next(mountinfo.iter_fields(line))
