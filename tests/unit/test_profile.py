"""Profiles: validation before anything is touched, canonical Entries, dict and text forms."""

import glob
import json
import os
import sys

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as P
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ProfileError
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Entry

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "profiles")
GOOD = sorted(glob.glob(os.path.join(FIXTURES, "good", "*")))
BAD = sorted(glob.glob(os.path.join(FIXTURES, "bad", "*")))


def prof(*mounts, **top):
    """Return a profile mapping named t with `mounts` and extra top-level fields."""
    d = {"name": "t", "mounts": list(mounts)}
    d.update(top)
    return d


def read(path):
    """Return the mapping a fixture file holds."""
    with open(path, encoding="utf-8") as f:
        return P.load_profile_text(f.read(), path)


def expectations(path):
    """Return the (index, target, field, text) problems a bad fixture's `# expect:` lines announce.

    Line format: `# expect: INDEX | TARGET | FIELD | TEXT`, `-` for None; TARGET
    takes Python escapes (\\x07) so control characters can be written.
    """
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# expect: "):
                index, target, field, text = [s.strip() for s in line[len("# expect: "):].split(" | ", 3)]
                out.append((None if index == "-" else int(index),
                            None if target == "-" else target.encode().decode("unicode_escape"),
                            None if field == "-" else field, text))
    return out


def problems_of(data):
    """Return the problems load_profile reports for `data` (failing the test if it loads)."""
    with pytest.raises(ProfileError) as info:
        P.load_profile(data)
    return info.value.problems


def assert_problem(problems, index, target, field, text):
    """Assert one problem names this entry index, target and field, with `text` in its message."""
    for i, t, f, message in problems:
        if (i, t, f) == (index, target, field) and text in message:
            label = "profile" if index is None else (
                "entry %d (%s)" % (index, P.show(target)) if target is not None else "entry %d" % index)
            assert message.startswith(label), message
            if field is not None:
                assert message.startswith("%s: %s" % (label, field)), message
            return
    raise AssertionError("no problem %r in %r" % ((index, target, field, text), problems))


# ---- good profiles -----------------------------------------------------------------
@pytest.mark.parametrize("path", GOOD, ids=[os.path.basename(p) for p in GOOD])
def test_good_fixture_loads(path):
    """Every good fixture loads, keeps its entry order and survives profile_to_dict."""
    data = read(path)
    profile = P.load_profile(data)
    assert [e.index for e in profile.entries] == list(range(len(data["mounts"])))
    assert P.load_profile(P.profile_to_dict(profile)) == profile


def test_issue_example_canonical():
    """The issue's example becomes the canonical Entries the planner compares."""
    p = P.load_profile(read(os.path.join(FIXTURES, "good", "webapp.yaml")))
    data, tree, cache, root, tool, disk = p.entries
    assert p.name == "webapp" and p.on_error == "rollback" and p.allowed_roots == ()
    assert data == Entry("/srv/app/data", "bind", "/data/app", flags=frozenset({"ro", "nosuid"}))
    assert tree.recursive and tree.source == "/data/tree"
    assert cache.fs_options == (("mode", "755"), ("size", str(16 << 20))) and cache.source is None
    assert root.lower == ("/layers/app", "/layers/base") and root.upper == "/var/lib/app/upper"
    assert tool == Entry("/srv/app/bin/tool", "symlink", "/opt/tool/bin/tool")
    assert disk.flags == frozenset({"noatime"}) and disk.source == "/dev/vdb1"
    assert cache.label == "entry 2 (/srv/app/cache)" and cache.options == ("size=16m", "mode=0755")


