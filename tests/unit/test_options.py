"""Option words: flags, propagation, filesystem option normalization and comparison."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount import options
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import MOUNT_FLAGS

MB = 1 << 20

SPLIT = [
    ("tmpfs-mixed", "tmpfs", ["ro", "nosuid", "size=16m", "mode=0755"],
     {"ro", "nosuid"}, (("mode", "755"), ("size", str(16 * MB))), None),
    ("rw-after-ro-wins", "tmpfs", ["ro", "rw"], set(), (), None),
    ("ro-after-rw-wins", "tmpfs", ["rw", "ro"], {"ro"}, (), None),
    ("suid-after-nosuid", "bind", ["nosuid", "suid", "nodev", "dev", "noexec", "exec"], set(), (), None),
    ("nosuid-after-suid", "bind", ["suid", "nosuid", "dev", "nodev", "exec", "noexec"],
     {"nosuid", "nodev", "noexec"}, (), None),
    ("relatime-is-no-flag", "bind", ["noatime", "relatime"], set(), (), None),
    ("last-atime-wins", "bind", ["relatime", "noatime", "strictatime"], {"strictatime"}, (), None),
    ("atime-means-default", "bind", ["noatime", "atime"], set(), (), None),
    ("diratime", "bind", ["nodiratime", "diratime", "nodiratime"], {"nodiratime"}, (), None),
    ("propagation-last-wins", "bind", ["private", "slave"], set(), (), "slave"),
    ("never-reach-kernel", "tmpfs",
     ["defaults", "auto", "noauto", "nofail", "_netdev", "user", "users", "nouser", "owner", "group",
      "comment=systemd.x", "x-systemd.requires=/a", "x-livemount.mode=0755", "X-mount.mkdir", "bind", "rbind", ""],
     set(), (), None),
    ("generic-fs-options", "ext4", ["errors=remount-ro", "discard", "noatime"],
     {"noatime"}, (("discard", None), ("errors", "remount-ro")), None),
    ("overlay-options-kept", "overlay", ["redirect_dir=on", "metacopy=on", "userxattr", "ro"],
     {"ro"}, (("metacopy", "on"), ("redirect_dir", "on"), ("userxattr", None)), None),
    ("bind-flags-only", "bind", ["ro", "rbind", "shared"], {"ro"}, (), "shared"),
]


@pytest.mark.parametrize("fstype,words,flags,fs_options,propagation",
                         [c[1:] for c in SPLIT], ids=[c[0] for c in SPLIT])
def test_split_options(fstype, words, flags, fs_options, propagation):
    """A user's option words split into flags, filesystem options and propagation."""
    assert options.split_options(fstype, words) == (frozenset(flags), fs_options, propagation)


SPLIT_ERRORS = [
    ("bind-with-fs-option", "bind", ["ro", "size=1m"], "bind mounts take no filesystem options: size=1m"),
    ("recursive-propagation", "bind", ["rshared"], "recursive propagation is not supported: rshared"),
    ("rprivate", "tmpfs", ["rprivate"], "recursive propagation is not supported: rprivate"),
    ("overlay-layer-in-options", "overlay", ["lowerdir=/a:/b"], "overlay layers go in lower/upper/work"),
    ("bad-tmpfs-size", "tmpfs", ["size=12q"], "invalid tmpfs size=12q"),
    ("python-only-number", "tmpfs", ["size=1_0"], "invalid tmpfs size=1_0"),
    ("bad-tmpfs-mode", "tmpfs", ["mode=0788"], "invalid tmpfs mode=0788"),
    ("named-uid", "tmpfs", ["uid=root"], "invalid tmpfs uid=root"),
    ("nameless-option", "ext4", ["=x"], "option without a name"),
]


@pytest.mark.parametrize("fstype,words,message", [c[1:] for c in SPLIT_ERRORS], ids=[c[0] for c in SPLIT_ERRORS])
def test_split_options_errors(fstype, words, message):
    """Option words that cannot be honoured raise ValueError naming the word."""
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        options.split_options(fstype, words)


