"""The profile schema: JSON is the source of truth, the engine's copy and validator agree with it.

Regenerate the engine's copy after editing schemas/profile.schema.json:
    python3 tests/unit/test_schema.py
"""

import functools
import glob
import json
import os
import pprint
import sys

import jsonschema
import pytest
from hypothesis import given, settings, strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_JSON = os.path.join(ROOT, "schemas", "profile.schema.json")
SCHEMA_PY = os.path.join(ROOT, "plugins", "module_utils", "livemount", "profile", "schema_data.py")

HEADER = '''"""The profile schema as a Python dict, for the stdlib-only engine.

GENERATED from schemas/profile.schema.json (the source of truth) by
`python3 tests/unit/test_schema.py`; do not edit by hand. A unit test checks
that the two are equal.
"""

'''


def render_schema_data(schema):
    """Return the text of schema_data.py for `schema` (a dict loaded from the JSON file).

    pprint indents continuation lines as if the dict started in column 0;
    shifting them by the width of `SCHEMA = ` aligns them under the brace,
    as pep8 (ansible-test sanity) wants.
    """
    head = "SCHEMA = "
    text = pprint.pformat(schema, width=100 - len(head), sort_dicts=False)
    return HEADER + head + text.replace("\n", "\n" + " " * len(head)) + "\n"


def write_schema_data():
    """Return the path of schema_data.py after regenerating it from the JSON schema."""
    with open(SCHEMA_JSON, encoding="utf-8") as f:
        schema = json.load(f)
    with open(SCHEMA_PY, "w", encoding="utf-8") as f:
        f.write(render_schema_data(schema))
    return SCHEMA_PY



def load_json_schema():
    """Return the schema as the JSON file has it."""
    with open(SCHEMA_JSON, encoding="utf-8") as f:
        return json.load(f)


def _engine():
    """Return the engine modules under test (imported late: this file also runs as a script)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import jsonschema_lite
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as profile, schema_data

    return jsonschema_lite, profile, schema_data


def test_schema_data_matches_json():
    """The engine's copy equals schemas/profile.schema.json (run this file as a script to regenerate)."""
    _, _, schema_data = _engine()
    assert schema_data.SCHEMA == load_json_schema()
    with open(SCHEMA_PY, encoding="utf-8") as f:
        assert f.read() == render_schema_data(load_json_schema()), "stale: run python3 tests/unit/test_schema.py"


def test_no_field_is_documented_as_not_acted_on():
    """Every field the schema accepts is acted on: none is described as reserved for later (mimic, on_busy...)."""
    for where, name, sub in _properties(load_json_schema()):
        text = (sub.get("title", "") + " " + sub.get("description", "")).lower()
        assert "reserved" not in text and "not acted on" not in text, where


def test_schema_is_valid_2020_12():
    """The schema itself is valid under the JSON Schema 2020-12 meta-schema."""
    jsonschema.Draft202012Validator.check_schema(load_json_schema())


def _properties(schema, where="#"):
    """Yield (where, name, subschema) for every named property anywhere in the schema."""
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            if sub != {"$ref": "#/$defs/forbidden"}:
                yield "%s/properties/%s" % (where, name), name, sub
        for key in ("$defs",):
            for name, sub in schema.get(key, {}).items():
                yield from _properties(sub, "%s/%s/%s" % (where, key, name))


def test_every_property_is_documented():
    """Every field of the profile and of an entry has a title and a description (docs draw from them)."""
    found = list(_properties(load_json_schema()))
    assert len(found) >= 20
    for where, _, sub in found:
        assert sub.get("title") and sub.get("description"), where


def test_docs_cover_every_field():
    """docs/profile.md has a section for every field the schema defines."""
    with open(os.path.join(ROOT, "docs", "profile.md"), encoding="utf-8") as f:
        doc = f.read()
    for where, name, _ in _properties(load_json_schema()):
        assert "`%s`" % name in doc, name