@pytest.mark.parametrize(
    "entry, field, expected",
    [
        ({"target": "/t/", "type": "tmpfs"}, "target", "/t"),
        ({"target": "//t/./u//", "type": "tmpfs"}, "target", "/t/u"),
        ({"target": "/t", "type": "bind", "source": "/s//x/."}, "source", "/s/x"),
        ({"target": "/t", "type": "symlink", "source": "../x/./y/"}, "source", "../x/./y/"),
        ({"target": "/t", "type": "ext4", "source": "/dev//vdb"}, "source", "/dev//vdb"),
        ({"target": "/t", "type": "overlay", "lower": ["/a/", "//b"]}, "lower", ("/a", "/b")),
        ({"target": "/t", "type": "tmpfs", "mode": "0755"}, "mode", 0o755),
        ({"target": "/t", "type": "tmpfs", "mode": "755"}, "mode", 0o755),
        ({"target": "/t", "type": "tmpfs", "mode": "0o700"}, "mode", 0o700),
        ({"target": "/t", "type": "tmpfs", "mode": "01777"}, "mode", 0o1777),
        ({"target": "/t", "type": "tmpfs", "mode": 493}, "mode", 0o755),
        ({"target": "/t", "type": "tmpfs", "mode": 1023}, "mode", 0o1777),
        ({"target": "/t", "type": "tmpfs", "mode": 420.0}, "mode", 0o644),
        ({"target": "/t", "type": "tmpfs", "uid": 1000.0}, "uid", 1000),
        ({"target": "/t", "type": "tmpfs"}, "mode", 0o755),
        ({"target": "/t", "type": "tmpfs"}, "mkdir", True),
        ({"target": "/t", "type": "tmpfs", "options": ["shared"]}, "propagation", "shared"),
        ({"target": "/t", "type": "tmpfs", "propagation": "slave"}, "propagation", "slave"),
        ({"target": "/t", "type": "tmpfs", "propagation": "slave", "options": ["slave"]}, "propagation", "slave"),
        ({"target": "/t", "type": "tmpfs", "options": ["ro", "rw"]}, "flags", frozenset()),
        ({"target": "/t", "type": "bind", "source": "/s", "options": ["nodev", "nosuid"]}, "flags",
         frozenset({"nodev", "nosuid"})),
    ],
    ids=["trailing-slash", "double-slash-dot", "bind-source-cleaned", "symlink-content-kept",
         "device-kept", "layers-cleaned", "mode-0755", "mode-755-string", "mode-0o", "mode-sticky",
         "mode-int", "mode-int-sticky", "mode-float", "uid-float", "mode-default", "mkdir-default",
         "propagation-from-options", "propagation-field", "propagation-both-same", "rw-after-ro",
         "flags-are-a-set"],
)
def test_canonical_field(entry, field, expected):
    """One field of one entry takes its canonical form."""
    (e,) = P.load_profile(prof(entry)).entries
    assert getattr(e, field) == expected


def test_profile_level_fields():
    """Profile-level fields are carried, allowed_roots cleaned, reserved fields kept per entry."""
    p = P.load_profile(read(os.path.join(FIXTURES, "good", "every-field.yaml")))
    assert p.on_error == "continue" and p.allowed_roots == ("/srv", "/mnt/data")
    assert p.description.startswith("Every field")
    assert p.reserved_for(0) == P.Reserved(mimic=True, on_busy="detach", source_namespace="host")
    assert p.reserved_for(1) == P.Reserved(upper_policy="fresh")
    assert p.reserved_for(2) == P.NO_RESERVED and p.reserved_for(99) == P.NO_RESERVED
    assert p.entries[0].mode == 0o750 and p.entries[0].uid == 1000 and p.entries[3].mkdir is False


def test_ten_thousand_entries_load():
    """A valid 10,000-entry profile of five kinds loads whole and in order (its speed: bench/plan_scale.py)."""
    kinds = [
        lambda i: {"target": "/srv/b%d" % i, "type": "bind", "source": "/d/%d" % i, "options": ["ro"]},
        lambda i: {"target": "/srv/t%d" % i, "type": "tmpfs", "options": ["size=16m", "mode=0755"]},
        lambda i: {"target": "/srv/o%d" % i, "type": "overlay", "lower": ["/l/a", "/l/b"],
                   "upper": "/u/%d" % i, "work": "/w/%d" % i},
        lambda i: {"target": "/srv/s%d" % i, "type": "symlink", "source": "../x"},
        lambda i: {"target": "/srv/e%d" % i, "type": "ext4", "source": "/dev/vd%d" % i},
    ]
    data = prof(*[kinds[i % 5](i) for i in range(10000)], allowed_roots=["/srv"])
    p = P.load_profile(data)
    assert [e.target for e in p.entries] == [m["target"] for m in data["mounts"]]
    assert [e.type for e in p.entries[:5]] == ["bind", "tmpfs", "overlay", "symlink", "ext4"]


# ---- bad profiles ------------------------------------------------------------------
@pytest.mark.parametrize("path", BAD, ids=[os.path.basename(p) for p in BAD])
def test_bad_fixture_names_entry_and_field(path):
    """Every bad fixture is refused with the problems its header announces."""
    problems = problems_of(read(path))
    wanted = expectations(path)
    assert wanted, "fixture has no '# expect:' line"
    for index, target, field, text in wanted:
        assert_problem(problems, index, target, field, text)


