"""model.build: a frozen dataclass filled the fast way is the very value its constructor makes."""

import pickle
from dataclasses import dataclass, field

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import model
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import (
    Entry, LiveMount, Owned, PathFact, build)

VALUES = [
    (Entry, {"target": "/data/a", "type": "tmpfs", "fs_options": (("size", "1048576"),), "index": 3,
             "options": ("size=1m",)}),
    (Entry, {"target": "/data/b", "type": "bind", "source": "/srv", "flags": frozenset({"ro"}), "recursive": True}),
    (PathFact, {"kind": "dir", "mode": 0o755, "uid": 0, "gid": 0, "dev": (0, 41), "empty": True, "ino": 7}),
    (Owned, {"entry": Entry("/data/a", "tmpfs"), "dev": (0, 41), "unique": 9}),
    (LiveMount, {"mount_id": 5, "parent_id": 1, "dev": (0, 41), "root": "/", "mount_point": "/data/a",
                 "flags": frozenset(), "propagation": "private", "peer": None, "master": None, "fstype": "tmpfs",
                 "source": "tmpfs", "fs_options": (), "unique": 12}),
]


@pytest.mark.parametrize("cls, values", VALUES, ids=lambda v: getattr(v, "__name__", ""))
def test_build_is_the_constructors_value(cls, values):
    """Equal to cls(**values), the same fields in the same order, defaults filled in; it pickles the same."""
    made = build(cls, values)
    assert made == cls(**values) and type(made) is cls
    assert list(vars(made)) == list(vars(cls(**values)))
    assert pickle.loads(pickle.dumps(made)) == made


def test_build_refuses_an_unknown_field_naming_it():
    """A name that is no field: TypeError naming the class and the names."""
    with pytest.raises(TypeError, match="Entry has no field bogus, more"):
        build(Entry, {"target": "/x", "type": "tmpfs", "bogus": 1, "more": 2})


def test_a_field_without_default_left_out_stays_unset():
    """As before: what values lack of a field without a default is not set (the caller always gives them)."""
    made = build(PathFact, {"mode": 1})
    assert "kind" not in vars(made) and made.mode == 1


def test_a_class_that_validates_keeps_its_constructor():
    """A dataclass with __post_init__ is made by calling it: its checks run."""
    @dataclass(frozen=True)
    class Checked:
        n: int
        tags: tuple = field(default=())

        def __post_init__(self):
            if self.n < 0:
                raise ValueError("negative")

    assert build(Checked, {"n": 1}) == Checked(1)
    with pytest.raises(ValueError):
        build(Checked, {"n": -1})
    assert model._BUILDERS[Checked] is Checked
