"""match: is this live mount that entry (identity), and are its settings the desired ones (flags, options)?"""

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import match
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Entry, Owned

from tests.unit.planner_world import Host, bind, entry, overlay, tmpfs


def live_of(host, target):
    """Return the top live mount at `target` on `host`."""
    return host.table().top(target)


# ---- identity ------------------------------------------------------------------------------------------------------
def _bind_host():
    host = Host().dir("/srv/data/sub", "/t", "/other")
    host.raw_mount("/home", "ext4", "/dev/vdb", dev=(254, 16))
    host.dir("/home/u/data")
    return host


IDENTITY = [
    ("bind-same-source", lambda h: h.raw_bind("/srv/data", "/t"), bind("/srv/data", "/t"), True),
    ("bind-other-source", lambda h: h.raw_bind("/srv/data/sub", "/t"), bind("/srv/data", "/t"), False),
    ("bind-string-prefix-is-not-the-same-root", lambda h: h.raw_bind("/srv/data", "/t"), bind("/srv/data/sub", "/t"),
     False),
    ("bind-inside-another-filesystem", lambda h: h.raw_bind("/home/u/data", "/t"), bind("/home/u/data", "/t"), True),
    ("bind-same-path-other-filesystem", lambda h: h.raw_mount("/t", "ext4", "/dev/vdc", root="/u/data", dev=(254, 32)),
     bind("/home/u/data", "/t"), False),
    ("tmpfs-any-without-record", lambda h: h.raw_mount("/t", "tmpfs", "x"), tmpfs("/t"), True),
    ("type-differs", lambda h: h.raw_mount("/t", "ramfs", "ramfs"), tmpfs("/t"), False),
    ("overlay-same-layers", lambda h: h.apply(entry(overlay("/t", ["/l1", "/l2"], "/u", "/w"))),
     overlay("/t", ["/l1", "/l2"], "/u", "/w"), True),
    ("overlay-layer-order-matters", lambda h: h.apply(entry(overlay("/t", ["/l1", "/l2"], "/u", "/w"))),
     overlay("/t", ["/l2", "/l1"], "/u", "/w"), False),
    ("overlay-other-upper", lambda h: h.apply(entry(overlay("/t", ["/l1"], "/u", "/w"))),
     overlay("/t", ["/l1"], "/u2", "/w"), False),
    ("device-fs-by-source", lambda h: h.raw_mount("/t", "ext4", "/dev/vdc", dev=(254, 32)),
     {"target": "/t", "type": "ext4", "source": "/dev/vdc"}, True),
    ("device-fs-other-source", lambda h: h.raw_mount("/t", "ext4", "/dev/vdd", dev=(254, 48)),
     {"target": "/t", "type": "ext4", "source": "/dev/vdc"}, False),
]


@pytest.mark.parametrize("mount, want, same", [pytest.param(*c[1:], id=c[0]) for c in IDENTITY])
def test_same_identity(mount, want, same):
    """A live mount is the entry's when what it mounts is the same, whatever flags and options it has."""
    host = _bind_host()
    mount(host)
    assert match.same_identity(entry(want), live_of(host, "/t"), host.world()) is same


def test_device_source_through_a_symlink_matches_its_realpath():
    """A device named through a /dev symlink matches the mount showing the resolved device."""
    host = Host().dir("/t")
    host.raw_mount("/t", "ext4", "/dev/vdc", dev=(254, 32))
    host.realpaths["/dev/disk/by-label/data"] = "/dev/vdc"
    want = entry({"target": "/t", "type": "ext4", "source": "/dev/disk/by-label/data"})
    assert match.same_identity(want, live_of(host, "/t"), host.world())


@pytest.mark.parametrize("dev, same", [((0, 60), True), ((0, 99), False)], ids=["recorded-device", "other-device"])
def test_owned_tmpfs_is_its_recorded_device(dev, same):
    """With a state record, an anonymous filesystem is identified by the device seen right after mounting."""
    host = Host().dir("/t")
    o = host.apply(entry(tmpfs("/t")))
    assert o.dev == (0, 60)
    own = Owned(o.entry, dev=dev, fs_options=o.fs_options)
    assert match.same_identity(o.entry, live_of(host, "/t"), host.world(), own) is same


