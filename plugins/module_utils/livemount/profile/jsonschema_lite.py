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

from ..profile.jsonschema_fused import always as _always
from ..profile.jsonschema_fused import never as _never
from ..profile.jsonschema_fused import array_ok, conjunction, dispatch_ok, merged_spec, object_ok, string_ok

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
    """A compiled schema; `iter_errors(instance)` yields every Error, `validate` lists them.

    The schema is compiled once into closures, two per subschema: `ok(inst)`,
    a predicate that stops at the first failure, and `errs(inst, path, out)`,
    which appends every Error. Collections call a child's `errs` only when
    its `ok` is False, so a valid instance (the common case) never builds a
    path or an error: interpreting the schema keyword by keyword per entry
    cost 60% of loading a 10,000-entry profile. A subschema's `ok` is then
    fused where its keywords allow (jsonschema_fused): one closure for a
    string, array or object subschema instead of one call per keyword.
    """

    def __init__(self, schema):
        self.schema = schema
        self._regex = {}
        self._check_keywords(schema, "#")
        self._cells = {}  # id(subschema) -> (subschema, [ok, errs]): compiled once, shared by every $ref to it
        self._root = self._compile(schema)

    # ---- public -------------------------------------------------------------
    def iter_errors(self, instance):
        """Return an iterator over every Error of `instance`, in schema keyword order."""
        ok, errs = self._root
        out = []
        if not ok(instance):
            errs(instance, (), out)
        return iter(out)

    def validate(self, instance):
        """Return every error as (json_pointer, message); an empty list means valid."""
        return [(pointer(e.path), e.message) for e in self.iter_errors(instance)]

    def is_valid(self, instance, schema=None):
        """Return True if `instance` satisfies `schema` (the root schema by default)."""
        return (self._root if schema is None else self._compile(schema))[0](instance)

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

    # ---- compiling ----------------------------------------------------------
    def _compile(self, schema):
        """Return (ok, errs) of `schema`; a recursive $ref goes through the cell filled once compiled."""
        known = self._cells.get(id(schema))
        if known is not None:
            cell = known[1]
            if cell[0] is None:  # still being compiled: a $ref back to an enclosing schema
                # Look the cell up at call time, when it holds the compiled functions.
                def check_late(inst):
                    return cell[0](inst)

                def errors_late(inst, path, out):
                    return cell[1](inst, path, out)

                return check_late, errors_late
            return cell[0], cell[1]
        cell = [None, None]
        self._cells[id(schema)] = (schema, cell)  # the schema kept alive: its id stays its own
        if schema is True:
            cell[:] = [_always, _no_errors]
        elif schema is False:
            cell[:] = [_never,
                       lambda inst, path, out: out.append(Error(path, "is not allowed here", "false", None))]
        else:
            oks = {}
            parts = []
            for kw, val in schema.items():
                if kw in _KEYWORDS:
                    parts.append(_KEYWORDS[kw](self, val, schema))
                    oks[kw] = parts[-1][0]
            generic, errs = _all(parts)
            cell[:] = [self._fused(schema, oks, generic), errs]
        return cell[0], cell[1]

    def _fused(self, schema, oks, generic):
        """Return a predicate giving `generic`'s verdicts (`oks`: each keyword's), fused for a typed subschema."""
        kind = schema.get("type")
        if kind == "string":
            rest = conjunction(ok for kw, ok in oks.items() if kw not in _STRING_KEYWORDS)
            search = self._compiled(schema["pattern"]).search if "pattern" in schema else None
            return string_ok(generic, search, schema.get("minLength", 0), schema.get("maxLength", _UNBOUNDED), rest)
        if kind == "array":
            rest = conjunction(ok for kw, ok in oks.items() if kw not in _ARRAY_KEYWORDS)
            item_ok = self._compile(schema["items"])[0] if "items" in schema else _always
            return array_ok(generic, schema.get("minItems", 0), schema.get("maxItems", _UNBOUNDED), item_ok, rest)
        if kind == "object" or (kind is None and not _OBJECT_KEYWORDS.isdisjoint(oks)):
            spec = self._object_spec(schema)
            rest = [kw for kw in oks if kw not in _OBJECT_KEYWORDS]
            ref = self._resolve(schema["$ref"]) if "$ref" in oks else None
            if isinstance(ref, dict) and _assertions(ref) <= _OPEN_OBJECT_KEYWORDS:
                # A $ref to an object's fields alone (the entry's no_layers): checked in the same closure.
                spec = merged_spec(spec, self._object_spec(ref))
                rest.remove("$ref")
            return object_ok(generic, spec, conjunction(oks[kw] for kw in rest))
        return generic

    def _object_spec(self, schema):
        """Return the object keywords of `schema` compiled for jsonschema_fused.object_ok."""
        properties = schema.get("properties", {})
        checked, forbidden = {}, set()
        for name, sub in properties.items():
            sub_ok = self._compile(sub)[0]
            if sub_ok is _never:
                forbidden.add(name)
            elif sub_ok is not _always:
                checked[name] = sub_ok
        additional = schema.get("additionalProperties", True)
        extra = None if additional is False else self._compile(additional)[0]
        return {"names": frozenset(properties), "closed": additional is False,
                "extra": None if extra is _always else extra, "required": frozenset(schema.get("required", ())),
                "checked": checked, "forbidden": frozenset(forbidden),
                "dependent": tuple((name, frozenset(needs))
                                   for name, needs in schema.get("dependentRequired", {}).items())}


