"""@record (records.py) makes the classes @dataclass would: same fields, equality, hash, repr, frozen guard.

Each case builds one class body twice, once with @record and once with the
dataclass decorator it stands for, and asks both the same questions.
"""

import copy
import dataclasses
import pickle
from dataclasses import field
from typing import Optional, Tuple

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.records import record


def _pair(frozen=True):
    """Return (the @record class, the @dataclass class) of one body."""
    def body():
        class Thing:
            """A value with every kind of field the engine's records have."""

            name: str
            size: int = 0
            parts: Tuple[str, ...] = ()
            seen: dict = field(default_factory=dict, hash=False)
            note: Optional[str] = field(default=None, compare=False)
            secret: str = field(default="", repr=False)

        return Thing

    made = record(body()) if frozen else record(frozen=False)(body())
    plain = dataclasses.dataclass(frozen=frozen)(body())
    return made, plain


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen", "mutable"])
def test_the_fields_are_the_dataclass_s(frozen):
    """dataclasses.fields() sees the same names, defaults and options."""
    made, plain = _pair(frozen)
    key = [(f.name, f.default, f.default_factory, f.compare, f.repr, f.hash) for f in dataclasses.fields(plain)]
    assert [(f.name, f.default, f.default_factory, f.compare, f.repr, f.hash) for f in dataclasses.fields(made)] == key


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen", "mutable"])
@pytest.mark.parametrize("args, kwargs", [
    (("a",), {}),
    (("a", 3, ("x", "y")), {"note": "n", "secret": "s"}),
    ((), {"name": "b", "seen": {"k": 1}}),
], ids=["defaults", "positional and keyword", "keywords"])
def test_instances_read_and_show_as_the_dataclass_s(frozen, args, kwargs):
    """Built from the same arguments: the same attributes, the same repr (fields with repr=False left out)."""
    made, plain = _pair(frozen)
    m, p = made(*args, **kwargs), plain(*args, **kwargs)
    assert vars(m) == vars(p)
    assert list(vars(m)) == list(vars(p))  # the fields in their declared order
    assert repr(m).replace(made.__qualname__, "X") == repr(p).replace(plain.__qualname__, "X")


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen", "mutable"])
def test_equality_is_the_dataclass_s(frozen):
    """Equal on the compared fields only, never equal to another class, even one holding the same values."""
    made, plain = _pair(frozen)
    assert made("a", note="x") == made("a", note="y")
    assert made("a", 1) != made("a", 2)
    assert made("a") != plain("a")
    assert (made("a") == made("a", 1)) == (plain("a") == plain("a", 1))


def test_a_frozen_record_hashes_by_value_and_refuses_changes():
    """Frozen: equal records hash alike; setting or deleting any attribute raises FrozenInstanceError."""
    made, _plain = _pair(True)
    assert hash(made("a", note="x", seen={"k": 1})) == hash(made("a", note="y"))
    assert len({made("a"), made("a"), made("b")}) == 2
    m = made("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.size = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.other = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        del m.name


def test_a_mutable_record_changes_and_is_unhashable():
    """Not frozen: attributes can be set, and a record compared by value is unhashable, as a dataclass is."""
    made, _plain = _pair(False)
    m = made("a")
    m.size = 3
    assert m == made("a", 3)
    with pytest.raises(TypeError):
        hash(m)


def test_each_instance_gets_its_own_default_from_a_factory():
    """default_factory is called for each instance that does not pass the field."""
    made, _plain = _pair(True)
    a, b = made("a"), made("b")
    assert a.seen == {} and a.seen is not b.seen
    given = {"k": 1}
    assert made("c", seen=given).seen is given


@pytest.mark.parametrize("args, kwargs", [((), {}), (("a",), {"bogus": 1}), (("a", 1, (), {}, None, "", 7), {})],
                         ids=["a required field missing", "an unknown field", "too many"])
def test_bad_arguments_are_refused_as_the_dataclass_refuses_them(args, kwargs):
    """A missing, unknown or extra argument: TypeError, as from the dataclass's __init__."""
    made, plain = _pair(True)
    with pytest.raises(TypeError):
        plain(*args, **kwargs)
    with pytest.raises(TypeError):
        made(*args, **kwargs)


@record
class Saved:
    """A record at module level, as the engine's are: pickle finds its class by name."""

    name: str
    parts: Tuple[str, ...] = ()
    note: Optional[str] = field(default=None, compare=False)


def test_replace_copy_and_pickle_give_equal_records():
    """dataclasses.replace, copy and a pickle round trip (how records reach a namespace's child) keep the value."""
    made, _plain = _pair(True)
    m = made("a", 2, ("p",), {"k": 1}, "n", "s")
    assert dataclasses.replace(m, size=3) == made("a", 3, ("p",), {"k": 1}, "other note", "s")
    assert dataclasses.asdict(m)["parts"] == ("p",)
    assert copy.copy(m) == m and copy.deepcopy(m) == m
    saved = Saved("a", ("p",), "n")
    again = pickle.loads(pickle.dumps(saved))
    assert again == saved and vars(again) == vars(saved)
