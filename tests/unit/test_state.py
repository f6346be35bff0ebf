"""The state store: atomic save/load, checksums, refusing untrustworthy files and unsafe directories, locks."""

import json
import os
import shutil
import stat
import threading

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import StateError
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Owned
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import (
    State,
    StateStore,
    list_profiles,
    namespace_key,
)

from tests.unit.planner_world import bind, entry, fast_tmpdir, overlay, symlink, tmpfs

NS = "mnt:[4026531841]"


@pytest.fixture
def root():
    """Return a fresh state root (removed afterwards)."""
    path = fast_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def sample_state():
    """Return a State owning one entry of each kind, with every optional field set somewhere."""
    owned = (
        Owned(entry(bind("/srv/a b", "/data/m", "ro", "nosuid", recursive=True)), created=("/data/m",),
              dev=(8, 1), fs_options=(("errors", "remount-ro"),)),
        Owned(entry(tmpfs("/data/m/x", "size=1m", mode="0700", uid=5, gid=6)), dev=(0, 41),
              fs_options=(("mode", "700"), ("size", "1048576"))),
        Owned(entry(overlay("/data/o", ["/l1", "/l,2"], "/u", "/w", "redirect_dir=on")), dev=(0, 42),
              fs_options=()),
        Owned(entry(symlink("/data/l", "/x\ty")), synthetic_for="/data/m"),
    )
    return State("p", NS, owned, ("/data/m", "/data/o"), "2026-01-01T00:00:00+00:00",
                 {"name": "p", "mounts": [{"target": "/data/l", "type": "symlink", "source": "/x"}]})


def test_save_load_round_trip(root):
    """A saved state loads back equal, field by field, profile data included."""
    store = StateStore(root, NS, "p")
    st = sample_state()
    store.save(st)
    back = store.load()
    assert back == st
    assert back.profile_data == st.profile_data
    assert [o.entry.flags for o in back.owned] == [o.entry.flags for o in st.owned]


def test_save_is_atomic_and_private(root):
    """Saving leaves only the state file (no temp file), mode 0600, in directories of mode 0700."""
    store = StateStore(root, NS, "p")
    store.save(sample_state())
    store.save(sample_state())
    assert os.listdir(store.dir) == ["p.state.json"]
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.dir).st_mode) == 0o700


def test_missing_file_is_an_empty_state(root):
    """No state file: the profile owns nothing (and nothing is created by loading)."""
    store = StateStore(root, NS, "p")
    assert store.load() == State("p", NS)
    assert not os.path.exists(store.dir)


def _corrupt_body(raw):
    doc = json.loads(raw)
    doc["body"]["created"].append("/etc")
    return json.dumps(doc).encode()


def _resign(raw, **changes):
    from ansible_collections.livemount.core.plugins.module_utils.livemount import state as state_mod

    doc = json.loads(raw)
    doc.update(changes)
    doc["sha256"] = state_mod._digest(doc["body"])
    return json.dumps(doc).encode()


def _bad_entry(raw):
    doc = json.loads(raw)
    doc["body"]["owned"][0]["entry"]["flags"] = "ro"
    return _resign(json.dumps(doc).encode())


CORRUPT = [
    ("edited-body", _corrupt_body, "checksum mismatch"),
    ("truncated", lambda raw: raw[: len(raw) // 2], "cannot trust state"),
    ("empty", lambda raw: b"", "cannot trust state"),
    ("garbage", lambda raw: b"\x00\xffnot json", "cannot trust state"),
    ("json-array", lambda raw: b"[1, 2]", "cannot trust state"),
    ("no-body", lambda raw: b'{"format": "livemount-state", "version": 1}', "cannot trust state"),
    ("other-format", lambda raw: _resign(raw, format="something-else"), "unknown format"),
    ("newer-version", lambda raw: _resign(raw, version=2), "unknown format"),
    ("bad-entry-field", _bad_entry, "entry field flags must be a list of strings"),
]


@pytest.mark.parametrize("spoil, message", [pytest.param(*c[1:], id=c[0]) for c in CORRUPT])
def test_untrustworthy_state_is_refused(root, spoil, message):
    """A state file edited, truncated or not ours at all raises StateError naming the file: never trusted."""
    store = StateStore(root, NS, "p")
    store.save(sample_state())
    with open(store.path, "rb") as f:
        raw = f.read()
    with open(store.path, "wb") as f:
        f.write(spoil(raw))
    with pytest.raises(StateError) as exc:
        store.load()
    assert message in str(exc.value)
    assert str(exc.value).startswith("cannot trust state %s: " % store.path) or "unknown format" in message


def test_unreadable_state_file_is_a_state_error(root):
    """A state path that cannot be read (a directory there) is a StateError, not a crash."""
    store = StateStore(root, NS, "p")
    os.makedirs(store.path)
    with pytest.raises(StateError) as exc:
        store.load()
    assert str(exc.value).startswith("cannot read state %s: " % store.path)


# ---- directories ------------------------------------------------------------------------------------------------
def _group_writable(root, store):
    os.chmod(root, 0o770)


def _other_writable_namespace_dir(root, store):
    os.makedirs(store.dir, 0o700)
    os.chmod(store.dir, 0o707)


def _foreign_owner(root, store):
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory away")
    os.chown(root, 4242, 4242)


def _not_a_directory(root, store):
    os.rmdir(root)
    os.symlink("/tmp", root)


UNSAFE = [
    ("group-writable-root", _group_writable, "writable by group or others (mode 0770)"),
    ("other-writable-namespace-dir", _other_writable_namespace_dir, "writable by group or others (mode 0707)"),
    ("owned-by-someone-else", _foreign_owner, "owned by uid 4242, not %d" % os.geteuid()),
    ("symlink-instead-of-a-directory", _not_a_directory, "not a directory"),
]


@pytest.mark.parametrize("spoil, message", [pytest.param(*c[1:], id=c[0]) for c in UNSAFE])
@pytest.mark.parametrize("use", ["save", "write-lock", "read-lock"])
def test_unsafe_state_directory_is_refused(root, spoil, message, use):
    """A state directory others could write to (or not a directory at all) is refused before any use."""
    store = StateStore(root, NS, "p")
    spoil(root, store)
    with pytest.raises(StateError) as exc:
        if use == "save":
            store.save(sample_state())
        else:
            with store.lock(write=use == "write-lock"):
                pass
    assert message in str(exc.value) and str(exc.value).startswith("cannot use state directory ")


# ---- locks ------------------------------------------------------------------------------------------------------
def test_read_lock_without_a_lock_file_creates_nothing(root):
    """A reader (check mode) never creates the lock file or directories."""
    missing = os.path.join(root, "sub")
    store = StateStore(missing, NS, "p")
    with store.lock(write=False):
        pass
    assert not os.path.exists(missing)


def test_write_lock_excludes_a_second_writer(root):
    """A second writer waits for the first one's lock to be released."""
    store = StateStore(root, NS, "p")
    events = []
    holding, release = threading.Event(), threading.Event()

    def first():
        with store.lock():
            events.append("first in")
            holding.set()
            release.wait(5)
            events.append("first out")

    t = threading.Thread(target=first)
    t.start()
    holding.wait(5)
    def second_writer():
        with StateStore(root, NS, "p").lock():
            events.append("second in")

    second = threading.Thread(target=second_writer)
    second.start()
    second.join(0.2)
    assert events == ["first in"], "the second writer got in while the first held the lock"
    release.set()
    t.join(5)
    second.join(5)
    assert events == ["first in", "first out", "second in"]


# ---- names ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ns, key", [("mnt:[4026531841]", "mnt-4026531841"), ("net:[1]", "net-1"),
                                     ("weird/../name", "weird_.._name"), ("", "unknown")],
                         ids=["mnt", "other-kind", "unsafe-chars", "empty"])
