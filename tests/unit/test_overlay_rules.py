"""overlay_rules.problems() on hand-built worlds, decode_fb on bytes the kernel wrote, observe() through FakeSys.

Each problems() case is a change (mount, or replace under an upper policy)
of the overlay /t (lower /l, upper /u, work /w), the directories as observe
would have seen them, and the live table; it asserts the exact fields
refused and a phrase of each message.
"""

import dataclasses

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import rules
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Action, Change, Entry, Owned
from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import parse_mountinfo
from ansible_collections.livemount.core.plugins.module_utils.livemount.world import World

from tests.unit.fakesys import FakeSys

# trusted.overlay.origin and WORK/index trusted.overlay.upper as Linux 6.18 wrote them on tmpfs (index=on),
# with the handles name_to_handle_at(2) and FS_IOC_GETFSUUID gave for the lower and upper roots.
UUID = bytes.fromhex("49096c5263af4a00814cf0e8db8ab000")
ORIGIN = bytes.fromhex("00fb21000149096c5263af4a00814cf0e8db8ab000896e776f0200000000000000")
LOWER = (1, bytes.fromhex("896e776f0200000000000000"), UUID)
OTHER_LOWER = (1, bytes.fromhex("11223344050000000000000000"), UUID)
UPPER_RECORD = bytes.fromhex("00fb21040149096c5263af4a00814cf0e8db8ab000329f86c90400000000000000")
UPPER = (1, bytes.fromhex("329f86c90400000000000000"), UUID)

ROOT = "1 0 0:20 / / rw - tmpfs tmpfs rw\n"


def overlay_line(mid, target, upper="/u", work="/w", dev="0:40", extra=""):
    """Return the mountinfo line of a live overlay."""
    return "%d 1 %s / %s rw - overlay overlay rw,lowerdir+=/l,upperdir=%s,workdir=%s%s\n" % (
        mid, dev, target, upper, work, extra)


def entry(*options, **kw):
    """Return the overlay entry /t (lower /l, upper /u, work /w) with fs `options` (key, value) pairs."""
    fields = dict(target="/t", type="overlay", lower=("/l",), upper="/u", work="/w", index=3,
                  fs_options=tuple(sorted(options)))
    fields.update(kw)
    return Entry(**fields)


def d(**kw):
    """Return an observed directory on mount 1, dev 0:20."""
    return rules.Dir(**dict(dict(kind="dir", mount_id=1, dev=(0, 20)), **kw))


CLEAN = {"/l": d(handle=LOWER), "/u": d(handle=UPPER), "/w": d()}


def world(dirs=None, lines="", defaults=None, leaving=()):
    """Return a World with the root tmpfs plus `lines`, and `dirs` over CLEAN."""
    table = parse_mountinfo(ROOT + lines)
    observed = rules.Observed(dirs=dict(CLEAN, **(dirs or {})), leaving=frozenset(leaving))
    return World(table=table, overlay_defaults=defaults or {}, overlay=observed)


def mount(e=None):
    """Return a mount of `e` (default entry())."""
    return Change(Action.MOUNT, e or entry(), "new entry")


def replace(old_line, e=None):
    """Return a replace of the overlay live as `old_line` (its table row) by `e`."""
    e = e or entry()
    live = parse_mountinfo(ROOT + old_line).top("/t")
    return Change(Action.REPLACE, e, "overlay layers changed", live=live, before=Owned(e))


def problems(change, w, policy=None):
    """Return [(field, message)] of overlay_rules.problems."""
    return rules.problems(change, w, policy)


