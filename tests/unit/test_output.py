"""The CLI's rendering (cli/output.py, cli/describe.py) at pinned widths, against golden files.

Reports come from the real engine run on the fake Sys, so the tables show
what a user would see; the golden files under tests/fixtures/cli/ are plain
text (NO_COLOR). Regenerate them after an intended change with
LIVEMOUNT_UPDATE_GOLDEN=1 and read the diff.
"""

import argparse
import datetime
import errno
import json
import os
import re
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import (ApplyError, PlanError,
                                                                                      ProfileError, UndoError)
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Action, Change, Owned
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.locate import locate
from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import parse_mountinfo
from livemount_cli import describe, output
from livemount_cli.cmd_show import select

# A foreign tmpfs on /a, as the planner attaches it to a conflict (plan hints depend on it).
_FOREIGN = parse_mountinfo("30 1 0:50 / /a rw,relatime - tmpfs x rw\n").mounts[0]

from tests.unit.planner_world import bind, entry, fake_host, fast_tmpdir, overlay, symlink, tmpfs

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "cli")
UPDATE = bool(os.environ.get("LIVEMOUNT_UPDATE_GOLDEN"))

FIRST = {"name": "web", "mounts": [bind("/srv/a", "/data/app", "ro", "nosuid"), tmpfs("/data/cache", "size=16m"),
                                   overlay("/data/root", ["/ovl/l1", "/ovl/l2"], "/ovl/u", "/ovl/w"),
                                   symlink("/data/tool", "/srv/conf")]}
# The second version: the bind loses ro and gains nodev, the cache grows, the overlay goes, the link moves.
SECOND = {"name": "web", "mounts": [bind("/srv/a", "/data/app", "nosuid", "nodev"), tmpfs("/data/cache", "size=32m"),
                                    symlink("/data/tool", "/srv/a/file")]}


def golden(name, text):
    """Assert `text` equals tests/fixtures/cli/<name> (or write it with LIVEMOUNT_UPDATE_GOLDEN=1)."""
    path = os.path.join(GOLDEN, name)
    if UPDATE:
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    with open(path, encoding="utf-8") as f:
        assert text == f.read(), "%s differs; LIVEMOUNT_UPDATE_GOLDEN=1 rewrites it" % name


@pytest.fixture
def render(monkeypatch, capsys):
    """Return render(fn, columns=80) -> (stdout, stderr) of fn(Output) at a pinned width, no colour."""

    def run(fn, columns=80, relative_to=None, quiet=False):
        monkeypatch.setenv("COLUMNS", str(columns))
        monkeypatch.setenv("NO_COLOR", "1")
        capsys.readouterr()
        out = output.Output(argparse.Namespace(color=None, quiet=quiet, verbose=0), relative_to=relative_to)
        fn(out)
        return capsys.readouterr()

    return run


@pytest.fixture
def world():
    """Return (fake Sys, state root) with FIRST applied; the root is removed afterwards."""
    fake, root = fake_host(), fast_tmpdir()
    engine.reconcile(load_profile(FIRST), fake, root=root)
    yield fake, root
    shutil.rmtree(root)


def _plan(fake, root, data):
    return engine.reconcile(load_profile(data), fake, root=root, check=True)


# ---- whole renderings against golden files ---------------------------------------------

@pytest.mark.parametrize("columns", [80, 120], ids=["80-columns", "120-columns"])
def test_plan_of_a_new_profile(render, columns):
    """A first plan: directories, mounts and a link, grouped by action, each saying what it will be."""
    fake, root = fake_host(), fast_tmpdir()
    try:
        text = render(lambda out: out.plan(_plan(fake, root, FIRST)), columns).out
    finally:
        shutil.rmtree(root)
    golden("plan-new-%d.txt" % columns, text)
    assert max(len(line) for line in text.splitlines()) <= columns


@pytest.mark.parametrize("columns", [60, 80, 120], ids=["60-columns", "80-columns", "120-columns"])
def test_plan_of_a_changed_profile_with_drift(render, world, columns):
    """Profile changed and drift by hand: remounts show +/- options, the overlay's unmount, the link's replace."""
    fake, root = world
    fake.setattr("/data/app", frozenset({"nosuid", "noexec"}))  # someone made it rw and noexec by hand
    text = render(lambda out: out.plan(_plan(fake, root, SECOND)), columns).out
    golden("plan-changed-%d.txt" % columns, text)
    assert max(len(line) for line in text.splitlines()) <= columns


