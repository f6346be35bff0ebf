"""A small JSON Schema (2020-12) validator for the keyword subset the profile schema uses.

The engine runs on managed hosts with the standard library only, so it cannot
use the `jsonschema` package; tests check that both agree on every fixture and
on generated near-valid profiles (same verdict, same set of failing paths).

Supported: type, enum, const, pattern, minLength, maxLength, minimum, maximum,
exclusiveMinimum, exclusiveMaximum, items, minItems, maxItems, uniqueItems,
properties, additionalProperties, required, dependentRequired, allOf, anyOf,
oneOf, not, if/then/else, $ref to the same document, boolean schemas.
Any other assertion keyword makes the Validator refuse the schema, so a
schema change can never be silently ignored here.

Where an error is reported follows the `jsonschema` package: `required`,
`additionalProperties` and `dependentRequired` at the object, `anyOf`/
`oneOf`/`not` at the instance, everything else at the value it is about.
"""

import re
from collections import namedtuple

# An error: `path` is a tuple of keys/indexes; `keyword` the failing keyword;
# `key` the property concerned for object-level errors (missing, unknown or
# needing another field), else None.
Error = namedtuple("Error", "path message keyword key")

ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples",
     "deprecated", "readOnly", "writeOnly", "then", "else"}
)

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def pointer(path):
    """Return `path` (a tuple of keys and indexes) as a JSON pointer string ('' for the root)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def is_type(value, name):
    """Return True if `value` is of JSON type `name` (booleans are not numbers; 1.0 is an integer)."""
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "number":
        return isinstance(value, (int, float))
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    raise ValueError("cannot check type %r: unknown JSON type" % name)


def describe(value):
    """Return a short phrase naming what `value` is, for messages ("a string ('x')")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return "a string (%r)" % shown
    if isinstance(value, (int, float)):
        return "a number (%r)" % value
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a %s" % type(value).__name__