VOLATILE_WORK = d(names=("work",), volatile=True)
CASES = [
    # (id, change, world, policy, expected [(field, phrase)])
    ("clean-mount", mount(), world(), None, []),
    ("no-observation-no-rules", mount(), World(table=parse_mountinfo(ROOT)), None, []),
    ("upper-missing", mount(), world({"/u": rules.Dir("missing")}), None,
     [("upper", "/u does not exist: overlayfs needs an existing directory")]),
    ("lower-is-a-file", mount(), world({"/l": rules.Dir("file")}), None,
     [("lower[0]", "/l is a regular file, not a directory")]),
    ("unknown-dirs-are-not-judged", mount(), world({"/u": rules.UNKNOWN, "/w": rules.UNKNOWN}), None, []),
    ("work-on-another-filesystem", mount(), world({"/w": d(mount_id=7, dev=(0, 33))}), None,
     [("work", "/w is on another filesystem (dev 0:33) than upper /u (dev 0:20): overlayfs needs both under the"
               " same mount")]),
    ("work-on-another-bind-of-the-same-filesystem", mount(), world({"/w": d(mount_id=7)}), None,
     [("work", "another mount of the same filesystem than upper /u")]),
    ("work-holds-foreign-files", mount(), world({"/w": d(names=("a.txt", "index", "notes", "work"))}), None,
     [("work", "/w holds files overlayfs did not put there (a.txt, notes): it must be empty or a work directory")]),
    ("work-holds-many-foreign-files", mount(), world({"/w": d(names=tuple("abcdefg"))}), None,
     [("work", "(a, b, c, d, e, and 2 more)")]),
    ("work-left-by-overlayfs-is-ours", mount(), world({"/w": d(names=("index", "work"))}), None, []),
    ("work-of-the-overlay-replaced-here-is-ours",
     replace(overlay_line(50, "/t"), entry(lower=("/l2",))),
     world({"/w": d(names=("junk",)), "/l2": d()}, overlay_line(50, "/t")), "carry", []),
    ("upper-of-an-overlay-live-elsewhere", mount(), world(lines=overlay_line(50, "/other", work="/w2")), None,
     [("upper", "/u is the upper of the overlay live at /other: two overlays on one upper or work directory are"
                " undefined behaviour")]),
    ("work-inside-the-work-of-an-overlay-live-elsewhere", mount(entry(work="/w2/x")),
     world({"/w2/x": d()}, overlay_line(50, "/other", upper="/u2", work="/w2")), None,
     [("work", "/w2/x lies inside the work of the overlay live at /other")]),
    ("overlay-live-elsewhere-that-the-plan-unmounts", mount(),
     world(lines=overlay_line(50, "/other"), leaving=["/other"]), None, []),
    ("bind-of-the-overlay-being-replaced", replace(overlay_line(50, "/t"), entry(lower=("/l2",))),
     world({"/l2": d()}, overlay_line(50, "/t") + overlay_line(51, "/t-copy")), "fresh", []),
    ("volatile-leftover", mount(), world({"/w": VOLATILE_WORK}), None,
     [("work", "/w holds work/incompat/volatile, left by an overlay mounted with volatile: overlayfs refuses to"
               " mount on it (EINVAL")]),
    ("volatile-leftover-moved-aside-by-fresh", replace(overlay_line(50, "/t", extra=",volatile"),
                                                     entry(lower=("/l2",))),
     world({"/w": VOLATILE_WORK, "/l2": d()}, overlay_line(50, "/t", extra=",volatile")), "fresh", []),
    ("volatile-overlay-cannot-carry", replace(overlay_line(50, "/t", extra=",volatile"), entry(lower=("/l2",))),
     world({"/w": VOLATILE_WORK, "/l2": d()}, overlay_line(50, "/t", extra=",volatile")), "carry",
     [("work", "so upper_policy carry cannot work; use upper_policy fresh")]),
    ("index-on-over-the-lower-it-knows", mount(entry(("index", "on"))), world({"/u": d(origin=ORIGIN)}), None, []),
    ("index-on-over-another-lower", mount(entry(("index", "on"))),
     world({"/u": d(origin=ORIGIN), "/l": d(handle=OTHER_LOWER)}), None,
     [("upper", "/u was used with index=on over another lower layer (its trusted.overlay.origin is not lower[0]"
                " /l): overlayfs would refuse the mount with ESTALE (\"failed to verify upper root origin\"); give"
                " the overlay a new empty upper and work, or set index=off")]),
    ("index-off-ignores-the-origin", mount(entry(("index", "off"))),
     world({"/u": d(origin=ORIGIN), "/l": d(handle=OTHER_LOWER)}, defaults={"index": "Y"}), None, []),
    ("index-on-by-module-default", mount(), world({"/u": d(origin=ORIGIN), "/l": d(handle=OTHER_LOWER)},
                                               defaults={"index": "Y"}), None, [("upper", "ESTALE")]),
    ("index-carry-over-another-lower", replace(overlay_line(50, "/t", extra=",index=on"),
                                               entry(("index", "on"), lower=("/l2",))),
     world({"/u": d(origin=ORIGIN), "/l2": d(handle=OTHER_LOWER)}, overlay_line(50, "/t", extra=",index=on")),
     "carry", [("upper", "use upper_policy fresh, or set index=off")]),
    ("index-fresh-upper-has-no-origin", replace(overlay_line(50, "/t", extra=",index=on"),
                                                entry(("index", "on"), lower=("/l2",))),
     world({"/u": d(origin=ORIGIN), "/w": d(names=("index", "work"), index_upper=UPPER_RECORD),
            "/l2": d(handle=OTHER_LOWER)}, overlay_line(50, "/t", extra=",index=on")), "fresh", []),
    ("index-same-fid-on-another-filesystem", mount(entry(("index", "on"))),
     world({"/u": d(origin=ORIGIN), "/l": d(handle=(1, LOWER[1], b"\x01" * 16))}), None, [("upper", "ESTALE")]),
    ("index-null-uuid-compares-the-fid-only", mount(entry(("index", "on"))),
     world({"/u": d(origin=ORIGIN[:5] + bytes(16) + ORIGIN[21:])}), None, []),
    ("index-unknown-handle-is-not-judged", mount(entry(("index", "on"))),
     world({"/u": d(origin=ORIGIN), "/l": d(handle=None)}), None, []),
    ("work-index-knows-this-upper", mount(entry(("index", "on"))),
     world({"/w": d(names=("index", "work"), index_upper=UPPER_RECORD)}), None, []),
    ("work-index-knows-another-upper", mount(entry(("index", "on"), upper="/u3")),
     world({"/u3": d(handle=(1, bytes(12), UUID)), "/w": d(names=("index", "work"), index_upper=UPPER_RECORD)}),
     None, [("work", "/w/index records another upper than /u3 (it was used with index=on with a different upper):"
                     " overlayfs would refuse the mount with ESTALE (\"failed to verify index dir 'upper' xattr\")")]),
    ("work-index-and-a-fresh-upper", replace(overlay_line(50, "/t", work="/w0", extra=",index=on"),
                                             entry(("index", "on"))),
     world({"/w": d(names=("index", "work"), index_upper=UPPER_RECORD)},
           overlay_line(50, "/t", work="/w0", extra=",index=on")), "fresh", [("work", "ESTALE")]),
]