def test_plan_refused_shows_conflicts_first(render, world):
    """A foreign mount on top of ours: the conflict row comes first and the summary says the plan is refused."""
    fake, root = world
    fake.seed_mount("tmpfs", "/data/cache", source="intruder")
    with pytest.raises(PlanError) as info:
        _plan(fake, root, SECOND)
    text = render(lambda out: out.plan(info.value.report), 80).out
    golden("plan-conflict-80.txt", text)
    rows = [line for line in text.splitlines() if line.startswith("│ ") and line[2:3].strip()]
    assert rows[0].split()[1] == "conflict"
    assert "Refused: 1 conflict stops the plan" in " ".join(text.split())


def test_status_and_show(render, world):
    """status after drift and a removed link; show --tree marks ownership, covered mounts and overlay layers."""
    fake, root = world
    fake.umount("/data/cache")
    fake.setattr("/data/app", frozenset({"nosuid"}))
    rows = engine.status(fake, root=root)
    rows[0]["applied_at"] = "2030-01-01T00:00:00+00:00"  # ages are tested below, not here
    text = render(lambda out: out.status(rows), 80).out
    golden("status-80.txt", text.replace(describe.age(rows[0]["applied_at"]), "AGE"))
    from ansible_collections.livemount.core.plugins.module_utils.livemount import inventory
    fake.seed_mount("tmpfs", "/data/app", source="ontop")
    _, mounts = inventory.read(fake, root)
    assert list(inventory.stream(fake, root)) == mounts  # show --json's rows, made one at a time
    assert any(not m["visible"] for m in mounts) and any(m["owner"] for m in mounts)
    for tree, columns in ((True, 80), (False, 80), (True, 60)):
        text = render(lambda out: out.mounts(mounts, tree=tree), columns).out
        golden("show-%s-%d.txt" % ("tree" if tree else "table", columns), text)
        assert max(len(line) for line in text.splitlines()) <= columns


STATUS_ROWS = [
    ("none", [], "No profile has state in this namespace.", ""),
    ("interrupted", [{"profile": "web", "namespace": "mnt:[1]", "applied_at": None, "interrupted": True,
                      "entries": []}], "web: owns nothing", "warning: profile web: an apply was interrupted"),
]


@pytest.mark.parametrize("rows, out, err", [r[1:] for r in STATUS_ROWS], ids=[r[0] for r in STATUS_ROWS])
def test_status_edges(render, rows, out, err):
    """status with no profile says so; an interrupted apply is a warning on stderr naming the profile."""
    got = render(lambda o: o.status(rows), 100)
    assert out in got.out and err in got.err
    assert ("applied never" in got.out) == bool(rows)


def _busy_error():
    exc = ApplyError("cannot apply step 2 of 3 (unmount /data/app): target is busy; rolled back 1 operation(s), "
                     "nothing changed", step="step 2 of 3 (unmount /data/app)", errno=errno.EBUSY,
                     rolled_back=["remount /data/cache as it was"])
    exc.busy = [{"pid": 4242, "comm": "bash", "how": "cwd", "path": "/data/app"},
                {"pid": 7, "comm": "tail", "how": "open file", "path": "/data/app/log"}]
    return exc


FAILURES = [
    ("apply-busy", _busy_error),
    ("undo", lambda: UndoError("cannot apply step 1 of 1 (mount /x): input/output error; ROLLBACK FAILED: cannot "
                               "remove /x: busy", step="step 1 of 1 (mount /x)", errno=errno.EIO,
                               undo_failures=["cannot remove /x: busy"], left=["cannot remove /x: busy"])),
    ("profile", lambda: ProfileError([(0, "/a", "type", "entry 0 (/a): type: is required"),
                                      (1, "/b", "source", "entry 1 (/b): source: is required for type bind")])),
    ("plan", lambda: PlanError("cannot apply profile web: cannot manage /a: a mount not owned by livemount is on "
                               "top (tmpfs x)", [Change(Action.CONFLICT, entry(tmpfs("/a")), "cannot manage /a: x", live=_FOREIGN),
                                                 Change(Action.CONFLICT, entry(tmpfs("/b")), "cannot manage /b: y")])),
]