def equal(a, b):
    """Return True if two JSON values are equal the JSON way (true is not 1, 1 is 1.0)."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    return a == b


def _first_repeat(items):
    """Return (True, item) for the first item equal to an earlier one, else (False, None)."""
    if all(isinstance(x, str) for x in items):
        seen = set()
        for x in items:
            if x in seen:
                return True, x
            seen.add(x)
        return False, None
    for i, x in enumerate(items):
        for y in items[:i]:
            if equal(x, y):
                return True, x
    return False, None


class Validator:
    """A compiled schema; `iter_errors(instance)` yields every Error, `validate` lists them."""

    def __init__(self, schema):
        self.schema = schema
        self._regex = {}
        self._check_keywords(schema, "#")

    # ---- public -------------------------------------------------------------
    def iter_errors(self, instance):
        """Return an iterator over every Error of `instance`, in schema keyword order."""
        return self._errors(self.schema, instance, ())

    def validate(self, instance):
        """Return every error as (json_pointer, message); an empty list means valid."""
        return [(pointer(e.path), e.message) for e in self.iter_errors(instance)]

    def is_valid(self, instance, schema=None):
        """Return True if `instance` satisfies `schema` (the root schema by default)."""
        return next(self._errors(self.schema if schema is None else schema, instance, ()), None) is None

    # ---- schema checking ----------------------------------------------------
    def _check_keywords(self, schema, where):
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            raise ValueError("cannot use schema at %s: not an object or boolean" % where)
        for kw, val in schema.items():
            if kw not in _KEYWORDS and kw not in ANNOTATIONS:
                raise ValueError("cannot use schema at %s: unsupported keyword %s" % (where, kw))
            if kw in ("properties", "$defs"):
                for name, sub in val.items():
                    self._check_keywords(sub, "%s/%s/%s" % (where, kw, name))
            elif kw in ("items", "additionalProperties", "not", "if", "then", "else"):
                self._check_keywords(val, "%s/%s" % (where, kw))
            elif kw in ("allOf", "anyOf", "oneOf"):
                for i, sub in enumerate(val):
                    self._check_keywords(sub, "%s/%s/%d" % (where, kw, i))
            elif kw == "pattern":
                self._compiled(val)
            elif kw == "$ref":
                self._resolve(val)

    def _compiled(self, pattern):
        rx = self._regex.get(pattern)
        if rx is None:
            rx = self._regex[pattern] = re.compile(pattern)
        return rx

    def _resolve(self, ref):
        """Return the subschema a local `#/...` reference names."""
        if not ref.startswith("#"):
            raise ValueError("cannot resolve %s: only references inside the schema are supported" % ref)
        node = self.schema
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise ValueError("cannot resolve %s: no %s" % (ref, part))
            node = node[part]
        return node

    # ---- validation ---------------------------------------------------------
    def _errors(self, schema, inst, path):
        if schema is True:
            return
        if schema is False:
            yield Error(path, "is not allowed here", "false", None)
            return
        for kw, val in schema.items():
            fn = _KEYWORDS.get(kw)
            if fn is not None:
                yield from fn(self, val, inst, path, schema)


def _kw_type(v, val, inst, path, schema):
    names = [val] if isinstance(val, str) else val
    if not any(is_type(inst, n) for n in names):
        want = " or ".join(_TYPE_NAMES[n] for n in names)
        yield Error(path, "must be %s, not %s" % (want, describe(inst)), "type", None)


def _kw_enum(v, val, inst, path, schema):
    if not any(equal(inst, x) for x in val):
        yield Error(path, "must be one of %s, not %s" % (", ".join(str(x) for x in val), describe(inst)), "enum", None)


def _kw_const(v, val, inst, path, schema):
    if not equal(inst, val):
        yield Error(path, "must be %r, not %s" % (val, describe(inst)), "const", None)


def _kw_pattern(v, val, inst, path, schema):
    if isinstance(inst, str) and not v._compiled(val).search(inst):
        yield Error(path, "must match %s, not %s" % (val, describe(inst)), "pattern", None)


def _kw_min_length(v, val, inst, path, schema):
    if isinstance(inst, str) and len(inst) < val:
        msg = "must not be empty" if val == 1 else "must be at least %d characters long" % val
        yield Error(path, msg, "minLength", None)


def _kw_max_length(v, val, inst, path, schema):
    if isinstance(inst, str) and len(inst) > val:
        yield Error(path, "must be at most %d characters long, not %d" % (val, len(inst)), "maxLength", None)


def _number(inst):
    return isinstance(inst, (int, float)) and not isinstance(inst, bool)


def _kw_minimum(v, val, inst, path, schema):
    if _number(inst) and inst < val:
        yield Error(path, "must be at least %s, not %s" % (val, inst), "minimum", None)


def _kw_maximum(v, val, inst, path, schema):
    if _number(inst) and inst > val:
        yield Error(path, "must be at most %s, not %s" % (val, inst), "maximum", None)


def _kw_exclusive_minimum(v, val, inst, path, schema):
    if _number(inst) and inst <= val:
        yield Error(path, "must be more than %s, not %s" % (val, inst), "exclusiveMinimum", None)


def _kw_exclusive_maximum(v, val, inst, path, schema):
    if _number(inst) and inst >= val:
        yield Error(path, "must be less than %s, not %s" % (val, inst), "exclusiveMaximum", None)


def _kw_items(v, val, inst, path, schema):
    if isinstance(inst, list):
        for i, item in enumerate(inst):
            yield from v._errors(val, item, path + (i,))


def _kw_min_items(v, val, inst, path, schema):
    if isinstance(inst, list) and len(inst) < val:
        yield Error(path, "must have at least %d item%s" % (val, "" if val == 1 else "s"), "minItems", None)


def _kw_max_items(v, val, inst, path, schema):
    if isinstance(inst, list) and len(inst) > val:
        yield Error(path, "must have at most %d item%s" % (val, "" if val == 1 else "s"), "maxItems", None)


def _kw_unique_items(v, val, inst, path, schema):
    if val and isinstance(inst, list):
        repeated, item = _first_repeat(inst)
        if repeated:
            yield Error(path, "must not repeat an item: %s appears twice" % describe(item), "uniqueItems", None)


def _kw_properties(v, val, inst, path, schema):
    if isinstance(inst, dict):
        for name, sub in val.items():
            if name in inst:
                yield from v._errors(sub, inst[name], path + (name,))


def _kw_additional(v, val, inst, path, schema):
    if not isinstance(inst, dict):
        return
    known = schema.get("properties", {})
    for name in inst:
        if name in known:
            continue
        if val is False:
            yield Error(path, "unknown field", "additionalProperties", name)
        else:
            yield from v._errors(val, inst[name], path + (name,))


def _kw_required(v, val, inst, path, schema):
    if isinstance(inst, dict):
        for name in val:
            if name not in inst:
                yield Error(path, "is required", "required", name)


def _kw_dependent_required(v, val, inst, path, schema):
    if isinstance(inst, dict):
        for name, needs in val.items():
            if name in inst:
                for other in needs:
                    if other not in inst:
                        yield Error(path, "needs %s as well" % other, "dependentRequired", name)


def _kw_all_of(v, val, inst, path, schema):
    for sub in val:
        yield from v._errors(sub, inst, path)


def _kw_any_of(v, val, inst, path, schema):
    if not any(v.is_valid(inst, sub) for sub in val):
        yield Error(path, "must match one of the allowed forms", "anyOf", None)


def _kw_one_of(v, val, inst, path, schema):
    matches = sum(1 for sub in val if v.is_valid(inst, sub))
    if matches != 1:
        yield Error(path, "must match exactly one of the allowed forms, not %d" % matches, "oneOf", None)


def _kw_not(v, val, inst, path, schema):
    if v.is_valid(inst, val):
        if val is True or val == {}:
            msg = "is not allowed here"
        elif isinstance(val, dict) and "enum" in val:
            msg = "must not be %s" % describe(inst)
        else:
            msg = "must not match the excluded form"
        yield Error(path, msg, "not", None)


def _kw_if(v, val, inst, path, schema):
    branch = "then" if v.is_valid(inst, val) else "else"
    if branch in schema:
        yield from v._errors(schema[branch], inst, path)


def _kw_ref(v, val, inst, path, schema):
    yield from v._errors(v._resolve(val), inst, path)


_KEYWORDS = {
    "type": _kw_type,
    "enum": _kw_enum,
    "const": _kw_const,
    "pattern": _kw_pattern,
    "minLength": _kw_min_length,
    "maxLength": _kw_max_length,
    "minimum": _kw_minimum,
    "maximum": _kw_maximum,
    "exclusiveMinimum": _kw_exclusive_minimum,
    "exclusiveMaximum": _kw_exclusive_maximum,
    "items": _kw_items,
    "minItems": _kw_min_items,
    "maxItems": _kw_max_items,
    "uniqueItems": _kw_unique_items,
    "properties": _kw_properties,
    "additionalProperties": _kw_additional,
    "required": _kw_required,
    "dependentRequired": _kw_dependent_required,
    "allOf": _kw_all_of,
    "anyOf": _kw_any_of,
    "oneOf": _kw_one_of,
    "not": _kw_not,
    "if": _kw_if,
    "$ref": _kw_ref,
}