def _no_errors(inst, path, out):
    return None


def _all(parts):
    """Return (ok, errs) requiring every (ok, errs) pair of `parts`, errors in their order."""
    parts = [p for p in parts if p[0] is not _always]
    if not parts:
        return _always, _no_errors
    if len(parts) == 1:
        return parts[0]
    oks = tuple(p[0] for p in parts)
    if len(oks) == 2:
        first, second = oks

        def ok(inst):
            return first(inst) and second(inst)
    else:
        def ok(inst):
            for f in oks:
                if not f(inst):
                    return False
            return True

    def errs(inst, path, out):
        for f, e in parts:
            if not f(inst):
                e(inst, path, out)

    return ok, errs


def _simple(test, error):
    """Return (ok, errs) of a keyword that fails with one Error, `error(inst, path)`, where `test` is False."""
    def errs(inst, path, out):
        out.append(error(inst, path))
    return test, errs


def _type_test(names):
    if names == ["object"]:
        return lambda inst: isinstance(inst, dict)
    if names == ["array"]:
        return lambda inst: isinstance(inst, list)
    if names == ["string"]:
        return lambda inst: isinstance(inst, str)
    if names == ["boolean"]:
        return lambda inst: isinstance(inst, bool)
    for n in names:
        is_type(None, n)  # unknown names fail now, not per instance
    return lambda inst: any(is_type(inst, n) for n in names)


def _kw_type(v, val, schema):
    names = [val] if isinstance(val, str) else list(val)
    want = " or ".join(_TYPE_NAMES[n] for n in names)
    return _simple(_type_test(names),
                   lambda inst, path: Error(path, "must be %s, not %s" % (want, describe(inst)), "type", None))


def _kw_enum(v, val, schema):
    text = ", ".join(str(x) for x in val)
    if all(isinstance(x, str) for x in val):
        # equal() of a string is ==: a set lookup, for strings only (1 is not "1", True is not a string).
        words = frozenset(val)

        def test(inst):
            return isinstance(inst, str) and inst in words
    else:
        def test(inst):
            return any(equal(inst, x) for x in val)
    return _simple(test, lambda inst, path: Error(path, "must be one of %s, not %s" % (text, describe(inst)),
                                                  "enum", None))


def _kw_const(v, val, schema):
    # equal() of a string is ==, whatever the other side.
    return _simple((lambda inst: inst == val) if isinstance(val, str) else (lambda inst: equal(inst, val)),
                   lambda inst, path: Error(path, "must be %r, not %s" % (val, describe(inst)), "const", None))


def _kw_pattern(v, val, schema):
    search = v._compiled(val).search
    return _simple(lambda inst: not isinstance(inst, str) or search(inst) is not None,
                   lambda inst, path: Error(path, "must match %s, not %s" % (val, describe(inst)), "pattern", None))


def _kw_min_length(v, val, schema):
    msg = "must not be empty" if val == 1 else "must be at least %d characters long" % val
    return _simple(lambda inst: not isinstance(inst, str) or len(inst) >= val,
                   lambda inst, path: Error(path, msg, "minLength", None))


