"""Fuzzing the parsers and the profile path: nothing but a clean error, whatever the input.

Targets, each fed by hypothesis-driven random generators (coverage-blind,
but structured: most inputs are real captures and fixtures with random
damage, so they get past the first line):

* mountinfo: parse_mountinfo(text) returns a LiveTable or raises ValueError;
  the table then answers top/stack/visible/submounts/bind_identity for every
  mount point without raising or hanging (a damaged table may hold cycles).
* fstab: parse_fstab(text) returns lines or raises ValueError;
  fstab_to_mounts never raises; the mounts it makes give a Profile or a
  ProfileError.
* profile text: load_profile_text + load_profile on damaged fixture files
  give a Profile or a ProfileError.
* profile data: load_profile on generated mappings (schema keys with values
  of every type, and stray keys) gives a Profile or a ProfileError; an
  accepted profile survives profile_to_dict and the state file's entry form.

Examples per target: LIVEMOUNT_FUZZ_EXAMPLES (default 1000, derandomized so
the test command is repeatable). For a long run, outside the test command:

    LIVEMOUNT_FUZZ_EXAMPLES=200000 python3 -m pytest tests/reliability/test_fuzz.py -p no:cacheprovider

(set LIVEMOUNT_FUZZ_RANDOM=1 to draw new examples each run instead of the
fixed sequence). The counts go to the reliability summary.
"""

import glob
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import fstab
from ansible_collections.livemount.core.plugins.module_utils.livemount import mountinfo
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as P
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ProfileError