def test_type_hints_match_schema():
    """The words the schema refuses as types are exactly those profile.py explains."""
    _, profile, _ = _engine()
    refused = load_json_schema()["$defs"]["entry"]["properties"]["type"]["not"]["enum"]
    assert sorted(refused) == sorted(profile.TYPE_HINTS)


FIXTURES = os.path.join(ROOT, "tests", "fixtures", "profiles")
FIXTURE_FILES = sorted(glob.glob(os.path.join(FIXTURES, "*", "*")))


@functools.lru_cache(maxsize=None)
def validators():
    """Return (jsonschema's validator, jsonschema_lite's validator) for the profile schema, built once."""
    lite, _, schema_data = _engine()
    return jsonschema.Draft202012Validator(load_json_schema()), lite.Validator(schema_data.SCHEMA)


def real_paths(instance):
    """Return the set of failing paths the jsonschema package reports."""
    return {tuple(e.absolute_path) for e in validators()[0].iter_errors(instance)}


def lite_paths(instance):
    """Return the set of failing paths jsonschema_lite reports."""
    return {e.path for e in validators()[1].iter_errors(instance)}


def schema_expectation(path):
    """Return the failing paths a fixture's `# schema:` line announces (good fixtures: none)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# schema: "):
                words = line[len("# schema: "):].split()
                if words == ["valid"]:
                    return set()
                return {tuple(int(p) if p.isdigit() else p for p in w.split("/")[1:]) for w in words}
    return set()


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[os.path.relpath(p, FIXTURES) for p in FIXTURE_FILES])
def test_fixture_against_both_validators(path):
    """Good fixtures pass both validators; bad ones fail at the announced paths, in both."""
    _, profile, _ = _engine()
    with open(path, encoding="utf-8") as f:
        data = profile.load_profile_text(f.read(), path)
    expected = schema_expectation(path)
    assert real_paths(data) == expected
    assert lite_paths(data) == expected


LEAVES = st.one_of(
    st.sampled_from(["/a", "/a/b/", "rel", "", "bind", "tmpfs", "overlay", "symlink", "ext4", "rbind", "Ext4",
                     "0755", "999", "x,y", "private", "rshared", "host", "fresh", "detach", "continue", "web"]),
    st.integers(-2, 5000), st.sampled_from([1.0, 1.5, 2 ** 32, 0o755]), st.booleans(), st.none(),
)
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["target", "x"]), inner, max_size=2), max_leaves=6)
ENTRY_FIELDS = ["target", "type", "source", "recursive", "options", "propagation", "lower", "data", "upper",
                "work", "mkdir", "mode", "uid", "gid", "mimic", "on_busy", "source_namespace", "upper_policy",
                "bogus"]
BASES = [
    {"target": "/t", "type": "bind", "source": "/s", "options": ["ro"]},
    {"target": "/t", "type": "tmpfs", "options": ["size=1m"], "mode": "0755"},
    {"target": "/t", "type": "overlay", "lower": ["/l"], "upper": "/u", "work": "/w"},
    {"target": "/t", "type": "symlink", "source": "x"},
    {"target": "/t", "type": "ext4", "source": "/dev/x", "uid": 1},
]


@st.composite
def near_valid_profiles(draw):
    """Return a valid profile with a few random edits: fields set to odd values, dropped or added."""
    mounts = []
    for _ in range(draw(st.integers(0, 3))):
        e = dict(draw(st.sampled_from(BASES)))
        for _ in range(draw(st.integers(0, 3))):
            name = draw(st.sampled_from(ENTRY_FIELDS))
            if draw(st.integers(0, 4)) == 0:
                e.pop(name, None)
            else:
                e[name] = draw(VALUES)
        mounts.append(e if draw(st.integers(0, 15)) else draw(VALUES))
    data = {"name": "p", "mounts": mounts}
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["name", "mounts", "on_error", "allowed_roots", "description", "extra"]))
        if draw(st.booleans()):
            data.pop(name, None)
        else:
            data[name] = draw(VALUES)
    return data


@settings(max_examples=700, deadline=None)
@given(near_valid_profiles())
def test_lite_agrees_with_jsonschema(data):
    """jsonschema_lite and the jsonschema package agree on validity and failing paths."""
    assert lite_paths(data) == real_paths(data)


class _Str(str):
    """A str subclass (ansible-core tags its strings so): jsonschema_fused leaves it to the generic checks."""


class _List(list):
    """A list subclass."""


class _Dict(dict):
    """A dict subclass."""


KEYWORD_CASES = [
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", None]),
    ({"type": "number"}, [1, 1.5, False, "x"]),
    ({"type": ["string", "null"]}, ["a", None, 0]),
    ({"enum": [1, "a", None]}, [1, 1.0, True, "a", None, "b"]),
    ({"enum": [[1, 2], {"a": 1}]}, [[1, 2], [True, 2], {"a": 1}, {"a": True}, {"a": 1, "b": 2}]),
    ({"const": False}, [False, 0, None]),
    ({"pattern": "^a"}, ["ab", "ba", 5]),
    ({"minLength": 2, "maxLength": 3}, ["a", "ab", "abcd", 7]),
    ({"minimum": 0, "maximum": 10}, [-1, 0, 10, 10.5, True, "5"]),
    ({"exclusiveMinimum": 0, "exclusiveMaximum": 10}, [0, 0.1, 10]),
    ({"items": {"type": "string"}, "minItems": 1, "maxItems": 2}, [[], ["a"], ["a", 1], ["a", "b", "c"], "x"]),
    ({"uniqueItems": True}, [[1, True], [1, 1.0], ["a", "a"], [[1], [1]], [{"a": 1}, {"a": 1}], [0, False]]),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": False, "required": ["a"]},
     [{"a": "x"}, {"a": 1}, {}, {"a": "x", "b": 1}, []]),
    ({"additionalProperties": {"type": "integer"}}, [{"a": 1}, {"a": "x"}]),
    ({"dependentRequired": {"a": ["b", "c"]}}, [{"a": 1}, {"a": 1, "b": 1, "c": 1}, {"b": 1}]),
    ({"anyOf": [{"type": "string"}, {"minimum": 2}]}, ["x", 3, 1]),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, [1, 3, 1.5, "x"]),
    ({"not": {"type": "string"}}, ["x", 1]),
    ({"if": {"minimum": 5}, "then": {"maximum": 7}, "else": {"const": 1}}, [6, 8, 1, 2, "x"]),
    ({"$defs": {"s": {"type": "string"}}, "items": {"$ref": "#/$defs/s"}}, [["a"], [1, "b", 2]]),
    ({"properties": {"a": {"not": {}}, "b": True}}, [{"a": 1}, {"b": 1}]),
    ({"allOf": [{"type": "object"}, {"required": ["x"]}]}, [{}, [], {"x": 1}]),
    # What jsonschema_fused checks in one closure, with subclass instances that take the generic way.
    ({"type": "string", "pattern": "^a", "minLength": 2, "maxLength": 3, "not": {"enum": ["abc"]}},
     ["ab", "a", "abc", "abcd", "ba", 5, _Str("ab"), _Str("b")]),
    ({"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "maxItems": 2,
      "uniqueItems": True}, [[], ["a"], ["a", "a"], ["a", ""], ["a", "b", "c"], "x", _List(["a"]), _List([1])]),
    ({"$defs": {"f": {"not": {}}, "base": {"properties": {"x": {"$ref": "#/$defs/f"}, "t": {"minLength": 2}},
                                           "required": ["t"]}},
      "type": "object", "$ref": "#/$defs/base", "additionalProperties": False, "dependentRequired": {"u": ["t"]},
      "properties": {"t": {"type": "string"}, "u": {"minimum": 1}, "x": True}},
     [{"t": "ab"}, {"t": "a"}, {"t": "ab", "x": 1}, {"u": 2}, {"t": "ab", "u": 0}, {"t": 1}, {"v": 1, "t": "ab"},
      _Dict({"t": "ab"}), _Dict({"t": "ab", "x": 1}), []]),
    ({"allOf": [{"if": {"properties": {"k": {"const": "a"}}, "required": ["k"]}, "then": {"required": ["x"]}},
                {"if": {"properties": {"k": {"not": {"enum": ["a"]}}}, "required": ["k"]},
                 "then": {"required": ["y"]}, "else": {"required": ["z"]}}]},
     [{"k": "a", "x": 1}, {"k": "a", "y": 1, "z": 1}, {"k": "b", "y": 1}, {"k": "b"}, {"k": 5, "y": 1}, {"z": 1},
      {}, [], "a", _Dict({"k": "a"}), {"k": _Str("a"), "x": 1}]),
]


@pytest.mark.parametrize("schema, instances", KEYWORD_CASES, ids=["%02d-%s" % (i, "-".join(sorted(s)))
                                                                  for i, (s, _) in enumerate(KEYWORD_CASES)])
def test_lite_keyword_agrees(schema, instances):
    """Each supported keyword gives the jsonschema package's verdict and paths on tricky values."""
    lite, _, _ = _engine()
    for instance in instances:
        real = jsonschema.Draft202012Validator(schema)
        want = {tuple(e.absolute_path) for e in real.iter_errors(instance)}
        assert {e.path for e in lite.Validator(schema).iter_errors(instance)} == want, (schema, instance)
        assert lite.Validator(schema).is_valid(instance) == real.is_valid(instance), (schema, instance)