NORMALIZE = [
    ("tmpfs-suffixes", "tmpfs", ["size=16m", "nr_inodes=1k", "nr_blocks=2K"],
     (("nr_blocks", "2048"), ("nr_inodes", "1024"), ("size", str(16 * MB)))),
    ("tmpfs-big-suffixes", "tmpfs", ["size=1g", "nr_inodes=1t"],
     (("nr_inodes", str(1 << 40)), ("size", str(1 << 30)))),
    ("tmpfs-kernel-k", "tmpfs", ["size=16384k"], (("size", str(16 * MB)),)),
    ("tmpfs-plain-bytes", "tmpfs", ["size=1000"], (("size", "1000"),)),
    ("tmpfs-memparse-hex-octal", "tmpfs", ["size=0x10k", "nr_inodes=010"], (("nr_inodes", "8"), ("size", "16384"))),
    ("tmpfs-percent-stays", "tmpfs", ["size=50%"], (("size", "50%"),)),
    ("tmpfs-mode-leading-zeros", "tmpfs", ["mode=0755"], (("mode", "755"),)),
    ("tmpfs-mode-sticky", "tmpfs", ["mode=01777"], (("mode", "1777"),)),
    ("tmpfs-mode-zero", "tmpfs", ["mode=000"], (("mode", "0"),)),
    ("tmpfs-ids", "tmpfs", ["uid=0001", "gid=0"], (("gid", "0"), ("uid", "1"))),
    ("devtmpfs-like-tmpfs", "devtmpfs", ["size=12334460k", "mode=755"], (("mode", "755"), ("size", "12630487040"))),
    ("duplicates-last-wins", "tmpfs", ["size=1m", "size=2m"], (("size", str(2 * MB)),)),
    ("pairs-and-strings", "tmpfs", [("size", "1k"), "mode=700"], (("mode", "700"), ("size", "1024"))),
    ("keys-stripped-case-kept", "vfat", [" Umask=0077", "shortname=mixed"], (("Umask", "0077"), ("shortname", "mixed"))),
    ("empty-value-is-not-none", "ext4", ["data=", "discard"], (("data", ""), ("discard", None))),
    ("overlay-layers-dropped", "overlay",
     ["lowerdir=/a", "lowerdir+=/b", "datadir+=/c", "upperdir=/u", "workdir=/w", "index=on", "volatile", "uuid=on"],
     (("index", "on"), ("uuid", "on"), ("volatile", None))),
]


@pytest.mark.parametrize("fstype,items,expected", [c[1:] for c in NORMALIZE], ids=[c[0] for c in NORMALIZE])
def test_normalize_fs_options(fstype, items, expected):
    """Filesystem options normalize to one canonical sorted tuple."""
    assert options.normalize_fs_options(fstype, items) == expected


def test_normalize_is_idempotent():
    """Normalizing normalized options changes nothing (desired and live both go through it)."""
    once = options.normalize_fs_options("tmpfs", ["size=16m", "mode=01777", "nr_inodes=1k", "uid=007", "size=50%"])
    assert options.normalize_fs_options("tmpfs", once) == once


def test_normalize_lenient_keeps_odd_values():
    """strict=False keeps a value that does not parse (a live table is never refused for it)."""
    assert options.normalize_fs_options("tmpfs", ["size=huge"], strict=False) == (("size", "huge"),)


MOUNT_OPTIONS = [
    ("rw-relatime", "rw,relatime", set()),
    ("no-atime-word-is-strictatime", "rw", {"strictatime"}),
    ("everything", "ro,nosuid,nodev,noexec,noatime", {"ro", "nosuid", "nodev", "noexec", "noatime"}),
    ("nodiratime", "rw,nodiratime,relatime", {"nodiratime"}),
    ("unmanaged-ignored", "rw,nosuid,nosymfollow,relatime,idmapped", {"nosuid"}),
]


@pytest.mark.parametrize("raw,expected", [c[1:] for c in MOUNT_OPTIONS], ids=[c[0] for c in MOUNT_OPTIONS])
def test_parse_mount_options(raw, expected):
    """The per-mount field of mountinfo maps to the MOUNT_FLAGS vocabulary."""
    assert options.parse_mount_options(raw) == frozenset(expected)


ATTRS = [
    ("nothing-clears-all", set(), 0x0, 0xFF),
    ("ro-noatime", {"ro", "noatime"}, 0x11, 0xFE),
    ("strictatime-nodiratime", {"strictatime", "nodiratime"}, 0xA0, 0x7F),
    ("all-bits", {"ro", "nosuid", "nodev", "noexec", "nodiratime"}, 0x8F, 0x70),
]


