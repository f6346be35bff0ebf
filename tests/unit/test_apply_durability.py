"""What the cheaper apply keeps: every step follows a durable journal record, and state files old and new load.

The executor writes a `done` record, and a mount step's `begin`, without its
own fdatasync (journal.py): these tests pin that every system call that
changes what a crash leaves is still preceded by a durable record covering
everything written before it, that recovery decides the
same without any done record, and that the state file written from one
serialization loads, as do files in the earlier indented layout.
"""

import hashlib
import json
import os
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, state as state_mod
from ansible_collections.livemount.core.plugins.module_utils.livemount.journal import Journal
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import entry_from_dict, load_profile
from ansible_collections.livemount.core.plugins.module_utils.livemount.recover import recover
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import State, StateStore

from tests.unit.fakesys import NAMESPACE_ID
from tests.unit.planner_world import PROFILE_A, PROFILE_B, fake_host, fast_tmpdir
from tests.unit.test_recover import DECISIONS, HEADER
from tests.unit.test_state import sample_state


@pytest.fixture
def root():
    """Return a fresh state root (removed afterwards)."""
    path = fast_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


# Calls that leave nothing behind when the process dies: a detached mount (a clone, a new filesystem) and flags
# set on it vanish with its fd. Every other call changes what a crash leaves: a durable record must precede it.
_INVISIBLE = ("clone ", "clone_mount ", "create_fs ", "setattr <")


def _journaled_apply(monkeypatch, profile):
    """Return (records, calls) of applying A then `profile` on the fake: records are (calls before, kind, durable,
    action), calls the fake's call strings in order."""
    fake, root = fake_host(), fast_tmpdir()
    try:
        engine.reconcile(load_profile(PROFILE_A), fake, root=root)
        base, first = fake.count, len(fake.calls)
        log = []
        real = Journal.record
        real_sync = Journal.sync

        def record(self, obj, durable=True):
            log.append((fake.count - base, obj["kind"], durable, obj.get("action")))
            return real(self, obj, durable)

        def sync(self):
            log.append((fake.count - base, "sync", True, None))
            return real_sync(self)

        monkeypatch.setattr(Journal, "record", record)
        monkeypatch.setattr(Journal, "sync", sync)
        engine.reconcile(load_profile(profile), fake, root=root)
        return log, fake.calls[first:]
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("profile", [PROFILE_B, {"name": "p", "mounts": []}], ids=["a-to-b", "a-destroyed"])
def test_every_visible_step_follows_a_durable_record(monkeypatch, profile):
    """Before each call that changes what a crash leaves, the last journal record written was synced."""
    log, calls = _journaled_apply(monkeypatch, profile)
    assert len(calls) > 10 and any(kind == "done" for _, kind, _, _ in log)
    for step, call in enumerate(calls, 1):
        if call.startswith(_INVISIBLE):
            continue
        before = [durable for at, _, durable, _ in log if at < step]
        assert before and before[-1], "step %d (%s) runs after a record not yet synced" % (step, call)


def test_only_done_records_and_a_mounts_begin_skip_their_own_sync(monkeypatch):
    """Header, attach and aside records are each synced; a mount step's begin rides on its attach's sync, every
    other begin is synced; done records, and the made records of the directories steps made, ride on the next sync."""
    log, _ = _journaled_apply(monkeypatch, PROFILE_B)
    assert {(kind, durable) for _, kind, durable, _ in log if kind != "sync"} == {
        ("header", True), ("begin", True), ("begin", False), ("attach", True), ("aside", True), ("done", False),
        ("made", False)}
    assert {action for _, kind, durable, action in log if kind == "begin" and not durable} == {"mount"}


@pytest.mark.parametrize("setup, owned, created, finish", [pytest.param(*c[1:], id=c[0]) for c in DECISIONS])
def test_recovery_decides_the_same_without_done_records(setup, owned, created, finish):
    """A done record lost to a power cut changes nothing recovery decides: every begun step is re-examined."""
    st, records, world = setup()
    with_done = recover(st, HEADER, records, world, entry_from_dict)
    without = recover(st, HEADER, [r for r in records if r.get("kind") != "done"], world, entry_from_dict)
    assert without[:2] == with_done[:2]


def _indented_file(body):
    """Return a state file as the code before single serialization wrote it (indent=1, sorted keys)."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    doc = {"format": "livemount-state", "version": 1, "sha256": digest, "body": body}
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def test_a_state_file_in_the_indented_layout_loads(root):
    """A state written by an earlier livemount (indented JSON) loads equal to what it records."""
    store = StateStore(root, NAMESPACE_ID, "p")
    store.save(sample_state())
    body = json.loads(open(store.path, "rb").read())["body"]
    with open(store.path, "wb") as f:
        f.write(_indented_file(body))
    assert store.load() == sample_state()


def test_the_state_file_has_one_owned_entry_per_line_and_hashes_the_canonical_body(root):
    """The file parses as the documented document, its sha256 is the canonical body's, each owned entry on a line."""
    store = StateStore(root, NAMESPACE_ID, "p")
    st = sample_state()
    store.save(st)
    raw = open(store.path, "rb").read()
    doc = json.loads(raw)
    canonical = json.dumps(doc["body"], sort_keys=True, separators=(",", ":")).encode()
    assert (doc["format"], doc["version"]) == ("livemount-state", 1)
    assert doc["sha256"] == hashlib.sha256(canonical).hexdigest()
    assert sum(1 for line in raw.splitlines() if line.startswith(b'{"created":')) == len(st.owned) - 1


@pytest.mark.parametrize("text", ['},{"created":', '"},{"created":"', "\\"], ids=["break-text", "quoted", "backslash"])
def test_profile_data_holding_the_line_break_text_round_trips(root, text):
    """A string holding the text the layout breaks lines at loads back unchanged (the break is only between tokens)."""
    store = StateStore(root, NAMESPACE_ID, "p")
    st = State("p", NAMESPACE_ID, (), ("/data/%s" % text,), "2026-01-01T00:00:00+00:00",
               {"name": "p", "note": text, "mounts": [{"created": text}, {"created": text}]})
    store.save(st)
    back = store.load()
    assert back == st and back.profile_data == st.profile_data
    assert os.path.basename(store.path) == "p.state.json" and state_mod.FORMAT == "livemount-state"