def _kw_max_length(v, val, schema):
    return _simple(lambda inst: not isinstance(inst, str) or len(inst) <= val,
                   lambda inst, path: Error(path, "must be at most %d characters long, not %d" % (val, len(inst)),
                                            "maxLength", None))


def _number(inst):
    return isinstance(inst, (int, float)) and not isinstance(inst, bool)


def _bound(keyword, holds, words):
    def compile_(v, val, schema):
        return _simple(lambda inst: not _number(inst) or holds(inst, val),
                       lambda inst, path: Error(path, "must be %s %s, not %s" % (words, val, inst), keyword, None))
    return compile_


_kw_minimum = _bound("minimum", lambda a, b: a >= b, "at least")
_kw_maximum = _bound("maximum", lambda a, b: a <= b, "at most")
_kw_exclusive_minimum = _bound("exclusiveMinimum", lambda a, b: a > b, "more than")
_kw_exclusive_maximum = _bound("exclusiveMaximum", lambda a, b: a < b, "less than")


def _kw_items(v, val, schema):
    sub_ok, sub_errs = v._compile(val)

    def ok(inst):
        if isinstance(inst, list):
            for item in inst:
                if not sub_ok(item):
                    return False
        return True

    def errs(inst, path, out):
        for i, item in enumerate(inst):
            if not sub_ok(item):
                sub_errs(item, path + (i,), out)

    return ok, errs


def _count(keyword, holds, words):
    def compile_(v, val, schema):
        msg = "must have %s %d item%s" % (words, val, "" if val == 1 else "s")
        return _simple(lambda inst: not isinstance(inst, list) or holds(len(inst), val),
                       lambda inst, path: Error(path, msg, keyword, None))
    return compile_


_kw_min_items = _count("minItems", lambda a, b: a >= b, "at least")
_kw_max_items = _count("maxItems", lambda a, b: a <= b, "at most")


def _kw_unique_items(v, val, schema):
    if not val:
        return _all([])
    return _simple(lambda inst: not isinstance(inst, list) or not _first_repeat(inst)[0],
                   lambda inst, path: Error(path, "must not repeat an item: %s appears twice"
                                            % describe(_first_repeat(inst)[1]), "uniqueItems", None))


def _kw_properties(v, val, schema):
    subs = tuple((name,) + v._compile(sub) for name, sub in val.items())
    checked = {name: sub_ok for name, sub_ok, _errors in subs if sub_ok is not _always}
    if not checked:
        return _always, _no_errors
    if len(checked) == 1:
        ((only, only_ok),) = checked.items()

        def ok(inst):
            return not isinstance(inst, dict) or only not in inst or only_ok(inst[only])
    else:
        ok = _properties_ok(checked)

    def errs(inst, path, out):
        for name, sub_ok, sub_errs in subs:
            if name in inst and not sub_ok(inst[name]):
                sub_errs(inst[name], path + (name,), out)

    return ok, errs


def _properties_ok(checked):
    """Return the predicate of a `properties` keyword checking several: `checked` maps names to predicates."""
    def ok(inst):
        if isinstance(inst, dict):
            for name in inst:  # an instance has a few of the many properties a schema may list
                sub_ok = checked.get(name)
                if sub_ok is not None and not sub_ok(inst[name]):
                    return False
        return True
    return ok


def _kw_additional(v, val, schema):
    known = frozenset(schema.get("properties", {}))
    if val is False:
        def ok(inst):
            return not isinstance(inst, dict) or all(name in known for name in inst)

        def errs(inst, path, out):
            out.extend(Error(path, "unknown field", "additionalProperties", name) for name in inst if name not in known)
        return ok, errs
    sub_ok, sub_errs = v._compile(val)

    def ok(inst):  # noqa: F811 - the other branch's
        return not isinstance(inst, dict) or all(sub_ok(inst[n]) for n in inst if n not in known)

    def errs(inst, path, out):  # noqa: F811
        for name in inst:
            if name not in known and not sub_ok(inst[name]):
                sub_errs(inst[name], path + (name,), out)
    return ok, errs


def _kw_required(v, val, schema):
    if len(val) == 1:
        (only,) = val

        def ok(inst):
            return not isinstance(inst, dict) or only in inst
    else:
        def ok(inst):
            return not isinstance(inst, dict) or all(name in inst for name in val)

    def errs(inst, path, out):
        out.extend(Error(path, "is required", "required", name) for name in val if name not in inst)
    return ok, errs