def test_namespace_key(ns, key):
    """A namespace id becomes a safe directory name."""
    assert namespace_key(ns) == key


def test_list_profiles_sees_states_and_journals(root):
    """Profiles with a state file or only a journal (an interrupted first apply) are both listed, sorted."""
    StateStore(root, NS, "b").save(sample_state())
    store = StateStore(root, NS, "a")
    store.ensure_dir()
    open(os.path.join(store.dir, "a.journal"), "w").close()
    open(os.path.join(store.dir, "c.lock"), "w").close()
    assert list_profiles(root, NS) == ["a", "b"]
    assert list_profiles(root, "mnt:[1]") == []


def test_remove_deletes_only_the_state_file(root):
    """remove() deletes the state file and keeps the directory; removing twice is fine."""
    store = StateStore(root, NS, "p")
    store.save(sample_state())
    store.remove()
    store.remove()
    assert not store.exists() and os.path.isdir(store.dir)


# ---- the created list after an apply (state_after.next_state) ---------------------------------------------------------

def _created_oracle(created, done):
    """Return the created list the way next_state first kept it: filtered at every unmount, appended at mkdirs."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import paths

    created = list(created)
    for c, _changed, made in done:
        if c.action.value in ("replace", "unmount"):
            created = [p for p in created if not paths.is_under(p, c.target)]
        if c.action.value == "mkdir":
            created.extend(p for p in made if p not in created)
        elif c.action.value == "rmdir" and c.target in created:
            created.remove(c.target)
    return created


def _step(action, target):
    from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Action, Change

    if action in ("mkdir", "rmdir"):
        return (Change(Action(action), None, "", path=target), True, [target] if action == "mkdir" else [])
    return (Change(Action(action), entry(tmpfs(target)), ""), True, [])


CREATED_CASES = [
    ("unmount-drops-below", ["/a", "/a/b", "/a/b/c", "/x"], [("unmount", "/a")]),
    ("replace-then-mkdir-again", ["/a", "/a/b"], [("replace", "/a"), ("mkdir", "/a/b")]),
    ("mkdir-then-replace", ["/a"], [("mkdir", "/a/b"), ("replace", "/a"), ("mkdir", "/a/c")]),
    ("rmdir-then-mkdir", ["/a", "/a/b", "/z"], [("rmdir", "/a/b"), ("mkdir", "/a/b"), ("rmdir", "/z")]),
    ("rmdir-of-dropped", ["/a", "/a/b"], [("unmount", "/a/b/m"), ("unmount", "/a"), ("rmdir", "/a/b")]),
    ("mkdir-twice", ["/m"], [("mkdir", "/m"), ("mkdir", "/n"), ("mkdir", "/n")]),
]


@pytest.mark.parametrize("created,steps", [c[1:] for c in CREATED_CASES], ids=[c[0] for c in CREATED_CASES])
def test_next_state_created_as_filtered_step_by_step(created, steps):
    """next_state keeps the created paths, in order, that filtering at each step would (without being n^2)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.apply import Outcome
    from ansible_collections.livemount.core.plugins.module_utils.livemount.state_after import next_state
    from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import LiveTable
    from ansible_collections.livemount.core.plugins.module_utils.livemount.world import World

    done = [_step(a, t) for a, t in steps]
    new = next_state(State("p", NS, (), tuple(created)), [], Outcome(done=done), World(LiveTable([])), None)
    assert list(new.created) == _created_oracle(created, done)