@pytest.mark.parametrize("flags,attr_set,attr_clr", [c[1:] for c in ATTRS], ids=[c[0] for c in ATTRS])
def test_flags_to_attrs(flags, attr_set, attr_clr):
    """Flags become exact mount_setattr bits, with the atime mask always in attr_clr."""
    assert options.flags_to_attrs(frozenset(flags)) == (attr_set, attr_clr)


@pytest.mark.parametrize("flags,message", [({"noatime", "strictatime"}, "conflicting atime flags"),
                                           ({"relatime"}, "unknown per-mount flag: relatime")],
                         ids=["two-atime-modes", "not-canonical"])
def test_flags_to_attrs_errors(flags, message):
    """Flag sets outside the canonical vocabulary are refused."""
    with pytest.raises(ValueError, match=message):
        options.flags_to_attrs(flags)


@given(st.sets(st.sampled_from(sorted(MOUNT_FLAGS - {"strictatime"}))), st.booleans())
def test_flags_to_attrs_roundtrip(flags, strict):
    """attr_set read back through the MOUNT_ATTR bits gives the flags again; set and clr never overlap."""
    if strict:
        flags = (flags - {"noatime"}) | {"strictatime"}
    attr_set, attr_clr = options.flags_to_attrs(frozenset(flags))
    assert attr_set & attr_clr & ~options.MOUNT_ATTR__ATIME == 0
    assert attr_clr & options.MOUNT_ATTR__ATIME == options.MOUNT_ATTR__ATIME
    back = {f for f, bit in options._ATTR_BITS.items() if attr_set & bit}
    atime = attr_set & options.MOUNT_ATTR__ATIME
    back |= {options.MOUNT_ATTR_NOATIME: {"noatime"}, options.MOUNT_ATTR_STRICTATIME: {"strictatime"}}.get(atime, set())
    assert back == flags


@pytest.mark.parametrize("name,bit", [("private", 1 << 18), ("shared", 1 << 20), ("slave", 1 << 19),
                                      ("unbindable", 1 << 17)], ids=["private", "shared", "slave", "unbindable"])
def test_propagation_flag(name, bit):
    """Propagation names map to their MS_* bits."""
    assert options.propagation_flag(name) == bit


def test_propagation_flag_unknown():
    """An unknown propagation name is a ValueError."""
    with pytest.raises(ValueError, match="unknown propagation: rshared"):
        options.propagation_flag("rshared")


FORMAT = [
    ("rw-shown", set(), (), ["rw"]),
    ("ro-first-then-sorted", {"nosuid", "ro", "nodev"}, (("mode", "755"), ("noswap", None)),
     ["ro", "nodev", "nosuid", "mode=755", "noswap"]),
    ("rw-with-flags", {"noexec", "noatime"}, (("size", "1024"),), ["rw", "noatime", "noexec", "size=1024"]),
    ("ro-only", {"ro"}, (), ["ro"]),
]


@pytest.mark.parametrize("flags,fs_options,expected", [c[1:] for c in FORMAT], ids=[c[0] for c in FORMAT])
def test_format_options(flags, fs_options, expected):
    """Canonical display words: ro/rw first, flags sorted, then key=value."""
    assert options.format_options(frozenset(flags), fs_options) == expected


LOWERDIR = [
    ("two-layers", "/a:/b", ("/a", "/b"), ()),
    ("one-layer", "/a", ("/a",), ()),
    ("data-only", "/l1::/d1", ("/l1",), ("/d1",)),
    ("data-only-many", "/l1:/l2::/d1::/d2:/d3", ("/l1", "/l2"), ("/d1", "/d2", "/d3")),
    ("escaped-colon", "/a\\:b:/c", ("/a:b", "/c"), ()),
    ("escaped-comma-backslash", "/a\\,b:/c\\\\d", ("/a,b", "/c\\d"), ()),
    ("escaped-colon-before-data", "/x\\::/y::/z", ("/x:", "/y"), ("/z",)),
]


