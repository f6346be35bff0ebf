"""Profiles: the overlay layouts refused before any filesystem is looked at (overlay_rules.layout_problems).

Each case is one overlay entry at /t; the problems load_profile raises are
compared as (field, text shown) pairs, so the entry, the field path
(`lower[1]`) and the message are all pinned.
"""

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as P
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ProfileError

ELOOP_TWICE = 'overlayfs refuses a layer given twice ("conflicting lowerdir path", ELOOP)'
ELOOP_OVERLAP = 'overlayfs refuses overlapping layers ("overlapping lowerdir path", ELOOP)'


def overlay(target="/t", lower=("/l", "/l2"), upper=None, work=None, **extra):
    """Return an overlay entry mapping."""
    e = dict(target=target, type="overlay", lower=list(lower), **extra)
    if upper:
        e.update(upper=upper, work=work)
    return e


def problems(*mounts):
    """Return [(field, text)] of the ProfileError for a profile of `mounts` ([] when it loads)."""
    try:
        P.load_profile({"name": "t", "mounts": list(mounts)})
    except ProfileError as exc:
        return [(p[2], p[3]) for p in exc.problems]
    return []


CASES = [
    ("separate-layers-load", overlay(lower=["/l1", "/l2"], data=["/d"], upper="/u", work="/w"), []),
    ("target-inside-a-lower-is-fine", overlay(target="/l/root", lower=["/l"], upper="/u", work="/w"), []),
    ("sibling-prefix-is-not-inside", overlay(lower=["/l", "/l-2"], upper="/u", work="/u-w"), []),
    ("one-lower-and-a-data-layer-load", overlay(lower=["/l"], data=["/d"]), []),
    ("one-lower-with-an-upper-loads", overlay(lower=["/l"], upper="/u", work="/w"), []),
    # Found by tests/integration/test_overlay_transitions.py: the kernel refused it at apply time (EINVAL).
    ("one-layer-read-only", overlay(lower=["/l"]),
     [("lower", "entry 0 (/t): lower: one layer and no upper: overlayfs refuses a read-only overlay of a single"
                " layer (EINVAL, \"at least 2 lowerdir are needed while upperdir nonexistent\"); bind the directory"
                " read-only instead (a bind entry with ro), or give the overlay an upper and work")]),
    ("lower-given-twice", overlay(lower=["/l", "/l"]),
     [("lower", "entry 0 (/t): lower[1]: is the same directory as lower[0]: " + ELOOP_TWICE)]),
    ("lower-inside-lower", overlay(lower=["/l", "/l/sub"]),
     [("lower", "entry 0 (/t): lower[1]: /l/sub lies inside lower[0] (/l): " + ELOOP_OVERLAP)]),
    ("lower-contains-lower", overlay(lower=["/l/sub", "/l"]),
     [("lower", "entry 0 (/t): lower[1]: /l contains lower[0] (/l/sub): " + ELOOP_OVERLAP)]),
    ("data-equals-lower", overlay(lower=["/l"], data=["/l"]),
     [("data", "entry 0 (/t): data[0]: is the same directory as lower[0]: " + ELOOP_TWICE)]),
    ("data-inside-data", overlay(lower=["/l"], data=["/d", "/d/x"]),
     [("data", "entry 0 (/t): data[1]: /d/x lies inside data[0] (/d): " + ELOOP_OVERLAP)]),
    ("upper-equals-lower", overlay(lower=["/u"], upper="/u", work="/w"),
     [("upper", "entry 0 (/t): upper: is the same directory as lower[0]: " + ELOOP_TWICE)]),
    ("upper-contains-lower", overlay(lower=["/u/l"], upper="/u", work="/w"),
     [("upper", "entry 0 (/t): upper: /u contains lower[0] (/u/l): " + ELOOP_OVERLAP)]),
    ("work-contains-lower", overlay(lower=["/w/l"], upper="/u", work="/w"),
     [("work", "entry 0 (/t): work: /w contains lower[0] (/w/l): " + ELOOP_OVERLAP)]),
    ("upper-inside-lower", overlay(lower=["/l"], upper="/l/u", work="/w"),
     [("upper", "entry 0 (/t): upper: /l/u lies inside lower[0] (/l): overlayfs mounts it, but every write through"
                " the overlay would change that lower layer while it is mounted (undefined behaviour,"
                " Documentation/filesystems/overlayfs.rst)")]),
    ("work-inside-data", overlay(lower=["/l"], data=["/d"], upper="/u", work="/d/w"),
     [("work", "entry 0 (/t): work: /d/w lies inside data[0] (/d): overlayfs mounts it, but overlayfs's scratch"
               " files would appear in that lower layer while it is mounted (undefined behaviour,"
               " Documentation/filesystems/overlayfs.rst)")]),
    ("lower-is-the-target", overlay(target="/srv/usr", lower=["/srv/usr", "/l2"]),
     [("lower", "entry 0 (/srv/usr): lower[0]: is the target itself: the layer would show the target's old content"
                " only until the overlay is mounted over it, and from then on that path is the overlay (a later"
                " replace would stack the overlay on itself); bind the directory elsewhere first (a bind entry)"
                " and name that as the layer")]),
    ("lower-inside-the-target", overlay(lower=["/t/l", "/l2"]),
     [("lower", "entry 0 (/t): lower[0]: /t/l lies inside the target (/t): once the overlay is mounted there the"
                " path shows the overlay, not the directory")]),
    ("work-is-the-target", overlay(upper="/u", work="/t"),
     [("work", "entry 0 (/t): work: is the target itself: once the overlay is mounted there the path shows the"
               " overlay, not the directory; work must lie outside the merged tree")]),
    ("upper-contains-the-target", overlay(target="/u/t", upper="/u", work="/w"),
     [("upper", "entry 0 (/u/t): upper: /u contains the target (/u/t): the overlay would be mounted inside its own"
                " writable directory")]),
    ("work-contains-the-target", overlay(target="/w/t", upper="/u", work="/w"),
     [("work", "entry 0 (/w/t): work: /w contains the target (/w/t): the overlay would be mounted inside its own"
               " work directory")]),
    ("work-inside-upper-keeps-its-own-message", overlay(upper="/u", work="/u/w"),
     [("work", "entry 0 (/t): work: must be a separate directory tree from upper (/u)")]),
]


