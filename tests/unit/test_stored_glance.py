"""The glance before the checks (stored._plain_record and check_state's quick tests) never lets more through.

check_state takes an owned record that is plainly well formed at a glance
(_plain_record), and a created path or created_ids row likewise, without
running the checks that name the field. The contract: whatever the glance
takes, the full checks take too, with the very same result. The oracle here
is check_state with every glance switched off (all records, paths and rows
through _checked_record, path() and _int; every entry field through its
reader in profile/forms.py): on a body damaged in one or more places, both
must return equal Owned records, or both refuse it with the same message.
"""

import copy
import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount import stored
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import forms

from tests.unit.planner_world import fast_tmpdir
from tests.unit.test_state import sample_state
from tests.unit.test_stored import _body


class Text(str):
    """A str subclass: what json never makes, and what `type(v) is str` does not take."""


class Number(int):
    """An int subclass, likewise."""


# Values a damaged field may hold: wrong types (a bool is an int, a float no int), odd numbers, odd paths.
ODD = [
    None, True, False, 0, 1, -1, 2 ** 64, -(2 ** 64), 1.0, 0.5, float("nan"), "", "x", "1",
    "/", "/data", "/data/x", "data/x", "/data//x", "/data/x/", "/data/./x", "/data/../etc", "/data/x/..", "/..",
    "/data/.hidden", "/data/x\x00y", "/data/x\ty", "/data/x\ny", "/data/\x7f", "/data/caf\u00e9", "/data/\udcff",
    "/data/\ud800", "/data/\u200bx", "/data/\uff0fx", "/" + "a" * 255, "/data/" + "b" * 256, "/" + "\u00e9" * 200,
    "/proc", "/proc/x", "/etc/app/conf", "/run/livemount", "/usr", "/usrx", "size,ro", "a=b", "x=y,z",
    (), ("/data/x",), [], [None], [1], [True], [1.0], [8, 1], [8, -1], [8, True], [8, 1.0], [8, 1, 2], [2 ** 70, 0],
    ["/data/x"], ["/data/x", "/data/x"], ["/proc/x"], ["/data//x"], ["data"], [["size", "1m"]], [["size", None]],
    [["size"]], [["size", 1]], [[1, "x"]], [("size", "1m")], [["a,b", "c=d"]], [[Text("k"), "v"]], [[]],
    {}, {"a": 1}, {"target": "/data/x"}, {"target": "/data/x", "type": "tmpfs"}, [[["deep"]]], {"x": {"y": [{}]}},
    Text("/data/x"), Text("tmpfs"), Number(1), Number(0),
]
RECORD_KEYS = ["created", "dev", "fs_options", "synthetic_for", "unique", "root", "fstype", "marker", "entry",
               "extra"]