T = "/srv/t"
CASES = [
    # (id, profile mapping, index, target, field, text in message)
    ("relative-target", prof({"target": "srv", "type": "tmpfs"}), 0, "srv", "target", "must be an absolute path"),
    ("empty-target", prof({"target": "", "type": "tmpfs"}), 0, "", "target", "must be an absolute path"),
    ("dotdot-target", prof({"target": "/a/../b", "type": "tmpfs"}), 0, "/a/../b", "target", "'..'"),
    ("dotdot-bind-source", prof({"target": T, "type": "bind", "source": "/d/.."}), 0, T, "source", "'..'"),
    ("dotdot-lower", prof({"target": T, "type": "overlay", "lower": ["/l", "/x/../y"]}), 0, T, "lower",
     "lower[1]: path must not contain '..'"),
    ("nul-target", prof({"target": "/a\x00b", "type": "tmpfs"}), 0, "/a\x00b", "target", "'\\x00' at offset 2"),
    ("escape-in-bind-source", prof({"target": T, "type": "bind", "source": "/d\x1b[0m"}), 0, T, "source",
     "control character '\\x1b'"),
    ("del-in-upper", prof({"target": T, "type": "overlay", "lower": ["/l"], "upper": "/u\x7f", "work": "/w"}),
     0, T, "upper", "control character '\\x7f'"),
    ("control-in-symlink", prof({"target": T, "type": "symlink", "source": "a\x01"}), 0, T, "source",
     "control character"),
    ("control-in-option", prof({"target": T, "type": "tmpfs", "options": ["size=1m\n"]}), 0, T, "options",
     "options[0]: contains control character '\\n'"),
    ("control-in-allowed-root", prof(allowed_roots=["/srv\x02"]), None, None, "allowed_roots",
     "allowed_roots[0]: contains control character"),
    ("duplicate-same", prof({"target": T, "type": "tmpfs"}, {"target": T, "type": "tmpfs"}), 1, T, "target",
     "same target as entry 0 (/srv/t)"),
    ("duplicate-trailing-slash", prof({"target": T, "type": "tmpfs"}, {"target": T + "/", "type": "tmpfs"}),
     1, T + "/", "target", "same target as entry 0 (/srv/t)"),
    ("duplicate-spelled", prof({"target": "//srv/./t/", "type": "tmpfs"}, {"target": T, "type": "tmpfs"}),
     1, T, "target", "same target as entry 0 (//srv/./t/)"),
    ("unknown-entry-field", prof({"target": T, "type": "tmpfs", "size": "1m"}), 0, T, "size", "unknown field"),
    ("unknown-top-field", prof(mount=[]), None, None, "mount", "unknown field"),
    ("type-uppercase", prof({"target": T, "type": "Ext4", "source": "/d"}), 0, T, "type",
     "must be a filesystem type name"),
    ("type-rbind", prof({"target": T, "type": "rbind", "source": "/d"}), 0, T, "type", "recursive: true"),
    ("type-overlayfs", prof({"target": T, "type": "overlayfs", "lower": ["/l"]}), 0, T, "type",
     "the kernel calls it overlay"),
    ("type-int", prof({"target": T, "type": 5, "source": "/d"}), 0, T, "type", "must be a string, not a number"),
    ("type-trailing-newline", prof({"target": T, "type": "ext4\n", "source": "/d"}), 0, T, "type",
     "must be a filesystem type name"),
    ("type-missing", prof({"target": T}), 0, T, "type", "is required"),
    ("option-comma", prof({"target": T, "type": "tmpfs", "options": ["size=1m,mode=0700"]}), 0, T, "options",
     "write 'size=1m', 'mode=0700'"),
    ("option-empty-key", prof({"target": T, "type": "tmpfs", "options": ["=1m"]}), 0, T, "options",
     "empty key"),
    ("option-blank-key", prof({"target": T, "type": "tmpfs", "options": [" size=1m"]}), 0, T, "options",
     "blanks in its key"),
    ("option-empty", prof({"target": T, "type": "tmpfs", "options": [""]}), 0, T, "options",
     "options[0]: must not be empty"),
    ("overlay-lowerdir", prof({"target": T, "type": "overlay", "lower": ["/l"], "options": ["lowerdir=/x"]}),
     0, T, "options", "overlay layers go in the lower"),
    ("overlay-lowerdir-plus", prof({"target": T, "type": "overlay", "lower": ["/l"],
                                    "options": ["lowerdir+=/x"]}), 0, T, "options", "overlay layers go"),
    ("overlay-upperdir", prof({"target": T, "type": "overlay", "lower": ["/l"], "options": ["upperdir=/u"]}),
     0, T, "options", "overlay layers go"),
    ("overlay-datadir", prof({"target": T, "type": "overlay", "lower": ["/l"], "options": ["datadir+=/d"]}),
     0, T, "options", "overlay layers go"),
    ("source-option", prof({"target": T, "type": "tmpfs", "options": ["source=/dev/sda"]}), 0, T, "options",
     "the source goes in the source field"),
    ("bind-word", prof({"target": T, "type": "ext4", "source": "/d", "options": ["bind"]}), 0, T, "options",
     "use type bind"),
    ("bind-size", prof({"target": T, "type": "bind", "source": "/d", "options": ["size=1m"]}), 0, T,
     "options", "bind mounts take no filesystem options: size=1m"),
    ("recursive-propagation", prof({"target": T, "type": "tmpfs", "options": ["rshared"]}), 0, T, "options",
     "rshared"),
    ("upper-without-work", prof({"target": T, "type": "overlay", "lower": ["/l"], "upper": "/u"}), 0, T,
     "upper", "needs work as well"),
    ("work-without-upper", prof({"target": T, "type": "overlay", "lower": ["/l"], "work": "/w"}), 0, T,
     "work", "needs upper as well"),
    ("policy-without-upper", prof({"target": T, "type": "overlay", "lower": ["/l"], "upper_policy": "carry"}),
     0, T, "upper_policy", "needs upper as well"),
    ("work-inside-upper", prof({"target": T, "type": "overlay", "lower": ["/l"], "upper": "/u",
                                "work": "/u/w"}), 0, T, "work", "separate directory tree from upper"),
    ("bind-no-source", prof({"target": T, "type": "bind"}), 0, T, "source", "is required for type bind"),
    ("fs-no-source", prof({"target": T, "type": "ext4"}), 0, T, "source", "is required for type ext4"),
    ("symlink-no-source", prof({"target": T, "type": "symlink"}), 0, T, "source", "is required for type symlink"),
    ("symlink-empty-source", prof({"target": T, "type": "symlink", "source": ""}), 0, T, "source",
     "must not be empty"),
    ("bind-relative-source", prof({"target": T, "type": "bind", "source": "data"}), 0, T, "source",
     "must be an absolute path"),
    ("overlay-no-lower", prof({"target": T, "type": "overlay"}), 0, T, "lower", "is required for type overlay"),
    ("overlay-empty-lower", prof({"target": T, "type": "overlay", "lower": []}), 0, T, "lower",
     "at least 1 item"),
    ("overlay-relative-layer", prof({"target": T, "type": "overlay", "lower": ["l"]}), 0, T, "lower",
     "lower[0]: must be an absolute path"),
    ("overlay-source", prof({"target": T, "type": "overlay", "lower": ["/l"], "source": "x"}), 0, T, "source",
     "is not allowed for type overlay"),
    ("tmpfs-source", prof({"target": T, "type": "tmpfs", "source": "tmpfs"}), 0, T, "source",
     "is not allowed for type tmpfs"),
    ("tmpfs-recursive", prof({"target": T, "type": "tmpfs", "recursive": True}), 0, T, "recursive",
     "is not allowed for type tmpfs"),
    ("tmpfs-layers", prof({"target": T, "type": "tmpfs", "lower": ["/l"]}), 0, T, "lower",
     "is not allowed for type tmpfs"),
    ("tmpfs-upper-policy", prof({"target": T, "type": "tmpfs", "upper_policy": "fresh"}), 0, T, "upper_policy",
     "is not allowed for type tmpfs"),
    ("symlink-options", prof({"target": T, "type": "symlink", "source": "x", "options": []}), 0, T, "options",
     "is not allowed for type symlink"),
    ("symlink-propagation", prof({"target": T, "type": "symlink", "source": "x", "propagation": "private"}),
     0, T, "propagation", "is not allowed for type symlink"),
    ("ext4-namespace", prof({"target": T, "type": "ext4", "source": "/d", "source_namespace": "host"}), 0, T,
     "source_namespace", "is not allowed for type ext4"),
    ("mode-999", prof({"target": T, "type": "tmpfs", "mode": "999"}), 0, T, "mode", "octal mode"),
    ("mode-decimal-755", prof({"target": T, "type": "tmpfs", "mode": 755}), 0, T, "mode", "755 is decimal"),
    ("mode-too-big", prof({"target": T, "type": "tmpfs", "mode": 5000}), 0, T, "mode", "at most 4095"),
    ("mode-bool", prof({"target": T, "type": "tmpfs", "mode": True}), 0, T, "mode",
     "must be a string or an integer, not true"),
    ("mode-trailing-newline", prof({"target": T, "type": "tmpfs", "mode": "0755\n"}), 0, T, "mode",
     "octal mode"),
    ("uid-negative", prof({"target": T, "type": "tmpfs", "uid": -1}), 0, T, "uid", "at least 0"),
    ("uid-string", prof({"target": T, "type": "tmpfs", "uid": "0"}), 0, T, "uid", "must be an integer"),
    ("gid-too-big", prof({"target": T, "type": "tmpfs", "gid": 2 ** 32}), 0, T, "gid", "at most 4294967294"),
    ("mkdir-string", prof({"target": T, "type": "tmpfs", "mkdir": "yes"}), 0, T, "mkdir", "true or false"),
    ("propagation-recursive", prof({"target": T, "type": "tmpfs", "propagation": "rshared"}), 0, T,
     "propagation", "must be one of private, shared, slave, unbindable"),
    ("propagation-conflict", prof({"target": T, "type": "tmpfs", "propagation": "private",
                                   "options": ["shared"]}), 0, T, "propagation", "conflicts with 'shared'"),
    ("options-string", prof({"target": T, "type": "tmpfs", "options": "ro"}), 0, T, "options",
     "must be a list, not a string"),
    ("options-int-item", prof({"target": T, "type": "tmpfs", "options": [1]}), 0, T, "options",
     "options[0]: must be a string"),
    ("on-busy-enum", prof({"target": T, "type": "tmpfs", "on_busy": "kill"}), 0, T, "on_busy",
     "must be one of fail, detach"),
    ("namespace-enum", prof({"target": T, "type": "bind", "source": "/d", "source_namespace": "pid1"}), 0, T,
     "source_namespace", "must be one of host"),
    ("mimic-string", prof({"target": T, "type": "tmpfs", "mimic": "no"}), 0, T, "mimic", "true or false"),
    ("target-root", prof({"target": "/", "type": "tmpfs"}), 0, "/", "target", "cannot be / itself"),
    ("target-root-spelled", prof({"target": "/./", "type": "tmpfs"}), 0, "/./", "target", "cannot be / itself"),
    ("under-symlink", prof({"target": "/s", "type": "symlink", "source": "/x"},
                           {"target": "/s/a/b", "type": "tmpfs"}), 1, "/s/a/b", "target",
     "lies under the symlink of entry 0 (/s)"),
    ("entry-not-mapping", prof(["/t", "tmpfs"]), 0, None, None, "must be a mapping, not a list"),
    ("name-pattern", {"name": "Web App", "mounts": []}, None, None, "name", "must be lowercase letters"),
    ("name-dot-first", {"name": ".hidden", "mounts": []}, None, None, "name", "starting with a letter"),
    ("name-newline", {"name": "web\n", "mounts": []}, None, None, "name", "must be lowercase letters"),
    ("name-too-long", {"name": "a" * 65, "mounts": []}, None, None, "name", "at most 64 characters"),
    ("name-missing", {"mounts": []}, None, None, "name", "is required"),
    ("mounts-missing", {"name": "t"}, None, None, "mounts", "is required"),
    ("mounts-mapping", {"name": "t", "mounts": {"target": T}}, None, None, "mounts", "must be a list"),
    ("on-error-enum", prof(on_error="ignore"), None, None, "on_error", "must be one of rollback, continue"),
    ("description-int", prof(description=5), None, None, "description", "must be a string"),
    ("allowed-roots-empty", prof(allowed_roots=[]), None, None, "allowed_roots", "at least 1 item"),
    ("allowed-roots-relative", prof(allowed_roots=["srv"]), None, None, "allowed_roots",
     "allowed_roots[0]: must be an absolute path"),
    ("allowed-roots-repeat", prof(allowed_roots=["/srv", "/srv"]), None, None, "allowed_roots",
     "must not repeat an item"),
    ("outside-allowed-roots", prof({"target": "/etc/x", "type": "tmpfs"}, allowed_roots=["/srv"]), 0, "/etc/x",
     "target", "not at or under an allowed root (/srv)"),
    ("string-prefix-is-not-a-root", prof({"target": "/srv/app-2", "type": "tmpfs"}, allowed_roots=["/srv/app"]),
     0, "/srv/app-2", "target", "not at or under an allowed root"),
]