@pytest.mark.parametrize("value,lower,data", [c[1:] for c in LOWERDIR], ids=[c[0] for c in LOWERDIR])
def test_split_lowerdir(value, lower, data):
    """Legacy lowerdir= lists split on unescaped colons, `::` starting data-only layers."""
    assert options.split_lowerdir(value) == (lower, data)


@pytest.mark.parametrize("value", ["", "/a:", ":/a", "/a::", "/a:::/b", "/a::::/b"],
                         ids=["empty", "trailing-colon", "leading-colon", "trailing-double", "triple", "quadruple"])
def test_split_lowerdir_errors(value):
    """Empty layers and colon runs the kernel refuses are ValueErrors."""
    with pytest.raises(ValueError):
        options.split_lowerdir(value)


LAYER = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1)


@given(st.lists(LAYER, min_size=1, max_size=4), st.lists(LAYER, max_size=3))
def test_lowerdir_escape_roundtrip(lower, data):
    """Layers escaped with ovl_escape and joined with `:`/`::` split back to the same layers."""
    value = ":".join(options.ovl_escape(x) for x in lower)
    if data:
        value += "::" + "::".join(options.ovl_escape(x) for x in data)
    assert options.split_lowerdir(value) == (tuple(lower), tuple(data))


@given(LAYER)
def test_ovl_unescape_inverts_escape(path):
    """ovl_unescape undoes ovl_escape for any path."""
    assert options.ovl_unescape(options.ovl_escape(path)) == path