@pytest.mark.parametrize("entry, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layout(entry, expected):
    """One overlay entry's layout gives exactly these problems (field and full text)."""
    assert problems(entry) == expected


SHARED = [
    ("own-upper-and-work-each", [overlay("/a", upper="/u1", work="/w1"), overlay("/b", upper="/u2", work="/w2")], []),
    ("read-only-overlays-share-lowers", [overlay("/a"), overlay("/b")], []),
    ("same-upper", [overlay("/a", upper="/u", work="/w1"), overlay("/b", upper="/u", work="/w2")],
     [("upper", "entry 1 (/b): upper: /u is the upper of entry 0 (/a): two overlays on one upper or work directory"
                " are undefined behaviour; give each overlay its own")]),
    ("work-is-the-other-upper", [overlay("/a", upper="/u", work="/w"), overlay("/b", upper="/u2", work="/u")],
     [("work", "entry 1 (/b): work: /u is the upper of entry 0 (/a): two overlays on one upper or work directory"
               " are undefined behaviour; give each overlay its own")]),
    ("upper-inside-the-other-work", [overlay("/a", upper="/u", work="/w"), overlay("/b", upper="/w/u", work="/w2")],
     [("upper", "entry 1 (/b): upper: /w/u lies inside the work of entry 0 (/a): two overlays on one upper or work"
                " directory are undefined behaviour; give each overlay its own")]),
]


@pytest.mark.parametrize("mounts, expected", [c[1:] for c in SHARED], ids=[c[0] for c in SHARED])
def test_shared_upper_or_work(mounts, expected):
    """Two overlay entries never share (or nest) an upper or work directory."""
    assert problems(*mounts) == expected


def _shared_oracle(entries):
    """Return shared_problems' answer the pairwise way: each upper/work against every earlier one, first hit wins."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay.rules import _relation

    seen, out = [], []
    for e in entries:
        for field in ("upper", "work"):
            hit = next(((o, f, _relation(getattr(e, field), p)) for o, f, p in seen
                        if _relation(getattr(e, field), p)), None)
            if hit:
                out.append((e.index, field, hit[0].index, hit[1], hit[2]))
        seen.extend((e, f, getattr(e, f)) for f in ("upper", "work"))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_shared_problems_find_the_first_earlier_overlap(seed):
    """Among random nested uppers and works, each is matched with the first earlier one it overlaps, as pairwise."""
    import random

    from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Entry
    from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay.rules import shared_problems

    rnd = random.Random(seed)
    pick = ["/d", "/d/a", "/d/a/b", "/d/b", "/e", "/e/a", "/d/ab"]
    entries = [Entry(index=i, target="/t%d" % i, type="overlay", lower=("/l",), upper=rnd.choice(pick),
                     work=rnd.choice(pick)) for i in range(6)]
    got = [(i, f, msg.split(" the ")[1].split(" of entry ")[0], int(msg.split(" of entry ")[1].split(" ")[0]))
           for i, f, msg in shared_problems(entries)]
    assert got == [(i, f, of, oi) for i, f, oi, of, _ in _shared_oracle(entries)]


def test_every_layout_problem_is_reported_at_once():
    """Several layout problems of one entry come together, each naming its field, and no Entry is made."""
    found = problems(overlay(lower=["/t", "/x", "/x"], upper="/x/u", work="/w"))
    assert [f for f, _ in found] == ["lower", "lower", "upper", "upper"]