def test_recorded_device_of_another_spec_is_not_used():
    """A record of another spec (e.g. before a type change) does not decide the identity of the new entry."""
    host = Host().dir("/t")
    o = host.apply(entry(tmpfs("/t")))
    own = Owned(entry({"target": "/t", "type": "ramfs", "source": "ramfs"}), dev=(0, 99))
    assert match.same_identity(o.entry, live_of(host, "/t"), host.world(), own)


def test_bind_identity_of_an_unknown_table_is_none():
    """Without a root mount nothing can be bound: no identity, never a match."""
    host = Host()
    host.rows = []
    world = host.world()
    assert match.bind_identity(entry(bind("/s", "/t")), world) is None


HAS_IDENTITY = [
    ("bind", bind("/s", "/t"), True),
    ("overlay", overlay("/t", ["/l1", "/l2"]), True),
    ("device", {"target": "/t", "type": "ext4", "source": "/dev/vdc"}, True),
    ("tmpfs", tmpfs("/t"), False),
    ("proc", {"target": "/t", "type": "proc", "source": "proc"}, False),
    ("ramfs", {"target": "/t", "type": "ramfs", "source": "ramfs"}, False),
    ("no-source-at-all", Entry(target="/t", type="nfs"), False),
]


@pytest.mark.parametrize("want, expected", [pytest.param(*c[1:], id=c[0]) for c in HAS_IDENTITY])
def test_has_identity(want, expected):
    """Only entries recognizable without a record of ours may be adopted; anonymous filesystems never are."""
    assert match.has_identity(want if isinstance(want, Entry) else entry(want)) is expected


# ---- settings -------------------------------------------------------------------------------------------------------
SETTINGS = [
    ("same", tmpfs("/t", "size=1m", "nosuid"), tmpfs("/t", "nosuid", "size=1024k"), []),
    ("rw-to-ro", bind("/s", "/t"), bind("/s", "/t", "ro"), ["flags rw -> ro"]),
    ("ro-to-rw", bind("/s", "/t", "ro"), bind("/s", "/t"), ["flags ro -> rw"]),
    ("flags-added-and-removed", bind("/s", "/t", "nodev"), bind("/s", "/t", "nosuid", "noexec"),
     ["flags +noexec, +nosuid, -nodev"]),
    ("atime", tmpfs("/t"), tmpfs("/t", "noatime"), ["flags +noatime"]),
    ("strictatime-from-relatime", tmpfs("/t", "noatime"), tmpfs("/t", "strictatime"),
     ["flags +strictatime, -noatime"]),
    ("tmpfs-size", tmpfs("/t", "size=1m"), tmpfs("/t", "size=2m"), ["size 1048576 -> 2097152"]),
    ("tmpfs-size-unset-live", tmpfs("/t"), tmpfs("/t", "size=2m"), ["size (unset) -> 2097152"]),
    ("tmpfs-option-not-named-is-no-difference", tmpfs("/t", "size=1m"), tmpfs("/t"), []),
    ("tmpfs-hidden-default-mode", tmpfs("/t"), tmpfs("/t", "mode=1777"), []),
    ("propagation", tmpfs("/t"), tmpfs("/t", propagation="shared"), ["propagation private -> shared"]),
    ("propagation-same", tmpfs("/t", propagation="shared"), tmpfs("/t", propagation="shared"), []),
    ("propagation-not-asked", tmpfs("/t", propagation="shared"), tmpfs("/t"), []),
    ("bind-has-no-fs-options", bind("/s", "/t"), bind("/s", "/t"), []),
]


@pytest.mark.parametrize("have, want, diffs", [pytest.param(*c[1:], id=c[0]) for c in SETTINGS])
def test_setting_diffs(have, want, diffs):
    """Differences in flags, filesystem options and propagation read as what a remount would change."""
    host = Host().dir("/s", "/t")
    host.apply(entry(have))
    live = live_of(host, "/t")
    want = entry(want)
    assert match.setting_diffs(want, live, host.world()) == diffs
    assert match.flags_differ(want, live) == any(d.startswith("flags") for d in diffs)
    assert match.propagation_differs(want, live) == any(d.startswith("propagation") for d in diffs)
    assert match.fs_options_differ(want, live, host.world()) == any(d.startswith("size") for d in diffs)


