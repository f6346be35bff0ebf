"""State files and journals are untrusted input: every field checked, every path ruled like a profile's (stored.py).

Each case damages a well-formed state body or journal (checksum recomputed,
so only the content is wrong) and expects StateError naming the file and
the field: never another exception (issue 13, defect 4).
"""

import copy
import json
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, state as state_mod, stored
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import StateError
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import StateStore

from tests.unit.fakesys import NAMESPACE_ID
from tests.unit.planner_world import fake_host, fast_tmpdir
from tests.unit.test_state import sample_state


@pytest.fixture
def root():
    """Return a fresh state root (removed afterwards)."""
    path = fast_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _body(root):
    store = StateStore(root, NAMESPACE_ID, "p")
    store.save(sample_state())
    return store, json.loads(open(store.path, "rb").read())["body"]


def _write(store, body):
    with open(store.path, "wb") as f:
        f.write(state_mod._document(body))


def _set(path, value):
    """Return a damage: set the field at `path` (keys and list indexes) of the body to `value`."""
    def damage(body):
        node = body
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return damage


def _drop(path):
    def damage(body):
        node = body
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return damage


# (id, damage, words the message must hold)
STATE_CASES = [
    ("claims-proc", _set(("owned", 1, "entry", "target"), "/proc"), "owned[1].entry.target: /proc is protected"),
    ("claims-etc-file", _set(("owned", 0, "entry", "target"), "/etc/passwd"), "/etc/passwd is protected"),
    ("claims-root", _set(("owned", 0, "entry", "target"), "/"), "owned[0].entry.target: / cannot be managed"),
    ("relative-target", _set(("owned", 0, "entry", "target"), "data/m"), "owned[0].entry.target"),
    ("unclean-target", _set(("owned", 0, "entry", "target"), "/data//m/"), "clean form"),
    ("dotdot-target", _set(("owned", 0, "entry", "target"), "/data/../etc"), "'..'"),
    ("target-int", _set(("owned", 0, "entry", "target"), 7), "owned[0].entry: entry field target must be a string"),
    ("entry-missing", _drop(("owned", 0, "entry")), "owned[0].entry: entry must be a mapping"),
    ("owned-not-list", _set(("owned",), {"a": 1}), "owned: must be a list"),
    ("owned-item-string", _set(("owned", 0), "x"), "owned[0]: must be an object"),
    ("owned-twice", lambda b: b["owned"].append(copy.deepcopy(b["owned"][0])), "is owned twice"),
    ("dev-string", _set(("owned", 0, "dev"), "8:1"), "owned[0].dev: must be [major, minor]"),
    ("dev-negative", _set(("owned", 0, "dev"), [8, -1]), "owned[0].dev[1]"),
    ("fs-options-flat", _set(("owned", 0, "fs_options"), ["size", "1m"]), "owned[0].fs_options"),
    ("unique-string", _set(("owned", 0, "unique"), "123"), "owned[0].unique"),
    ("unique-zero", _set(("owned", 0, "unique"), 0), "owned[0].unique"),
    ("created-int", _set(("created",), [1]), "created[0]"),
    ("created-protected", _set(("created",), ["/usr/lib"]), "created[0]: /usr/lib is protected"),
    ("created-not-list", _set(("created",), "/data/m"), "created: must be a list"),
    ("owned-created-protected", _set(("owned", 0, "created"), ["/sys/x"]), "owned[0].created[0]: /sys/x"),
    ("synthetic-for-int", _set(("owned", 3, "synthetic_for"), 3), "owned[3].synthetic_for"),
    ("marker-int", _set(("owned", 0, "marker"), 3), "owned[0].marker"),
    ("profile-data-list", _set(("profile_data",), []), "profile_data: must be an object"),
    ("applied-at-int", _set(("applied_at",), 5), "applied_at"),
    ("meta-list", _set(("meta",), []), "meta: must be an object"),
]


@pytest.mark.parametrize("damage, words", [pytest.param(*c[1:], id=c[0]) for c in STATE_CASES])
def test_a_damaged_state_is_refused_naming_the_file_and_field(root, damage, words):
    """A state whose checksum is right but whose content is not what a state may hold: StateError, clearly."""
    store, body = _body(root)
    damage(body)
    _write(store, body)
    with pytest.raises(StateError) as info:
        store.load()
    text = str(info.value)
    assert text.startswith("cannot trust state %s: " % store.path) and words in text, text