@pytest.mark.parametrize("make", [f[1] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_failure(render, make):
    """Each error kind prints one `error:` sentence, what it carries (step, errno, rollback, busy...) and a hint."""
    name = [f[0] for f in FAILURES if f[1] is make][0]
    err = render(lambda out: out.failure(make()), 100).err
    golden("failure-%s.txt" % name, err)
    assert err.startswith("error: cannot ") or err.startswith("error: invalid profile")
    assert "\nhint: " in err and "Traceback" not in err


def test_applied_summary(render, world):
    """After an apply: what was done, kept, skipped and failed, on stderr."""
    fake, root = world
    report = engine.reconcile(load_profile(SECOND), fake, root=root)
    report.skipped = [(report.changes[0], "skipped: /x failed")]
    err = render(lambda out: out.applied(report, 1.25), 80).err
    assert re.search(r"Applied: \d+ done, \d+ kept, 1 skipped \(web in mnt:\[\d+\], 1\.2 s\)", " ".join(err.split()))


def test_quiet_apply_says_nothing(render, world):
    """-q: a successful apply prints no progress and no summary."""
    fake, root = world
    report = engine.reconcile(load_profile(SECOND), fake, root=root)
    assert render(lambda out: (out.progress(1, 1, report.changes[0]), out.applied(report, 0.1)), quiet=True).err == ""


def test_demo_paths_relative_to_its_root(render):
    """With relative_to, every path below the root is shown as if the root were /."""
    fake, root = fake_host(), fast_tmpdir()
    try:
        text = render(lambda out: out.plan(_plan(fake, root, FIRST)), 80, relative_to="/data").out
    finally:
        shutil.rmtree(root)
    assert "/data/" not in text and "│ /app " in text.replace("  ", " ")


def test_problems(render):
    """validate's problems read file:line: $.path: message."""
    text = render(lambda out: out.problems("p.yaml", [{"line": 4, "path": "$.mounts[0].mode", "detail": "bad"},
                                                      {"line": None, "path": "$", "detail": "unreadable"}])).out
    assert text.splitlines() == ["p.yaml:4: $.mounts[0].mode: bad", "p.yaml: $: unreadable"]


# ---- what a row says --------------------------------------------------------------------

def _remount(want, have_flags, old=None, propagation="private"):
    from ansible_collections.livemount.core.plugins.module_utils.livemount.model import LiveMount

    live = LiveMount(1, 0, (0, 1), "/", want.target, frozenset(have_flags), propagation, None, None, want.type,
                     want.type, ())
    return Change(Action.REMOUNT, want, "r", before=Owned(old or want), live=live)


CHANGES = [
    ("mount-bind", Change(Action.MOUNT, entry(bind("/s", "/t", "ro")), "new entry"), "+bind /s ro"),
    ("mount-rbind", Change(Action.MOUNT, entry(bind("/s", "/t", recursive=True)), "new entry"), "+rbind /s"),
    ("mount-overlay", Change(Action.MOUNT, entry(overlay("/t", ["/l1", "/l2"], "/u", "/w")), "new entry"),
     "+overlay /l1:/l2 upper /u"),
    ("link", Change(Action.LINK, entry(symlink("/t", "../x")), "new entry"), "+-> ../x"),
    ("mkdir-file", Change(Action.MKDIR, entry(bind("/s", "/t")), "create missing mount point", path="/t",
                          file_point=True), "+file"),
    ("unmount", Change(Action.UNMOUNT, entry(tmpfs("/t", "size=1m")), "removed from profile",
                       before=Owned(entry(tmpfs("/t", "size=1m")))), "-tmpfs size=1m"),
    ("replace", Change(Action.REPLACE, entry(bind("/b", "/t")), "source /a -> /b", before=Owned(entry(bind("/a", "/t")))),
     "-bind /a -> +bind /b"),
    ("replace-link", Change(Action.REPLACE, entry(symlink("/t", "/b")), "link /a -> /b",
                            before=Owned(entry(symlink("/t", "/a")))), "-> -/a -> +/b"),
    ("remount-ro", _remount(entry(bind("/s", "/t", "ro")), ()), "+rw -> ro"),
    ("remount-flags", _remount(entry(bind("/s", "/t", "nodev")), ("noexec",)), "++nodev --noexec"),
    ("remount-size", _remount(entry(tmpfs("/t", "size=2m")), (), entry(tmpfs("/t", "size=1m"))),
     "--size=1m ++size=2m"),
    ("remount-propagation", _remount(entry(tmpfs("/t", "shared")), ()), "+propagation private -> shared"),
    ("keep", Change(Action.KEEP, entry(tmpfs("/t")), "up to date"), "=tmpfs"),
]


@pytest.mark.parametrize("change, expected", [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_change_parts(change, expected):
    """The change cell: what is added (+), removed (-) or kept (=), options as the profile wrote them."""
    assert "".join(tone + text if tone else text for text, tone in describe.change_parts(change)) \
        .replace(" +", " +").replace("  ", " ") == expected


REASONS = [
    ("new", Change(Action.MOUNT, entry(tmpfs("/t")), "new entry"), ("new entry", "")),
    ("drift-mount", Change(Action.MOUNT, entry(tmpfs("/t")), "recorded but not mounted (drift)"),
     ("drift", "recorded but not mounted")),
    ("removed", Change(Action.UNMOUNT, entry(tmpfs("/t")), "removed from profile; already not mounted"),
     ("removed entry", "already not mounted")),
    ("conflict", Change(Action.CONFLICT, entry(tmpfs("/t")), "cannot manage /t: a foreign mount is on top"),
     ("conflict", "a foreign mount is on top")),
    ("adopted", Change(Action.KEEP, entry(tmpfs("/t")), "already mounted exactly as desired: adopted", adopt=True),
     ("adopted", "already mounted exactly as desired")),
    ("parent", Change(Action.MOUNT, entry(tmpfs("/t/x")), "parent /t is rebuilt: child redone"),
     ("parent rebuilt", "/t")),
    ("mkdir", Change(Action.MKDIR, entry(tmpfs("/t/x")), "create missing parent", path="/t"), ("parent", "")),
    ("rmdir", Change(Action.RMDIR, None, "created by livemount, no longer needed", path="/t"), ("cleanup", "")),
    ("replace", Change(Action.REPLACE, entry(tmpfs("/t")), "type ext4 -> tmpfs"), ("profile changed", "")),
    ("replace-overlay", Change(Action.REPLACE, entry(tmpfs("/t")), "overlay layers changed"),
     ("profile changed", "")),  # the change cell lists the layers
    ("replace-overlay-options", Change(Action.REPLACE, entry(tmpfs("/t")), "overlay options changed (a remount cannot"
                                       " apply them); swapped in atomically: processes inside keep their view"),
     ("profile changed", "overlay options changed")),
    ("rmdir-in-unmounted", Change(Action.RMDIR, None, "created inside /a, which is unmounted", path="/a/b"),
     ("cleanup", "")),
    ("rmdir-in-replaced", Change(Action.RMDIR, None, "created inside /a, which is replaced", path="/a/b"),
     ("parent rebuilt", "/a")),
]


@pytest.mark.parametrize("change, expected", [r[1:] for r in REASONS], ids=[r[0] for r in REASONS])
def test_reason_kind(change, expected):
    """Every reason falls in one of a few kinds; the detail keeps only what the kind does not say."""
    assert describe.reason_kind(change) == expected


NOW = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
AGES = [("seconds", "2030-01-02T03:04:00+00:00", "just now"), ("minute", "2030-01-02T03:03:00+00:00", "1 minute ago"),
        ("hours", "2030-01-02T00:04:05+00:00", "3 hours ago"), ("days", "2029-12-30T03:04:05+00:00", "3 days ago"),
        ("future", "2030-01-03T00:00:00+00:00", "in the future"), ("garbage", "yesterday", "unknown time")]


@pytest.mark.parametrize("iso, expected", [a[1:] for a in AGES], ids=[a[0] for a in AGES])
def test_age(iso, expected):
    """status says how long ago the last apply was."""
    assert describe.age(iso, NOW) == expected


def _m(mid, parent, target, fstype="tmpfs", **kw):
    d = {"mount_id": mid, "parent_id": parent, "target": target, "fstype": fstype, "lower": [], "data": [],
         "upper": None, "work": None, "visible": True, "owner": None}
    d.update(kw)
    return d


TABLE = [_m(1, 0, "/"), _m(2, 1, "/a"), _m(3, 2, "/a/b", "overlay", lower=["/l"], upper="/u", work="/w"),
         _m(4, 3, "/a/b/c"), _m(5, 1, "/z", owner="web")]


def test_mount_lines_tree():
    """The tree: findmnt-like guides, overlay layers indented under their mount, children after them."""
    lines = ["%s%s" % (g, layer[0] + " " + layer[1] if layer else m["target"])
             for g, m, layer in describe.mount_lines(TABLE, tree=True)]
    assert lines == ["/", "├─/a", "│ └─/a/b", "│   │ lower /l", "│   │ upper /u", "│   │ work /w",
                     "│   └─/a/b/c", "└─/z"]


SELECTS = [
    ("path-mount-point", dict(path="/a"), ["/a", "/a/b", "/a/b/c"]),
    ("path-inside", dict(path="/a/b/c/d"), ["/a/b/c"]),
    ("path-not-prefix", dict(path="/a/b/"), ["/a/b", "/a/b/c"]),
    ("type", dict(types="overlay"), ["/a/b"]),
    ("types", dict(types="overlay, tmpfs"), ["/", "/a", "/a/b", "/a/b/c", "/z"]),
    ("profile", dict(profile="web"), ["/z"]),
    ("nothing", dict(profile="nobody"), []),
]


@pytest.mark.parametrize("kw, expected", [s[1:] for s in SELECTS], ids=[s[0] for s in SELECTS])
def test_show_select(kw, expected):
    """show's filters: PATH (at or below it, or the mount holding it), --type, --profile."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import paths

    assert [m["target"] for m in select(TABLE, paths=paths, **kw)] == expected


YAML = """\
name: web
mounts:
  - target: /srv/a
    type: tmpfs
    options: [size=1m, "ro,nosuid"]
  - {target: /srv/b, type: bind}
"""
LOCATE = [
    ("nested-list", (0, "/srv/a", "options", "entry 0 (/srv/a): options[1]: one per item"),
     ("$.mounts[0].options[1]", 5, "one per item")),
    ("flow-missing-field", (1, "/srv/b", "source", "entry 1 (/srv/b): source: is required for type bind"),
     ("$.mounts[1].source", 6, "is required for type bind")),
    ("profile-field", (None, None, "name", "profile: name: bad name"), ("$.name", 1, "bad name")),
    ("unknown-field", (0, "/srv/a", "sise", "entry 0 (/srv/a): sise: unknown field"),
     ("$.mounts[0].sise", 3, "unknown field")),
    ("syntax", (None, None, None, "cannot read profile p.yaml: invalid YAML at line 7, column 2: oops"),
     ("$", 7, "cannot read profile p.yaml: invalid YAML at line 7, column 2: oops")),
]


@pytest.mark.parametrize("problem, expected", [x[1:] for x in LOCATE], ids=[x[0] for x in LOCATE])
def test_validate_locates_problems(problem, expected):
    """A problem gets its JSON path and the line of the nearest node there (a missing field: its entry's line)."""
    got = locate([problem], YAML)[0]
    assert (got["path"], got["line"], got["detail"]) == expected
    assert {k: got[k] for k in ("index", "target", "field", "message")} == dict(zip(
        ("index", "target", "field", "message"), problem))


def test_busy_and_errno_text():
    """Busy holders from the engine read as `pid N (cmd): key value`; errnos by name and text."""
    assert describe.busy_text({"pid": 1, "comm": "sh", "how": "cwd", "path": "/x"}) == "pid 1 (sh): cwd /x"
    assert describe.busy_text({"pid": 1, "comm": "sh", "how": "mmap", "path": "/x", "fd": 3}) == "pid 1 (sh): mmap /x, fd 3"
    assert describe.busy_text("held") == "held"
    assert describe.errno_text(errno.EBUSY) == "EBUSY (Device or resource busy)"
    assert describe.errno_text(None) == ""


OVERLAY_ITEMS = [
    {"path": "/etc", "kind": "modified", "type": "dir", "detail": "mode 0755 -> 0700", "changed": ["mode"]},
    {"path": "/etc/app.conf", "kind": "metacopy", "type": "file", "detail": "metadata only: mode 0644 -> 0600"},
    {"path": "/srv/new", "kind": "added", "type": "dir", "detail": "", "count": 3},
    {"path": "/var/lib/old", "kind": "deleted", "type": "file", "detail": ""},
]


def test_overlay_changes_tree(render):
    """overlay changes --tree: one node per path component, changes labelled with their kind, folded counts kept."""
    out, _ = render(lambda o: o.overlay_changes("/srv/app", OVERLAY_ITEMS, tree=True))
    lines = out.splitlines()
    assert lines[0] == "Changes in overlay /srv/app"
    assert any(re.search(r"[├└]── etc/ modified \(mode 0755 -> 0700\)$", ln) for ln in lines)
    assert any(re.search(r"│   └── app\.conf metacopy \(metadata only: mode 0644 -> 0600\)$", ln) for ln in lines)
    assert any(re.search(r"[├└]── srv/$", ln) for ln in lines), "a parent with no change of its own"
    assert any(re.search(r"└── new/ added \(and 3 inside\)$", ln) for ln in lines)
    assert any(re.search(r"└── lib/$", ln) for ln in lines) and any(ln.endswith("old deleted") for ln in lines)
    assert lines[-1] == "4 added, 1 modified, 1 metacopy, 1 deleted"  # the 3 folded inside count


JSON_ITEMS = [
    ("rows-with-nesting", {"namespace": "mnt:[1]"},
     [{"a": 1, "b": {"x": [1, 2]}, "c": [], "d": {}}, {"z": "q\n", "y": None}]),
    ("no-rows-keys-after", {"namespace": "n", "zz": [1, {"k": []}]}, []),
    ("empty-row", {}, [{}]),
    ("more-than-a-batch", {"namespace": "n"}, [{"i": i, "l": [i] * (i % 3)} for i in range(600)]),
]


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
@pytest.mark.parametrize("doc, items", [c[1:] for c in JSON_ITEMS], ids=[c[0] for c in JSON_ITEMS])
def test_json_items_prints_what_json_prints(capsys, doc, items, terminal):
    """Items encoded one by one give json()'s very text: indented on a terminal, one line to a pipe."""
    out = output.Output(argparse.Namespace())
    out.out.is_terminal = terminal
    assert out.json_items(doc, "mounts", iter(items)) == len(items)
    streamed = capsys.readouterr().out
    out.json(dict(doc, mounts=items))
    assert streamed == capsys.readouterr().out
    assert (streamed.count("\n") > 1) == terminal


@pytest.mark.parametrize("doc, items", [c[1:] for c in JSON_ITEMS], ids=[c[0] for c in JSON_ITEMS])
def test_json_items_given_as_text_print_what_json_prints(capsys, doc, items):
    """Items given as their JSON text (json.dumps, sorted keys) print json()'s very line to a pipe."""
    out = output.Output(argparse.Namespace())
    out.out.is_terminal = False
    assert out.json_one_line
    texts = (json.dumps(item, sort_keys=True) for item in items)
    assert out.json_items(doc, "mounts", texts, encoded=True) == len(items)
    streamed = capsys.readouterr().out
    out.json(dict(doc, mounts=items))
    assert streamed == capsys.readouterr().out


def test_json_items_given_as_text_are_not_indented():
    """On a terminal json() indents: items already encoded on one line cannot be, and are refused."""
    out = output.Output(argparse.Namespace())
    out.out.is_terminal = True
    assert not out.json_one_line
    with pytest.raises(ValueError, match="cannot indent"):
        out.json_items({}, "mounts", iter(["{}"]), encoded=True)