ENTRY_KEYS = [name for name, _kind in forms._STATE_FIELDS] + ["bogus"]
SETTINGS = settings(max_examples=500, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _outcome(body):
    """Return ("ok", owned records) or ("refused", message) of check_state(body)."""
    try:
        return "ok", stored.check_state(copy.deepcopy(body))
    except ValueError as exc:
        return "refused", str(exc)


def _both(body, monkeypatch):
    """Return (check_state with its glances, check_state with every glance off) of `body`."""
    fast = _outcome(body)
    with monkeypatch.context() as m:
        m.setattr(stored, "_plain_record", lambda o, roots: None)
        m.setattr(stored, "_usable", lambda value, roots: False)
        m.setattr(stored, "_naturals", lambda row, start: False)
        # entry_from_dict's own glance too (a field at its default, a plain str or int): every field read.
        m.setattr(forms, "_STORED_DEFAULTS", {})
        m.setattr(forms, "_PLAIN", {})
        full = _outcome(body)
    return fast, full


def _damaged(body, damages):
    """Return a copy of `body` with each (record index, entry or record key, value) of `damages` applied."""
    body = copy.deepcopy(body)
    owned = body["owned"]
    for k, where, key, value in damages:
        node = owned[k % len(owned)]
        if where == "entry" and isinstance(node.get("entry"), dict):
            node = node["entry"]
        if value is _DROP:
            node.pop(key, None)
        else:
            node[key] = copy.deepcopy(value)
    return body


_DROP = object()


@pytest.fixture(scope="module")
def body():
    """Return the body of a saved sample state (one record of each kind, every optional field set somewhere)."""
    root = fast_tmpdir()
    try:
        yield _body(root)[1]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_oracle_is_the_full_checks(body, monkeypatch):
    """Undamaged, both read the sample state back as it was saved (the oracle is no always-refusing stub)."""
    fast, full = _both(body, monkeypatch)
    assert fast == full == ("ok", sample_state().owned)


# (id, damages: (record, "record" or "entry", key, value)); each case is one the glance once let through or might.
CASES = [
    ("created-a-tuple", [(0, "record", "created", ())]),
    ("created-a-tuple-of-a-path", [(0, "record", "created", ("/data/m",))]),
    ("created-null", [(1, "record", "created", None)]),
    ("created-a-str-subclass", [(0, "record", "created", [Text("/data/m")])]),
    ("dev-bools", [(0, "record", "dev", [True, False])]),
    ("dev-floats", [(0, "record", "dev", [8.0, 1.0])]),
    ("dev-a-tuple", [(0, "record", "dev", (8, 1))]),
    ("dev-an-int-subclass", [(0, "record", "dev", [Number(8), 1])]),
    ("unique-true", [(0, "record", "unique", True)]),
    ("unique-a-float", [(0, "record", "unique", 1.0)]),
    ("unique-huge", [(0, "record", "unique", 2 ** 80)]),
    ("fs-options-tuples", [(0, "record", "fs_options", [("errors", "remount-ro")])]),
    ("fs-options-comma-and-equals", [(0, "record", "fs_options", [["a,b", "c=d"]])]),
    ("synthetic-for-root", [(3, "record", "synthetic_for", "/")]),
    ("synthetic-for-dotdot", [(3, "record", "synthetic_for", "/data/../etc")]),
    ("synthetic-for-a-str-subclass", [(3, "record", "synthetic_for", Text("/data/m"))]),
    ("marker-a-str-subclass", [(0, "record", "marker", Text("m"))]),
    ("target-nul", [(0, "entry", "target", "/data/m\x00")]),
    ("target-tab", [(0, "entry", "target", "/data/m\tx")]),
    ("target-lone-surrogate", [(0, "entry", "target", "/data/\ud800")]),
    ("target-non-utf8-byte", [(0, "entry", "target", "/data/\udcff")]),
    ("target-a-str-subclass", [(0, "entry", "target", Text("/data/m"))]),
    ("target-long-component", [(0, "entry", "target", "/data/" + "\u00e9" * 200)]),
    ("target-protected-opened-by-nothing", [(0, "entry", "target", "/etc/app/conf")]),
    ("type-empty", [(0, "entry", "type", "")]),
    ("mode-true", [(1, "entry", "mode", True)]),
    ("uid-negative", [(1, "entry", "uid", -1)]),
    ("entry-unknown-field", [(0, "entry", "bogus", 1)]),
    ("entry-target-dropped", [(0, "entry", "target", _DROP)]),
    ("owned-twice", [(1, "entry", "target", "/data/m")]),
]


@pytest.mark.parametrize("damages", [pytest.param(c[1], id=c[0]) for c in CASES])
def test_a_damaged_record_reads_as_the_full_checks_read_it(body, monkeypatch, damages):
    """Whatever one damage makes of a record, check_state with its glances says what the full checks say."""
    fast, full = _both(_damaged(body, damages), monkeypatch)
    assert fast == full


SCALARS = st.sampled_from([v for v in ODD if not isinstance(v, (list, tuple, dict))])
# One odd value, or a short list or tuple (json makes no tuple; a caller may) of odd scalars or pairs.
VALUES = st.one_of(st.sampled_from(ODD + [_DROP]), st.lists(SCALARS, max_size=2),
                   st.lists(SCALARS, max_size=2).map(tuple), st.lists(st.lists(SCALARS, max_size=2), max_size=2))
DAMAGES = st.lists(st.one_of(st.tuples(st.integers(0, 3), st.just("record"), st.sampled_from(RECORD_KEYS), VALUES),
                             st.tuples(st.integers(0, 3), st.just("entry"), st.sampled_from(ENTRY_KEYS), VALUES)),
                   min_size=1, max_size=3)


@SETTINGS
@given(damages=DAMAGES)
def test_any_damage_reads_as_the_full_checks_read_it(body, monkeypatch, damages):
    """Random damages to records and their entries (wrong types, odd paths, dropped and unknown keys): the glance
    never takes what the full checks refuse, and what it takes it reads the same."""
    fast, full = _both(_damaged(body, damages), monkeypatch)
    assert fast == full


@SETTINGS
@given(created=st.lists(st.sampled_from(ODD), max_size=3),
       rows=st.lists(st.lists(st.sampled_from(ODD + ["/data/m", "/data/o", 0, 7]), max_size=5), max_size=3))
def test_any_created_list_reads_as_the_full_checks_read_it(body, monkeypatch, created, rows):
    """The state's own created paths and created_ids rows: the quick tests take only what path() and _int take."""
    body = dict(copy.deepcopy(body), created=created + ["/data/m", "/data/o"], created_ids=rows)
    fast, full = _both(body, monkeypatch)
    assert fast == full


def test_a_record_as_json_writes_it_is_taken_at_a_glance(body, monkeypatch):
    """The glance is not so strict it takes nothing: every record json.loads gives back passes it."""
    calls = []
    real = stored._checked_record
    monkeypatch.setattr(stored, "_checked_record", lambda *a: calls.append(a) or real(*a))
    assert stored.check_state(json.loads(json.dumps(body))) == sample_state().owned
    assert calls == []