RAM = {"ram_pages": 6171021, "page_size": 4096}  # the host the fixtures were captured on
MATCH = [
    ("tmpfs-exact", "tmpfs", ["size=16m", "mode=0755"], ["size=16384k", "mode=755", "nr_inodes=9"], None, True),
    ("tmpfs-size-differs", "tmpfs", ["size=16m"], ["size=8192k"], None, False),
    ("tmpfs-size-rounded-to-page", "tmpfs", ["size=1000"], ["size=4k"], None, True),
    ("tmpfs-nr-blocks-shown-as-size", "tmpfs", ["nr_blocks=10"], ["size=40k"], None, True),
    ("tmpfs-hidden-mode-1777", "tmpfs", ["mode=01777", "uid=0", "gid=0"], [], None, True),
    ("tmpfs-hidden-mode-is-not-755", "tmpfs", ["mode=755"], [], None, False),
    ("tmpfs-hidden-huge-never", "tmpfs", ["huge=never"], [], None, True),
    ("tmpfs-hidden-inode32", "tmpfs", ["inode32"], [], None, True),
    ("tmpfs-hidden-inode64-is-missing", "tmpfs", ["inode64"], [], None, False),
    ("tmpfs-noswap-missing", "tmpfs", ["noswap"], ["size=4k"], None, False),
    ("tmpfs-percent-unknown-ram", "tmpfs", ["size=25%"], ["size=6171024k"], None, True),
    ("tmpfs-percent-known-ram", "tmpfs", ["size=25%"], ["size=6171024k"], RAM, True),
    ("tmpfs-percent-known-ram-differs", "tmpfs", ["size=30%"], ["size=6171024k"], RAM, False),
    ("tmpfs-50-percent-hidden", "tmpfs", ["size=50%"], [], None, True),
    ("tmpfs-25-percent-not-hidden", "tmpfs", ["size=25%"], [], None, False),
    ("tmpfs-default-bytes-hidden", "tmpfs", ["size=%d" % (6171021 // 2 * 4096)], [], RAM, True),
    ("tmpfs-default-inodes-hidden", "tmpfs", ["nr_inodes=%d" % (6171021 // 2)], [], RAM, True),
    ("tmpfs-inodes-hidden-unknown-ram", "tmpfs", ["nr_inodes=100"], [], None, False),
    ("overlay-default-follow", "overlay", ["redirect_dir=follow", "index=off", "metacopy=off"], ["uuid=on"], None,
     True),
    ("overlay-redirect-on-not-default", "overlay", ["redirect_dir=on"], [], {"redirect_dir": "N"}, False),
    ("overlay-redirect-on-by-param", "overlay", ["redirect_dir=on"], [], {"redirect_dir": "Y\n"}, True),
    ("overlay-index-on-by-param", "overlay", ["index=on"], [], {"index": "Y"}, True),
    ("overlay-nofollow", "overlay", ["redirect_dir=nofollow"], [], {"redirect_always_follow": "N"}, True),
    ("overlay-xino-hidden-on-one-fs", "overlay", ["xino=on"], [], None, True),
    ("overlay-xino-shown-differs", "overlay", ["xino=on"], ["xino=off"], None, False),
    ("overlay-uuid-auto-any", "overlay", ["uuid=auto"], ["uuid=on"], None, True),
    ("overlay-shown", "overlay", ["metacopy=on", "redirect_dir=on"], ["redirect_dir=on", "metacopy=on"], None, True),
    ("overlay-volatile-missing", "overlay", ["volatile"], ["uuid=on"], None, False),
    ("overlay-layers-ignored", "overlay", ["lowerdir=/x"], ["lowerdir=/y"], None, True),
    ("generic-subset", "ext4", ["errors=remount-ro"], ["discard", "errors=remount-ro"], None, True),
    ("generic-hidden-is-missing", "ext4", ["data=ordered"], ["discard"], None, False),
]


@pytest.mark.parametrize("fstype,desired,live,defaults,expected", [c[1:] for c in MATCH], ids=[c[0] for c in MATCH])
def test_fs_options_match(fstype, desired, live, defaults, expected):
    """Desired filesystem options match live ones, hidden kernel defaults included."""
    want = options.normalize_fs_options(fstype, desired)
    have = options.normalize_fs_options(fstype, live)
    assert options.fs_options_match(fstype, want, have, defaults) is expected
    assert (options.fs_options_diff(fstype, want, have, defaults) == []) is expected


def test_fs_options_diff_names_values():
    """The diff lists (key, live value, desired value) for messages; hidden shows as None."""
    want = options.normalize_fs_options("tmpfs", ["size=16m", "mode=0700", "uid=0"])
    have = options.normalize_fs_options("tmpfs", ["size=8m"])
    assert options.fs_options_diff("tmpfs", want, have) == [("mode", None, "700"), ("size", str(8 * MB), str(16 * MB))]


DEFAULTS = [
    ("kernel-defaults", {}, {"redirect_dir": "follow", "index": "off", "metacopy": "off", "xino": "off"}),
    ("this-host", {"redirect_dir": "N", "redirect_always_follow": "Y", "index": "N", "metacopy": "N",
                   "nfs_export": "N", "xino_auto": "N"},
     {"redirect_dir": "follow", "index": "off", "nfs_export": "off", "xino": "off"}),
    ("all-on", {"redirect_dir": "Y", "index": "Y", "metacopy": "Y", "nfs_export": "Y", "xino_auto": "Y"},
     {"redirect_dir": "on", "index": "on", "metacopy": "on", "nfs_export": "on", "xino": "auto"}),
    ("nofollow", {"redirect_dir": "N", "redirect_always_follow": "N"}, {"redirect_dir": "nofollow"}),
]


@pytest.mark.parametrize("params,expected", [c[1:] for c in DEFAULTS], ids=[c[0] for c in DEFAULTS])
def test_overlay_defaults_map(params, expected):
    """/sys/module/overlay/parameters values map to overlay option defaults."""
    got = options.overlay_defaults_map(params)
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize("fstype, keys, defaults, back", [
    ("tmpfs", ["size"], {"ram_pages": 1001, "page_size": 4096}, [("size", "2048000")]),
    ("tmpfs", ["nr_blocks", "size"], {"ram_pages": 1001, "page_size": 4096}, [("size", "2048000")]),
    ("tmpfs", ["nr_inodes", "huge"], {"ram_pages": 1001, "page_size": 4096}, [("huge", "never"), ("nr_inodes", "500")]),
    ("tmpfs", ["size", "nr_inodes"], {}, []),
    ("tmpfs", ["mode"], {"ram_pages": 1001, "page_size": 4096}, []),
    ("overlay", ["redirect_dir"], {"ram_pages": 1001, "page_size": 4096}, []),
], ids=["size", "nr-blocks-is-size", "inodes-and-huge", "ram-unknown", "no-known-default", "not-tmpfs"])
def test_hidden_defaults(fstype, keys, defaults, back):
    """The values that put back tmpfs options mountinfo hid at their defaults (half of RAM, huge=never)."""
    assert options.hidden_defaults(fstype, keys, defaults) == back