def test_allowed_roots_recorded_with_the_state_open_a_protected_target(root):
    """A target under /etc is fine when the profile that made the state listed /etc/app in allowed_roots."""
    store, body = _body(root)
    body["owned"][0]["entry"]["target"] = "/etc/app/m"
    body["profile_data"]["allowed_roots"] = ["/etc/app"]
    _write(store, body)
    assert store.load().owned[0].entry.target == "/etc/app/m"


# ---- journals ------------------------------------------------------------------------

def _journal(root, lines):
    """Return (fake, root) with a state for profile p and a journal of `lines` (dicts or raw strings)."""
    fake = fake_host()
    store = StateStore(root, NAMESPACE_ID, "p")
    store.ensure_dir()
    with open(store.journal.path, "w") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return fake, store


HEADER = {"kind": "header", "profile": "p", "plan_id": "x", "steps": 1, "version": 2}
BEGIN = {"kind": "begin", "n": 1, "action": "unmount", "path": "/data/t",
         "entry": {"target": "/data/t", "type": "tmpfs"}, "before": None, "live": None}

JOURNAL_CASES = [
    ("begin-claims-proc", [HEADER, dict(BEGIN, path="/proc", entry={"target": "/proc", "type": "proc"})],
     "line 2 (begin).path: /proc is protected"),
    ("entry-claims-sys", [HEADER, dict(BEGIN, entry={"target": "/sys", "type": "sysfs"})],
     "line 2 (begin).entry.target: /sys is protected"),
    ("unknown-action", [HEADER, dict(BEGIN, action="explode")], "line 2 (begin).action: unknown action"),
    ("n-string", [HEADER, dict(BEGIN, n="1")], "line 2 (begin).n"),
    ("path-missing", [HEADER, {k: v for k, v in BEGIN.items() if k != "path"}], "line 2 (begin).path: missing"),
    ("no-entry", [HEADER, dict(BEGIN, entry=None)], "names no entry"),
    ("entry-list", [HEADER, dict(BEGIN, entry=[1])], "line 2 (begin).entry"),
    ("live-string", [HEADER, dict(BEGIN, live="x")], "line 2 (begin).live"),
    ("unknown-kind", [HEADER, {"kind": "boom"}], "line 2.kind: unknown record"),
    ("record-list", [HEADER, [1, 2]], "line 2: must be an object"),
    ("attach-role", [HEADER, BEGIN, {"kind": "attach", "n": 1, "path": "/data/t", "role": "x",
                                     "ident": {"unique": 5}}], "line 3 (attach).role"),
    ("attach-ident", [HEADER, BEGIN, {"kind": "attach", "n": 1, "path": "/data/t", "role": "new",
                                      "ident": {"unique": "5"}}], "line 3 (attach).ident.unique"),
    ("other-profile", [dict(HEADER, profile="q"), BEGIN], "journal of profile 'q'"),
    ("steps-string", [dict(HEADER, steps="many"), BEGIN], "line 1 (header).steps"),
    ("aside-path-int", [HEADER, BEGIN, {"kind": "aside", "n": 1, "from": 3, "to": "/x"}], "line 3 (aside).from"),
]


@pytest.mark.parametrize("lines, words", [pytest.param(*c[1:], id=c[0]) for c in JOURNAL_CASES])
def test_a_damaged_journal_is_refused_before_recovery_touches_anything(root, lines, words):
    """A journal claiming what no run of this profile could write: StateError naming it and the line, nothing done."""
    fake, store = _journal(root, lines)
    before = fake.read_mountinfo()
    with pytest.raises(StateError) as info:
        engine.reconcile(load_profile({"name": "p", "mounts": []}), fake, root=root)
    text = str(info.value)
    assert text.startswith("cannot trust journal %s: " % store.journal.path) and words in text, text
    assert fake.read_mountinfo() == before and fake.calls == []


