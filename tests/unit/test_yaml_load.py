"""The event-built YAML reader (profile/yaml_load.py) gives what yaml.safe_load gives, and keeps its guards."""

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import yaml_load

yaml = pytest.importorskip("yaml")

SAME = [
    ("profile", "name: web\nmounts:\n  - {target: /srv/a, type: tmpfs, options: [size=1m, mode=0755]}\n"
                "  - target: /srv/b\n    type: bind\n    source: /data\n    recursive: true\n"),
    ("scalars", "a: 1\nb: 0x1f\nc: 1.5\nd: .inf\ne: true\nf: no\ng: ~\nh: null\ni: 2026-01-02\n"
                "j: 2026-01-02 03:04:05\nk: '1'\nl: \"x\\ty\"\nm: 0755\nn: -0\no: 1_000\n"),
    ("explicit-tags", "a: !!str 1\nb: !!int '7'\nc: !!float '2'\nd: !!binary aGVsbG8=\ne: !!null ''\nf: !!bool yes\n"),
    ("anchors-and-aliases", "base: &b {type: tmpfs, options: [size=1m]}\nlist: &l [1, 2]\nuse: [*b, *l, *l]\n"
                            "s: &s text\nt: *s\n"),
    ("merge-one", "base: &b {type: tmpfs, mode: '0700'}\nentry:\n  <<: *b\n  target: /t\n  mode: '0755'\n"),
    ("merge-list-first-wins", "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  w: 0\n"),
    ("block-styles", "text: |\n  two\n  lines\nfolded: >\n  one\n  line\nseq:\n- a\n- - b\n  - c\n"),
    ("complex-scalar-keys", "1: int\n'1': str\ntrue: bool\n? k\n: v\n"),
    ("empty-values", "a:\nb: []\nc: {}\nd: ''\n"),
    ("top-level-list", "- 1\n- [2, 3]\n"),
    ("top-level-scalar", "just text\n"),
    ("empty", ""),
    ("document-markers", "---\na: 1\n...\n"),
    ("first-characters", "a: /srv/x\nb: ^x\nc: $1\nd: /\ne: \u00e9t\u00e9\nf: (1)\ng: Yes\nh: .5\ni: +1\nj: _1\n"),
]


@pytest.mark.parametrize("c_parser", [True, False], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize("text", [c[1] for c in SAME], ids=[c[0] for c in SAME])
def test_same_data_as_safe_load(monkeypatch, text, c_parser):
    """Values, their types, key order and shared (aliased) objects are those of yaml.safe_load."""
    if c_parser and not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")
    if not c_parser:
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    monkeypatch.setattr(yaml_load, "_loader", None)
    want = yaml.safe_load(text)
    got = yaml_load.load(yaml, text)
    assert got == want
    assert repr(got) == repr(want)  # the types too (1 vs True vs 1.0), and the order of keys


def test_merge_keys_first_mapping_wins_explicit_keys_win_over_all():
    """Two `<<` keys merge in order, the first giving a key wins (PyYAML before 6.0.2 let the last win)."""
    got = yaml_load.load(yaml, "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc: {<<: *a, <<: *b, y: 0}\n")
    assert got["c"] == {"x": 1, "y": 0, "z": 2}


def test_an_alias_is_the_anchored_object():
    """Like PyYAML, an alias of a collection gives the very object (not a copy)."""
    got = yaml_load.load(yaml, "a: &a [1]\nb: *a\n")
    assert got["a"] is got["b"]


REFUSED = [
    ("duplicate-key", "a: 1\na: 2\n", "duplicate key 'a'"),
    ("duplicate-key-in-flow", "- {t: 1, t: 2}\n", "duplicate key 't'"),
    ("too-deep", "[" * 65 + "]" * 65, "nested more than 64 levels deep"),
    ("far-too-deep", "[" * 50000 + "]" * 50000, "nest"),  # libyaml 0.2.5 stops at 1000 itself
    ("too-deep-block", "".join("%s- \n" % ("  " * i) for i in range(70)), "nested more than 64 levels deep"),
    ("alias-flood", "a: &a 1\nb: [%s]\n" % ", ".join(["*a"] * 101), "more than 100 aliases"),
    ("undefined-alias", "a: *nowhere\n", "nowhere"),
    ("unhashable-key", "? [1]\n: 2\n", "found unhashable key"),
    ("python-tag", "a: !!python/object:os.system x\n", "could not determine a constructor"),
    ("set-tag", "a: !!set {x, y}\n", "could not determine a constructor for the tag"),
    ("bad-merge", "a: {<<: 1}\n", "expected a mapping or list of mappings for merging"),
    ("two-documents", "a: 1\n---\nb: 2\n", "expected a single document"),
    ("duplicate-nan-key", "a: 1\n.nan: 1\n.nan: 2\n", "duplicate key nan"),  # a StopIteration escaped before
    ("merge-as-a-list-item", "a: [<<]\n", "could not determine a constructor for the tag"),  # was a marker object
    ("merge-as-a-value", "a: <<\n", "could not determine a constructor for the tag"),
    ("merge-alone", "<<\n", "could not determine a constructor for the tag"),
    ("merge-through-an-alias", "a: &m <<\nb: *m\n", "could not determine a constructor for the tag"),
]


@pytest.mark.parametrize("text, cause", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_with_a_mark(text, cause):
    """What a profile must not hold raises a YAMLError naming where (a line), never a crash or a hang."""
    with pytest.raises(yaml.YAMLError) as info:
        yaml_load.load(yaml, text)
    assert cause in str(info.value)
    assert getattr(info.value, "problem_mark", None) is not None or "single document" in str(info.value)


COUNTED = [
    ("scalar", "x\n", 1),
    ("flat", "a: 1\nb: 2\n", 3),
    ("nested", "a: [1, 2]\nb: {c: 3}\n", 6),
    ("empty", "", 1),
    ("alias", "a: &a [1, 2]\nb: *a\n", None),
    ("merge", "a: {<<: {x: 1}, y: 2}\n", None),
]


@pytest.mark.parametrize("text, count", [c[1:] for c in COUNTED], ids=[c[0] for c in COUNTED])
def test_counted_values(text, count):
    """load_counted gives the data and how many values it holds, or None once aliases or merges are read."""
    data, values = yaml_load.load_counted(yaml, text)
    assert data == yaml.safe_load(text)
    assert values == count