EXAMPLES = int(os.environ.get("LIVEMOUNT_FUZZ_EXAMPLES", "1000"))
RANDOM = bool(os.environ.get("LIVEMOUNT_FUZZ_RANDOM"))
TIMEOUT = max(300, EXAMPLES // 20)  # seconds for the whole target, under the namespace harness

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


def _read(path, binary=False):
    with open(path, "rb" if binary else "r", **({} if binary else {"encoding": "utf-8"})) as f:
        return f.read()


MOUNTINFO_LINES = [line for path in sorted(glob.glob(os.path.join(FIXTURES, "mountinfo", "*.txt")))
                   for line in _read(path).splitlines() if line.strip()]
FSTAB_LINES = [line for line in _read(os.path.join(FIXTURES, "fstab", "sample.fstab")).splitlines()] + [
    "overlay /m overlay lowerdir=/a\\054upperdir=/b,workdir=/w 0 0",
    "/srv/a /srv/b none rbind,ro 0 0",
    "tmpfs /srv/t tmpfs size=1m,mode=1777,x-gvfs-show 0 0",
]
PROFILE_TEXTS = [_read(p) for p in sorted(glob.glob(os.path.join(FIXTURES, "profiles", "good", "*")))]

# Characters that mean something to one of the formats, plus the awkward ones.
SPICE = list(" \t\n\r\\,:=-#/&*!<>[]{}|'\"%@`?~.0123456789") + ["\\040", "\\054", "\\134", "\\777", "\x00", "\x7f",
                                                                  "\u00e9", "\udcff", "\ud800", "<<: ", "- ", ": ",
                                                                  "&a ", "*a", "!!str ", "!!python/name:os.system "]
TOKENS = ["-", "", "0", "-1", "99999999999999999999", "0:0", "a:b", "\\", "shared:1", "master:x", "propagate_from:2",
          "unbindable", "rw,lowerdir=/a", "lowerdir+=/x", "overlay", "none", "/", "//", "relative", "tmpfs", "bind",
          "ro,bind", "size=1m", "size=-1", "mode=99999", "\\040", "x" * 300]


# Inputs are built by plain seeded random generators: hypothesis draws the
# seed, and a failing check prints the input. Building them with composite
# hypothesis strategies cost some 30 ms an input; this costs well under one.


def _chunk(rng):
    """Return a short random string, mostly made of characters that mean something to a parser."""
    if rng.random() < 0.2:
        return "".join(chr(rng.choice((rng.randrange(0x20, 0x7f), rng.randrange(0, 0x3000)))) for _ in range(
            rng.randrange(1, 4)))
    return "".join(rng.choice(SPICE) for _ in range(rng.randrange(1, 4)))


def _mutate(rng, text, edits):
    """Return `text` with `edits` random insertions, deletions and replacements."""
    for _ in range(edits):
        pos = rng.randrange(len(text) + 1)
        payload = _chunk(rng)
        kind = rng.randrange(3)
        if kind == 0:
            text = text[:pos] + payload + text[pos:]
        elif kind == 1:
            text = text[:pos] + text[pos + rng.randrange(1, 8):]
        else:
            text = text[:pos] + payload + text[pos + len(payload):]
    return text


def _damaged_lines(rng, pool, fields):
    """Return 1 to 12 lines from `pool`, each maybe with a field swapped for a token and some edits."""
    lines = []
    for _ in range(rng.randrange(1, 13)):
        line = rng.choice(pool)
        if rng.random() < 0.5:
            parts = line.split(" ")
            parts[rng.randrange(min(fields, len(parts)))] = rng.choice(TOKENS) if rng.random() < 0.7 else _chunk(rng)
            line = " ".join(parts)
        lines.append(_mutate(rng, line, rng.randrange(0, 4)))
    return "\n".join(lines)


def _mountinfo_text(rng):
    return _damaged_lines(rng, MOUNTINFO_LINES, 12)


def _fstab_text(rng):
    return _damaged_lines(rng, FSTAB_LINES, 6)


def _profile_text(rng):
    return _mutate(rng, rng.choice(PROFILE_TEXTS), rng.randrange(1, 7))


SCALARS = [None, True, False, 0, -1, 1, 493, 755, 1 << 40, -(1 << 40), 1.5, float("nan"), "", "/srv/x", "/srv/x/",
           "/", "srv", "/srv/../etc", "/etc/x", "0755", "755", "1777", "tmpfs", "bind", "overlay", "symlink", "ext4",
           "rbind", "ro", "size=1m", "ro,nosuid", "lowerdir=/a", "shared", "rshared", "private", "/srv/a,upperdir=/b",
           "x" * 256, "/srv/\udcff", "/srv/\ud800", "/srv/x\n", "/srv/\x00", "Web App", "corpus", "continue"]
ENTRY_KEYS = ["target", "type", "source", "recursive", "options", "propagation", "lower", "data", "upper", "work",
              "mkdir", "mode", "uid", "gid", "mimic", "on_busy", "source_namespace", "upper_policy"]
PATHS = ["/srv/a", "/srv/b", "/srv/a/b", "/srv/l1", "/srv/l2", "/srv/u", "/srv/w", "/mnt/x", "/tmp/t"]
GOOD = {
    "target": PATHS, "source": PATHS, "upper": PATHS, "work": PATHS,
    "type": ["tmpfs", "bind", "overlay", "symlink", "ext4", "proc"],
    "options": [["ro"], ["size=1m", "mode=0755"], ["nosuid", "noatime", "shared"], ["x-systemd.automount", "defaults"]],
    "lower": [["/srv/l1"], ["/srv/l1", "/srv/l2"]], "data": [["/srv/l2"]],
    "mode": ["0755", "1777", 0o700], "uid": [0, 1000], "gid": [0, 100], "mkdir": [True, False],
    "recursive": [True, False], "propagation": ["private", "shared", "slave", "unbindable"],
    "on_busy": ["fail", "detach"], "upper_policy": ["fresh", "carry"],
}


def _key(rng):
    """Return a mapping key: mostly text, sometimes what YAML also allows (7, true, null, 1.5)."""
    return rng.choice([7, True, None, 1.5]) if rng.random() < 0.2 else _chunk(rng)


def _value(rng, depth=0):
    """Return a random JSON-like value: a scalar, or (shallowly) a list or mapping of them."""
    roll = rng.random()
    if depth < 2 and roll < 0.15:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if depth < 2 and roll < 0.25:
        return {_key(rng): _value(rng, depth + 1) for _ in range(rng.randrange(3))}
    return rng.choice(SCALARS) if roll < 0.9 else _chunk(rng)


def _entry(rng):
    entry = {}
    for key in ENTRY_KEYS:
        if rng.random() < (0.8 if key in ("target", "type") else 0.25):
            good = GOOD.get(key)
            entry[key] = rng.choice(good) if good and rng.random() < 0.75 else _value(rng)
    if rng.random() < 0.05:
        entry[_key(rng)] = _value(rng)
    return entry


def _profile_data(rng):
    if rng.random() < 0.05:
        return _value(rng)
    data = {"name": rng.choice(["corpus", "web-app"]) if rng.random() < 0.8 else _value(rng),
            "mounts": [_entry(rng) for _ in range(rng.randrange(7))] if rng.random() < 0.95 else _value(rng)}
    for key, good in (("allowed_roots", [["/srv"], ["/srv", "/mnt"], ["/"]]), ("on_error", ["rollback", "continue"]),
                      ("description", ["x"])):
        if rng.random() < 0.2:
            data[key] = rng.choice(good) if rng.random() < 0.7 else _value(rng)
    for key in ("name", "mounts"):
        if rng.random() < 0.03:
            del data[key]
    if rng.random() < 0.05:
        data[_key(rng)] = _value(rng)
    return data


def _fuzz(tally, category, make, check):
    """Run `check` on EXAMPLES inputs built by `make(rng)`; record how many ran (and whether all passed)."""
    ran = [0]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
              suppress_health_check=list(HealthCheck))
    # A seed, not st.randoms(): every call on a hypothesis Random is a recorded
    # choice (about 25 ms an input here); a seeded random.Random costs nothing.
    @given(st.integers(0, (1 << 64) - 1))
    def target(seed):
        ran[0] += 1
        value = make(random.Random(seed))
        try:
            check(value)
        except BaseException:
            print("fuzz input: %r" % (value,))
            raise

    try:
        target()
    except BaseException as exc:
        tally.record(category, "%d examples" % ran[0], False, "%s: %s" % (type(exc).__name__, exc), count=ran[0])
        raise
    tally.record(category, "%d examples" % ran[0], True, count=ran[0])