@pytest.mark.parametrize("change, w, policy, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problems(change, w, policy, expected):
    """Each observed situation gives exactly the expected refusals, each message holding its phrase."""
    found = problems(change, w, policy)
    assert [f for f, _ in found] == [f for f, _ in expected], found
    for (_, message), (_, phrase) in zip(found, expected):
        assert phrase in message


def test_problems_only_judge_overlay_mounts():
    """A change of another type is not an overlay rule's business."""
    tmpfs = Change(Action.MOUNT, Entry(target="/t", type="tmpfs"), "new entry")
    assert problems(tmpfs, world({"/u": rules.Dir("missing")})) == []


# ---- struct ovl_fb ------------------------------------------------------------------------------

FB_CASES = [
    ("origin-from-the-kernel", ORIGIN, (1, UUID, LOWER[1])),
    ("index-upper-from-the-kernel", UPPER_RECORD, (1, UUID, UPPER[1])),
    ("empty-means-origin-unknown", b"", None),
    ("wrong-magic", b"\x00\xfa" + ORIGIN[2:], None),
    ("newer-version", b"\x01" + ORIGIN[1:], None),
    ("length-past-the-value", ORIGIN[:-1], None),
    ("too-short", ORIGIN[:20], None),
]


@pytest.mark.parametrize("raw, expected", [c[1:] for c in FB_CASES], ids=[c[0] for c in FB_CASES])
def test_decode_fb(raw, expected):
    """struct ovl_fb decodes to (type, uuid, fid); anything else is "unknown", never a guess."""
    assert rules.decode_fb(raw) == expected


MATCH_CASES = [
    ("same-directory", ORIGIN, LOWER, True),
    ("other-fid", ORIGIN, OTHER_LOWER, False),
    ("other-type", ORIGIN, (2, LOWER[1], UUID), False),
    ("filesystem-without-uuid", ORIGIN, (1, LOWER[1], None), True),
    ("no-handle", ORIGIN, None, None),
    ("unreadable-record", b"junk", LOWER, None),
]


@pytest.mark.parametrize("raw, handle, expected", [c[1:] for c in MATCH_CASES], ids=[c[0] for c in MATCH_CASES])
def test_handle_matches(raw, handle, expected):
    """A recorded handle matches, mismatches, or cannot be judged (None)."""
    assert rules.handle_matches(raw, handle) is expected


# ---- observe through FakeSys -------------------------------------------------------------------

def test_observe_reads_work_upper_and_top_lower():
    """observe() lists the work, sees a volatile leftover and the index record, reads origin and handles."""
    fs = FakeSys()
    for p in ("/l/x", "/l2", "/u", "/w/work/incompat/volatile", "/w/index", "/t"):
        fs.seed_dir(p)
    fs.seed_xattr("/u", rules.ORIGIN, ORIGIN)
    fs.seed_xattr("/w/index", rules.INDEX_UPPER, UPPER_RECORD)
    e = entry(lower=("/l", "/l2"))
    table = parse_mountinfo(fs.read_mountinfo())
    obs = rules.observe(fs, [e], (), table)
    work, upper, top, second = obs.dir("/w"), obs.dir("/u"), obs.dir("/l"), obs.dir("/l2")
    assert (work.kind, work.names, work.volatile, work.index_upper) == ("dir", ("index", "work"), True, UPPER_RECORD)
    assert (upper.origin, upper.handle is not None) == (ORIGIN, True)
    assert top.handle is not None and top.handle != upper.handle and second.handle is None
    assert work.mount_id == upper.mount_id == table.visible("/").mount_id


def test_observe_leaves_paths_this_plan_mounts_over_unknown():
    """A layer under a target the plan mounts first is judged by that mount's content: in a new tmpfs nothing is
    (missing, and where), in a bind what its source holds there, and a path another entry mounts on is made by the
    plan (not judged); owned overlays dropped are `leaving`."""
    fs = FakeSys()
    fs.seed_dir("/l")
    fs.seed_dir("/src/w")
    e = entry(upper="/data/u", work="/b/w")
    data, bound, inner = Entry(target="/data", type="tmpfs"), Entry(target="/b", type="bind", source="/src"), \
        Entry(target="/data/u/m", type="tmpfs")
    dropped = Owned(dataclasses.replace(entry(), target="/old"))
    obs = rules.observe(fs, [e, data, bound], [dropped], parse_mountinfo(fs.read_mountinfo()))
    assert obs.dir("/data/u") == rules.Dir("missing", below="/data") and obs.dir("/b/w") is rules.UNKNOWN
    assert obs.dir("/l").kind == "dir" and obs.leaving == frozenset({"/old"})
    obs = rules.observe(fs, [e, data, bound, inner], [dropped], parse_mountinfo(fs.read_mountinfo()))
    assert obs.dir("/data/u") is rules.UNKNOWN


def test_observe_missing_upper():
    """A missing upper is observed as missing, and problems() names it."""
    fs = FakeSys()
    fs.seed_dir("/l")
    fs.seed_dir("/w")
    obs = rules.observe(fs, [entry()], (), parse_mountinfo(fs.read_mountinfo()))
    w = World(table=parse_mountinfo(fs.read_mountinfo()), overlay=obs)
    assert problems(mount(), w) == [("upper", "/u does not exist: overlayfs needs an existing directory")]