@pytest.mark.parametrize("data, index, target, field, text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_profile_is_refused(data, index, target, field, text):
    """A malformed profile is refused with a problem naming its entry index, target and field."""
    assert_problem(problems_of(data), index, target, field, text)


def test_every_problem_is_collected():
    """Problems of many entries and of the profile itself are all reported at once, profile first."""
    problems = problems_of(prof(
        {"target": "rel", "type": "tmpfs"},
        {"target": T, "type": "bind", "source": "/d", "options": ["size=1m"], "bogus": 1},
        {"target": T + "/", "type": "tmpfs"},
        name="Bad"))
    assert [(p[0], p[2]) for p in problems] == [
        (None, "name"), (0, "target"), (1, "bogus"), (1, "options"), (2, "target")]


def test_profile_error_to_dict():
    """ProfileError's dict form lists each problem with index, target, field and message."""
    with pytest.raises(ProfileError) as info:
        P.load_profile(prof({"target": T, "type": "bind", "source": "/d", "options": ["size=1m"]}))
    assert info.value.to_dict()["problems"] == [{
        "index": 0, "target": T, "field": "options",
        "message": "entry 0 (/srv/t): options: bind mounts take no filesystem options: size=1m"}]
    assert str(info.value) == "entry 0 (/srv/t): options: bind mounts take no filesystem options: size=1m"


@pytest.mark.parametrize("data", [None, [], "name: x", 5], ids=["none", "list", "string", "int"])
def test_non_mapping_profile(data):
    """A profile that is not a mapping is refused as a whole."""
    ((index, target, field, message),) = problems_of(data)
    assert (index, target, field) == (None, None, None) and message.startswith("profile: must be a mapping")


@pytest.mark.parametrize(
    "value, expected",
    [("0755", 0o755), ("755", 0o755), ("0o644", 0o644), ("1777", 0o1777), ("07777", 0o7777), (0, 0),
     (493, 0o755), (511, 0o777), (778, 778), (4095, 0o7777)],
    ids=["0755", "755", "0o644", "1777", "07777", "zero", "493", "511", "778", "max"],
)
def test_parse_mode(value, expected):
    """Modes given as octal strings or unambiguous integers parse to ints."""
    assert P.parse_mode(value) == expected


@pytest.mark.parametrize("value", ["999", "0x1ed", "rwxr-xr-x", "", 644, 777, 512],
                         ids=["999", "hex", "symbolic", "empty", "644", "777", "512"])
def test_parse_mode_refuses(value):
    """Non-octal strings and integers that look like unquoted octal are refused."""
    with pytest.raises(ValueError):
        P.parse_mode(value)


# ---- dict forms --------------------------------------------------------------------
def test_profile_to_dict_is_minimal_and_canonical():
    """profile_to_dict leaves defaults out and spells options canonically."""
    p = P.load_profile(read(os.path.join(FIXTURES, "good", "webapp.yaml")))
    assert P.profile_to_dict(p) == {"name": "webapp", "mounts": [
        {"target": "/srv/app/data", "type": "bind", "source": "/data/app", "options": ["nosuid", "ro"]},
        {"target": "/srv/app/tree", "type": "bind", "source": "/data/tree", "recursive": True},
        {"target": "/srv/app/cache", "type": "tmpfs", "options": ["mode=755", "size=16777216"]},
        {"target": "/srv/app/root", "type": "overlay", "upper": "/var/lib/app/upper",
         "work": "/var/lib/app/work", "lower": ["/layers/app", "/layers/base"]},
        {"target": "/srv/app/bin/tool", "type": "symlink", "source": "/opt/tool/bin/tool"},
        {"target": "/mnt/disk", "type": "ext4", "source": "/dev/vdb1", "options": ["noatime"]},
    ]}


PATH_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
                    min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
ANY_TEXT = st.text(max_size=12)
ENTRIES = st.builds(
    Entry,
    target=ANY_TEXT,
    type=ANY_TEXT,
    source=st.none() | ANY_TEXT,
    recursive=st.booleans(),
    flags=st.frozensets(ANY_TEXT, max_size=4),
    fs_options=st.lists(st.tuples(ANY_TEXT, st.none() | ANY_TEXT), max_size=4).map(tuple),
    lower=st.lists(ANY_TEXT, max_size=3).map(tuple),
    data=st.lists(ANY_TEXT, max_size=2).map(tuple),
    upper=st.none() | ANY_TEXT,
    work=st.none() | ANY_TEXT,
    propagation=st.none() | st.sampled_from(["private", "shared", "slave", "unbindable"]),
    mkdir=st.booleans(),
    mode=st.integers(0, 0o7777),
    uid=st.integers(0, 2 ** 32 - 2),
    gid=st.integers(0, 2 ** 32 - 2),
    index=st.none() | st.integers(0, 10 ** 6),
    options=st.lists(ANY_TEXT, max_size=4).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(ENTRIES)
def test_entry_dict_round_trip(entry):
    """entry_to_dict -> JSON -> entry_from_dict gives back every field, index and options included."""
    back = P.entry_from_dict(json.loads(json.dumps(P.entry_to_dict(entry))))
    assert back == entry
    assert (back.index, back.options) == (entry.index, entry.options)


@settings(max_examples=300, deadline=None)
@given(ENTRIES)
def test_entry_state_dict_is_the_full_dict_less_its_defaults_and_round_trips(entry):
    """The state file's compact form is entry_to_dict without the defaulted fields, and reads back whole."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import forms

    full, compact = P.entry_to_dict(entry), forms.entry_to_state_dict(entry)
    default = P.entry_to_dict(Entry(target="/", type="tmpfs"))
    assert compact == {k: v for k, v in full.items()
                       if k in ("target", "type") or not (type(v) is type(default[k]) and v == default[k])}
    back = P.entry_from_dict(json.loads(json.dumps(compact)))
    assert back == entry and (back.index, back.options) == (entry.index, entry.options)


def test_state_dicts_make_each_entry_s_dict_once():
    """One run's state_dicts(): entry_to_state_dict's dict, made once per Entry object (an equal one gets its own)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import forms

    entry = Entry(target="/data/m", type="bind", source="/srv/a", flags=frozenset({"ro"}))
    twin = Entry(target="/data/m", type="bind", source="/srv/a", flags=frozenset({"ro"}))
    dicts = forms.state_dicts()
    first = dicts(entry)
    assert first == forms.entry_to_state_dict(entry) and dicts(entry) is first
    assert dicts(twin) == first and dicts(twin) is not first
    assert forms.state_dicts()(entry) is not first  # another run starts afresh


@pytest.mark.parametrize(
    "d, text",
    [
        ([], "entry must be a mapping"),
        ({"type": "tmpfs"}, "entry field target is missing"),
        ({"target": "/t"}, "entry field type is missing"),
        ({"target": "/t", "type": "tmpfs", "colour": "red"}, "entry field 'colour' is unknown"),
        ({"target": 1, "type": "tmpfs"}, "entry field target must be a string"),
        ({"target": "/t", "type": "tmpfs", "flags": "ro"}, "entry field flags must be a list of strings"),
        ({"target": "/t", "type": "tmpfs", "fs_options": [["size"]]}, "entry field fs_options must be a list of"),
        ({"target": "/t", "type": "tmpfs", "fs_options": [["size", 1]]}, "entry field fs_options must be a list of"),
        ({"target": "/t", "type": "tmpfs", "mode": "0755"}, "entry field mode must be an integer"),
        ({"target": "/t", "type": "tmpfs", "uid": True}, "entry field uid must be an integer"),
        ({"target": "/t", "type": "tmpfs", "mkdir": 1}, "entry field mkdir must be true or false"),
        ({"target": "/t", "type": "tmpfs", "lower": [None]}, "entry field lower must be a list of strings"),
        # A state file is untrusted: the same ranges as the profile schema.
        ({"target": "/t", "type": "tmpfs", "mode": -1}, "entry field mode must be an integer from 0 to 4095"),
        ({"target": "/t", "type": "tmpfs", "mode": 0o10000}, "entry field mode must be an integer from 0 to 4095"),
        ({"target": "/t", "type": "tmpfs", "uid": -1}, "entry field uid must be an integer from 0 to 4294967294"),
        ({"target": "/t", "type": "tmpfs", "gid": 2 ** 32 - 1}, "entry field gid must be an integer from 0 to"),
        ({"target": "/t", "type": "tmpfs", "gid": 2 ** 64}, "entry field gid must be an integer from 0 to"),
    ],
    ids=["not-mapping", "no-target", "no-type", "unknown-field", "target-int", "flags-string", "pair-short",
         "pair-int-value", "mode-string", "uid-bool", "mkdir-int", "lower-null", "mode-negative", "mode-too-big",
         "uid-negative", "gid-unchanged", "gid-huge"],
)
def test_entry_from_dict_refuses(d, text):
    """A damaged state-file entry raises ValueError naming the field (state.py wraps it)."""
    with pytest.raises(ValueError) as info:
        P.entry_from_dict(d)
    assert text in str(info.value)


def test_entry_from_dict_defaults():
    """Fields missing from a state-file entry take the Entry defaults."""
    assert P.entry_from_dict({"target": "/t", "type": "tmpfs"}) == Entry("/t", "tmpfs")


WEIRD_NAME = st.text(alphabet=" \t\n\\,:ab-", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
OPTION_POOL = {
    "bind": ["ro", "rw", "nosuid", "nodev", "noexec", "noatime", "strictatime", "nodiratime", "private", "slave"],
    "tmpfs": ["ro", "nosuid", "size=1m", "size=16k", "mode=0755", "mode=1777", "nr_inodes=1000", "shared"],
    "overlay": ["ro", "noatime", "redirect_dir=on", "metacopy=on", "index=off", "unbindable"],
    "ext4": ["noatime", "nodev", "errors=remount-ro", "data=ordered", "discard"],
}


@st.composite
def valid_profiles(draw):
    """Return a valid profile mapping with entries of every type under distinct /srv/eN roots."""
    mounts = []
    for i in range(draw(st.integers(0, 6))):
        target = "/srv/e%d/%s" % (i, draw(WEIRD_NAME))
        etype = draw(st.sampled_from(["bind", "tmpfs", "overlay", "ext4", "symlink"]))
        e = {"target": target + draw(st.sampled_from(["", "/", "/."])), "type": etype}
        if etype == "bind":
            e["source"] = "/data/" + draw(WEIRD_NAME)
            e["recursive"] = draw(st.booleans())
        elif etype == "symlink":
            e["source"] = draw(WEIRD_NAME)
        elif etype == "ext4":
            e["source"] = "/dev/" + draw(WEIRD_NAME)
        elif etype == "overlay":
            writable = draw(st.booleans())
            # A read-only overlay has two layers at least (overlay_rules.layout_problems).
            e["lower"] = ["/l/%d/%s" % (k, draw(WEIRD_NAME)) for k in range(draw(st.integers(1 if writable else 2, 3)))]
            if writable:
                e["upper"], e["work"] = "/u/%d" % i, "/w/%d" % i
        if etype != "symlink":
            e["options"] = draw(st.lists(st.sampled_from(OPTION_POOL[etype]), max_size=4))
        if draw(st.booleans()):
            e["mode"] = draw(st.sampled_from(["0700", "0o750", "1777", 0o644]))
        if draw(st.booleans()):
            e["mkdir"], e["uid"], e["gid"] = False, draw(st.integers(0, 70000)), 7
        mounts.append(e)
    return prof(*mounts, on_error=draw(st.sampled_from(["rollback", "continue"])))


@settings(max_examples=200, deadline=None)
@given(valid_profiles())
def test_profile_dict_round_trip(data):
    """load_profile(profile_to_dict(p)) == p for generated valid profiles with awkward paths."""
    p = P.load_profile(data)
    again = P.load_profile(json.loads(json.dumps(P.profile_to_dict(p))))
    assert again == p
    assert [e.index for e in again.entries] == [e.index for e in p.entries]


# ---- text --------------------------------------------------------------------------
def test_yaml_and_json_text_agree():
    """The same profile written as YAML and as JSON loads to the same mapping."""
    yaml_text = "name: x\nmounts:\n  - {target: /t, type: tmpfs, mode: 0755}\n"
    json_text = '{"name": "x", "mounts": [{"target": "/t", "type": "tmpfs", "mode": 493}]}'
    assert P.load_profile_text(yaml_text, "p.yaml") == P.load_profile_text(json_text, "p.json")
    assert P.load_profile_text(json_text.encode()) == P.load_profile_text(yaml_text.encode())


def _laughs(levels):
    """Return a YAML 'billion laughs' document: 10**levels strings from 10*levels aliases."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append("l%d: &l%d [%s]" % (i, i, ",".join(["*l%d" % (i - 1)] * 10)))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text, filename, cause",
    [
        ("name: [unclosed\n", "p.yaml", "invalid YAML at line 2"),
        ("name: a\nname: b\nmounts: []\n", "p.yaml", "duplicate key 'name'"),
        ("name: a\nmounts:\n  - {target: /t, target: /u, type: tmpfs}\n", "p.yaml", "duplicate key 'target'"),
        (_laughs(8), "bomb.yaml", "more than 1000000 values"),
        (_laughs(11), "bomb.yaml", "more than 100 aliases"),
        ("a: &a [*a]\n", "loop.yaml", "more than 1000000 values"),
        ("- name: x\n", "p.yaml", "the top level must be a mapping, not a list"),
        ("", "p.yaml", "the top level must be a mapping, not null"),
        ("name: a\n---\nname: b\n", "p.yaml", "invalid YAML"),
        ("name: !!python/object:os.system x\n", "p.yaml", "invalid YAML"),
        ('{"name": "a", "name": "b"}', "p.json", "duplicate key 'name'"),
        ('{"name": "a",}', "p.json", "invalid JSON at line 1"),
        ("[" * 100000 + "]" * 100000, "deep.json", "nested too deeply"),
        (b"name: \xff\n", "p.yaml", "not UTF-8 (byte 6)"),
    ],
    ids=["unclosed", "duplicate-top", "duplicate-entry-key", "billion-laughs", "alias-flood", "recursive-alias",
         "list-top", "empty", "two-documents", "python-tag", "json-duplicate", "json-trailing-comma",
         "json-deep", "not-utf8"],
)
def test_bad_text_is_refused(text, filename, cause):
    """Unreadable, ambiguous or explosive text is refused by its guard with a clear message, not expanded."""
    with pytest.raises(ProfileError) as info:
        P.load_profile_text(text, filename)
    assert str(info.value).startswith("cannot read profile %s: " % filename)
    assert cause in str(info.value)


def test_yaml_needs_pyyaml(monkeypatch):
    """Without PyYAML (a bare managed host) JSON still loads and YAML says what is missing."""
    monkeypatch.setitem(sys.modules, "yaml", None)
    assert P.load_profile_text('{"name": "x", "mounts": []}') == {"name": "x", "mounts": []}
    with pytest.raises(ProfileError) as info:
        P.load_profile_text("name: x\nmounts: []\n", "/etc/livemount/x.yaml")
    assert str(info.value) == "cannot read profile /etc/livemount/x.yaml: PyYAML is needed for YAML profiles"


@pytest.mark.parametrize("c_parser", [True, False], ids=["libyaml", "pure-python"])
def test_yaml_guards_hold_with_either_parser(monkeypatch, c_parser):
    """Alias and duplicate-key guards work whether PyYAML has its C parser or not."""
    import yaml

    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import forms as profile_io

    if c_parser and not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")
    if not c_parser:
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    monkeypatch.setattr(profile_io.yaml_load, "_loader", None)
    assert P.load_profile_text("name: x\nmounts: []\n") == {"name": "x", "mounts": []}
    for text, cause in ((_laughs(11), "more than 100 aliases"), ("a: 1\na: 2\n", "duplicate key 'a'")):
        with pytest.raises(ProfileError) as info:
            P.load_profile_text(text, "p.yaml")
        assert cause in str(info.value)


PLAIN_PATHS = ["/srv/data", "/a", "/srv/my data/x", "/srv/a-b_c~d", "/" + "x" * 254]
NOT_PLAIN = ["/", "", "srv/data", "/srv//data", "/srv/./data", "/srv/../etc", "/srv/data/", "/srv/.hidden",
             "/srv/tab\there", "/srv/nl\n", "/srv/caf\u00e9", "/srv/\udcff", "/" + "x" * 255, 7, None, b"/srv"]


@pytest.mark.parametrize("path", PLAIN_PATHS)
def test_plainly_clean_paths_are_what_clean_path_gives_back(path):
    """A path plainly_clean says yes to is one clean_path returns unchanged."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.paths import clean_path, plainly_clean

    assert plainly_clean(path) and clean_path(path) == path


@pytest.mark.parametrize("path", NOT_PLAIN)
def test_plainly_clean_says_no_when_a_closer_look_is_needed(path):
    """Anything unusual (unclean, relative, not printable ASCII, long, not a str) is left to clean_path."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.paths import plainly_clean

    assert plainly_clean(path) is False


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("/ab.-_ \t\x01\u00e9"), max_size=12))
def test_plainly_clean_implies_clean_path_unchanged(path):
    """Whatever the text: plainly_clean(p) means clean_path(p) == p, no error."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.paths import clean_path, plainly_clean

    if plainly_clean(path):
        assert clean_path(path) == path