# Live optional fields (mountinfo "shared:N", "master:N", "unbindable"), desired propagation, remount diffs.
PROPAGATION = [
    ("private-asks-shared", (), "shared", ["propagation private -> shared"]),
    ("shared-and-slave-is-shared", ("shared:3", "master:1"), "shared", []),
    ("slave-asks-private", ("master:1",), "private", ["propagation slave -> private"]),
    ("unbindable-asks-private", ("unbindable",), "private", ["propagation unbindable -> private"]),
    ("private-asks-unbindable", (), "unbindable", ["propagation private -> unbindable"]),
    ("slave-asks-slave", ("master:1",), "slave", []),
    # mount_namespaces(7): MS_SLAVE on a mount with no peers leaves it private; a remount would change nothing.
    ("private-asks-slave-nothing-to-follow", (), "slave", []),
    ("shared-asks-slave", ("shared:3",), "slave", ["propagation shared -> slave"]),
    ("shared-and-slave-asks-slave-still-sends", ("shared:3", "master:1"), "slave", ["propagation shared -> slave"]),
    ("unbindable-asks-slave", ("unbindable",), "slave", ["propagation unbindable -> slave"]),
]


@pytest.mark.parametrize("optional, want, diffs", [pytest.param(*c[1:], id=c[0]) for c in PROPAGATION])
def test_propagation_differs(optional, want, diffs):
    """A propagation differs only when MS_SHARED/MS_SLAVE/... would change the live mount; slave of nothing is met."""
    host = Host().dir("/t")
    host.raw_mount("/t", "tmpfs", "tmpfs", optional=optional)
    live = live_of(host, "/t")
    wanted = entry(tmpfs("/t", propagation=want))
    assert match.setting_diffs(wanted, live, host.world()) == diffs
    assert match.propagation_differs(wanted, live) is bool(diffs)


def test_options_hidden_by_the_filesystem_match_when_recorded():
    """Options the live table never shows match when the state recorded that same live text after our mount."""
    host = Host().dir("/t")
    host.raw_mount("/t", "tmpfs", "tmpfs", super_options=(("rw", None), ("size", "1048576")))
    live = live_of(host, "/t")
    want = Entry(target="/t", type="tmpfs", fs_options=(("huge", "within_size"),))
    assert match.setting_diffs(want, live, host.world()) == ["huge (unset) -> within_size"]
    own = Owned(want, dev=live.dev, fs_options=tuple(live.fs_options))
    assert match.setting_diffs(want, live, host.world(), own) == []
    changed = Owned(want, dev=live.dev, fs_options=(("size", "2097152"),))
    assert match.setting_diffs(want, live, host.world(), changed) == ["huge (unset) -> within_size"]


FS_QUESTIONS = [
    ("tmpfs", (("size", "1048576"),), (("mode", "755"), ("size", "1048576")), {}),
    ("tmpfs", (("size", "1048576"),), (("size", "2097152"),), {}),
    ("tmpfs", (("size", "50%"),), (("size", "1048576"),), {"ram_pages": "512", "page_size": "4096"}),
    ("tmpfs", (("size", "50%"),), (("size", "1048576"),), {"ram_pages": "1024", "page_size": "4096"}),
    ("overlay", (("redirect_dir", "on"),), (("redirect_dir", "on"),), {"redirect_dir": "N"}),
    ("ext4", (("errors", "remount-ro"),), (), {}),
    ("tmpfs", [["size", "1m"]], [["size", "1048576"]], None),  # lists: not a key, asked directly
]


@pytest.mark.parametrize("fstype, desired, live, defaults", FS_QUESTIONS)
def test_fs_options_match_answers_as_options_does(fstype, desired, live, defaults):
    """match.fs_options_match (each question answered once) agrees with options.fs_options_match, asked twice."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import options

    want = options.fs_options_match(fstype, desired, live, defaults)
    assert match.fs_options_match(fstype, desired, live, defaults) == want
    assert match.fs_options_match(fstype, desired, live, defaults) == want


def test_fs_options_match_tells_the_defaults_apart():
    """The same options against other defaults are another question (a percentage size depends on the RAM)."""
    desired, live = (("size", "50%"),), (("size", "1048576"),)
    small = match.fs_options_match("tmpfs", desired, live, {"ram_pages": "512", "page_size": "4096"})
    large = match.fs_options_match("tmpfs", desired, live, {"ram_pages": "1024", "page_size": "4096"})
    assert small != large