def _check_mountinfo(text):
    try:
        table = mountinfo.parse_mountinfo(text)
    except ValueError:
        return
    points = {m.mount_point for m in table.mounts} | {"/"}
    for point in sorted(points)[:20]:
        table.top(point)
        table.stack(point)
        table.visible(point)
        table.submounts(point)
        try:
            table.bind_identity(point)
        except ValueError:
            pass  # "no mount of the table holds it": a clean refusal


def _check_fstab(text):
    try:
        lines = fstab.parse_fstab(text)
    except ValueError:
        return
    mounts, skipped = fstab.fstab_to_mounts(lines)
    assert len(mounts) + len(skipped) == len(lines)
    try:
        P.load_profile({"name": "fuzz", "mounts": mounts})
    except ProfileError:
        pass


def _accepted(profile):
    """Assert what every accepted profile promises: the minimal mapping and the state form give it back."""
    assert P.load_profile(P.profile_to_dict(profile)) == profile
    for entry in profile.entries:
        assert P.entry_from_dict(P.entry_to_dict(entry)) == entry


def _check_profile_text(text):
    try:
        profile = P.load_profile(P.load_profile_text(text, "fuzz.yaml"))
    except ProfileError:
        return
    _accepted(profile)


def _check_profile_data(data):
    try:
        profile = P.load_profile(data)
    except ProfileError:
        return
    _accepted(profile)


TARGETS = {
    "mountinfo": (_mountinfo_text, _check_mountinfo),
    "fstab": (_fstab_text, _check_fstab),
    "profile-text": (_profile_text, _check_profile_text),
    "profile-data": (_profile_data, _check_profile_data),
}


@pytest.mark.ns_timeout(TIMEOUT)
@pytest.mark.parametrize("name", list(TARGETS), ids=list(TARGETS))
def test_fuzz(tally, name):
    """Fuzzed input to one parser: only its clean error type (ValueError or ProfileError) may come out."""
    make, check = TARGETS[name]
    _fuzz(tally, "fuzz: %s" % name, make, check)