def test_lite_branches_chosen_for_many_values():
    """An allOf of if/then on one property keeps judging right past the values it remembers (64)."""
    lite, _, _ = _engine()
    schema = {"allOf": [{"if": {"properties": {"k": {"pattern": "1$"}}, "required": ["k"]}, "then": {"required": ["x"]}},
                        {"if": {"properties": {"k": {"const": "w"}}, "required": ["k"]}, "then": False}]}
    real, mine = jsonschema.Draft202012Validator(schema), lite.Validator(schema)
    for instance in [{"k": "v%d" % i} for i in range(150)] + [{"k": "v%d" % i, "x": 0} for i in range(150)] + [
            {"k": "w"}, {"k": "w", "x": 0}]:
        assert mine.is_valid(instance) == real.is_valid(instance), instance
        assert {e.path for e in mine.iter_errors(instance)} == {tuple(e.absolute_path) for e in
                                                                real.iter_errors(instance)}, instance


def test_lite_false_property_keeps_its_key():
    """A `false` property schema is reported at the property (jsonschema drops the key; the
    profile schema therefore spells "forbidden" as `not: {}`, where both agree)."""
    lite, _, _ = _engine()
    (err,) = lite.Validator({"properties": {"a": False}}).iter_errors({"a": 1})
    assert (err.path, err.keyword, err.message) == (("a",), "false", "is not allowed here")