@pytest.mark.parametrize("text", ["[1]", "\"header\"", "{\"kind\": \"begin\"}"], ids=["list", "string", "no-header"])
def test_a_journal_without_a_header_object_is_refused(root, text):
    """The first line must be the header object."""
    fake, store = _journal(root, [text])
    with pytest.raises(StateError) as info:
        engine.reconcile(load_profile({"name": "p", "mounts": []}), fake, root=root)
    assert "no header" in str(info.value)


def test_stored_path_rules_match_the_profile_rules():
    """The same path is refused by a profile and by a state: one rule (profile/paths.py)."""
    with pytest.raises(ValueError) as info:
        stored.path("/boot/x", "owned[0].entry.target", ())
    assert "protected (at or under /boot)" in str(info.value)
    assert stored.path("/boot/x", "t", ("/boot",)) == "/boot/x"


def test_a_state_from_before_unique_ids_is_matched_as_before_and_learns_them(root):
    """Migration: owned records without `unique` keep their mounts (matched the old way) and record the ids."""
    fake = fake_host()
    prof = load_profile({"name": "p", "mounts": [{"target": "/data/t", "type": "tmpfs", "options": ["size=1m"]},
                                                 {"target": "/data/m", "type": "bind", "source": "/srv/a"}]})
    engine.reconcile(prof, fake, root=root)
    store = StateStore(root, NAMESPACE_ID, "p")
    body = json.loads(open(store.path, "rb").read())["body"]
    for o in body["owned"]:
        for key in ("unique", "root", "fstype", "marker"):
            o.pop(key, None)
    _write(store, body)
    assert all(o.unique is None for o in store.load().owned)
    again = engine.reconcile(prof, fake, root=root)
    assert [c.action.value for c in again.changes] == ["keep", "keep"]
    assert all(o.unique is not None and o.fstype for o in store.load().owned)


# ---- the glance before the checks (stored._plain_record) ------------------------------

ODD_VALUES = [None, "", 0, -1, 1, True, [], [1], ["/data/x"], ["/proc/x"], [["size", "1m"]], [["size"]], [8, 1],
              [8, -1], [8, True], "x", "/etc/x", "/data//x", "/data/x/", "/data/caf\u00e9", {}, {"a": 1}]
RECORD_FIELDS = ["created", "dev", "fs_options", "synthetic_for", "unique", "root", "fstype", "marker", "entry"]


def _records(root):
    _store, body = _body(root)
    return body["owned"], stored.allowed_roots(body.get("profile_data"))


def test_the_glance_accepts_the_records_a_save_writes(root):
    """Every record of a saved state is plainly well formed: the checks that name fields are not even run."""
    owned, roots = _records(root)
    for k, o in enumerate(owned):
        assert stored._plain_record(o, roots) == stored._checked_record(o, "owned[%d]" % k, roots, set())


@pytest.mark.parametrize("field", RECORD_FIELDS)
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_what_the_glance_accepts_the_checks_accept_the_same(root, field, value):
    """A record the glance takes gives the very Owned the full checks give; anything else goes to the checks."""
    owned, roots = _records(root)
    for k, o in enumerate(owned):
        o = dict(o, **{field: value})
        seen = stored._plain_record(o, roots)
        if seen is not None:
            assert stored._checked_record(o, "owned[%d]" % k, roots, set()) == seen


@pytest.mark.parametrize("key", ["target", "type", "source", "flags", "fs_options", "mode", "index", "bogus"])
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_what_the_glance_accepts_of_an_entry_the_checks_accept(root, key, value):
    """The same for the entry inside the record: a damaged entry is never taken at a glance."""
    owned, roots = _records(root)
    for k, o in enumerate(owned):
        o = dict(o, entry=dict(o["entry"], **{key: value}))
        seen = stored._plain_record(o, roots)
        if seen is not None:
            assert stored._checked_record(o, "owned[%d]" % k, roots, set()) == seen


def test_a_state_of_plain_records_loads_the_owned_records_it_saved(root):
    """check_state builds each Owned as the record says (the glance changes nothing of what is read)."""
    store, _body_ = _body(root)
    from tests.unit.test_state import sample_state

    assert store.load().owned == sample_state().owned