def _kw_dependent_required(v, val, schema):
    def ok(inst):
        return not isinstance(inst, dict) or all(o in inst for n, needs in val.items() if n in inst for o in needs)

    def errs(inst, path, out):
        for name, needs in val.items():
            if name in inst:
                out.extend(Error(path, "needs %s as well" % other, "dependentRequired", name)
                           for other in needs if other not in inst)
    return ok, errs


def _kw_all_of(v, val, schema):
    ok, errs = _all([v._compile(sub) for sub in val])
    found = _discriminator(v, val)
    if found is not None:
        ok = dispatch_ok(ok, *found)
    return ok, errs


def _discriminator(v, val):
    """Return (P, [(S's predicate, then's, else's)]) when every item of allOf `val` is `if: {properties: {P: S},
    required: [P]}` with then/else, the same P throughout (the entry's type); None otherwise."""
    prop, branches = None, []
    for sub in val:
        cond = sub.get("if") if isinstance(sub, dict) and _assertions(sub) == {"if"} else None
        if not isinstance(cond, dict) or _assertions(cond) != {"properties", "required"}:
            return None
        names = list(cond["properties"])
        if len(names) != 1 or cond["required"] != names or prop not in (None, names[0]):
            return None
        prop = names[0]
        branches.append((v._compile(cond["properties"][prop])[0],
                         v._compile(sub["then"])[0] if "then" in sub else _always,
                         v._compile(sub["else"])[0] if "else" in sub else _always))
    return (prop, branches) if branches else None


def _assertions(schema):
    """Return the set of keywords of `schema` that assert something (annotations and then/else left out)."""
    return {kw for kw in schema if kw in _KEYWORDS}


def _kw_any_of(v, val, schema):
    oks = tuple(v._compile(sub)[0] for sub in val)
    return _simple(lambda inst: any(f(inst) for f in oks),
                   lambda inst, path: Error(path, "must match one of the allowed forms", "anyOf", None))


def _kw_one_of(v, val, schema):
    oks = tuple(v._compile(sub)[0] for sub in val)
    return _simple(lambda inst: sum(1 for f in oks if f(inst)) == 1,
                   lambda inst, path: Error(path, "must match exactly one of the allowed forms, not %d"
                                            % sum(1 for f in oks if f(inst)), "oneOf", None))


def _kw_not(v, val, schema):
    sub_ok = v._compile(val)[0]
    if sub_ok is _always:
        # `not: {}` (a forbidden field): fails for every value, no need to ask the empty schema.
        text = "is not allowed here" if val is True or val == {} else "must not match the excluded form"
        return _never, (lambda inst, path, out: out.append(Error(path, text, "not", None)))
    if val is True or val == {}:
        msg = None
    elif isinstance(val, dict) and "enum" in val:
        msg = "must not be %s"
    else:
        msg = "must not match the excluded form"
    return _simple(lambda inst: not sub_ok(inst),
                   lambda inst, path: Error(path, "is not allowed here" if msg is None else
                                            msg % describe(inst) if "%s" in msg else msg, "not", None))


def _kw_if(v, val, schema):
    cond = v._compile(val)[0]
    then = v._compile(schema["then"]) if "then" in schema else _all([])
    other = v._compile(schema["else"]) if "else" in schema else _all([])

    def ok(inst):
        return (then if cond(inst) else other)[0](inst)

    def errs(inst, path, out):
        (then if cond(inst) else other)[1](inst, path, out)
    return ok, errs


def _kw_ref(v, val, schema):
    return v._compile(v._resolve(val))


_UNBOUNDED = float("inf")  # no maxLength, no maxItems
# The keywords jsonschema_fused checks in one closure, by the type they are about.
_STRING_KEYWORDS = frozenset({"type", "pattern", "minLength", "maxLength"})
_ARRAY_KEYWORDS = frozenset({"type", "items", "minItems", "maxItems"})
_OBJECT_KEYWORDS = frozenset({"type", "properties", "additionalProperties", "required", "dependentRequired"})
_OPEN_OBJECT_KEYWORDS = frozenset({"properties", "required", "dependentRequired"})  # what merged_spec can merge

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