@pytest.mark.parametrize(
    "schema, text",
    [
        ({"patternProperties": {"^x": {}}}, "unsupported keyword patternProperties"),
        ({"items": {"format": "uri"}}, "at #/items: unsupported keyword format"),
        ({"$ref": "other.json#/x"}, "only references inside the schema"),
        ({"$ref": "#/$defs/missing"}, "cannot resolve #/$defs/missing"),
        ({"properties": {"a": 5}}, "not an object or boolean"),
    ],
    ids=["patternProperties", "format", "remote-ref", "missing-ref", "non-schema"],
)
def test_lite_refuses_what_it_cannot_check(schema, text):
    """A schema using anything jsonschema_lite does not implement is refused up front."""
    lite, _, _ = _engine()
    with pytest.raises(ValueError) as info:
        lite.Validator(schema)
    assert text in str(info.value)


def test_lite_validate_gives_pointer_and_message():
    """validate() returns (JSON pointer, message) pairs; keys with / and ~ are escaped."""
    lite, _, _ = _engine()
    v = lite.Validator({"properties": {"a/b~": {"type": "string"}}, "required": ["c"]})
    assert v.validate({"a/b~": 1}) == [("/a~1b~0", "must be a string, not a number (1)"), ("", "is required")]
    assert v.validate({"c": 1}) == []


if __name__ == "__main__":
    sys.stdout.write("wrote %s\n" % write_schema_data())
