"""The keywords jsonschema_lite compiles: one function per assertion keyword, each giving an (ok, errs) pair.

`_kw_NAME(v, val, schema)` compiles keyword NAME with value `val` of
subschema `schema` for Validator `v` (whose `_compile` it calls for
subschemas): `ok(inst)` stops at the first failure, `errs(inst, path, out)`
appends every Error. KEYWORDS maps each supported keyword to its function;
the keyword sets name what jsonschema_fused checks in one closure.
"""


from ..profile.jsonschema_fused import always as _always
from ..profile.jsonschema_fused import never as _never
from ..profile.jsonschema_fused import dispatch_ok
from ..profile.jsonschema_values import TYPE_NAMES, Error, describe, equal, first_repeat, is_type


def no_errors(inst, path, out):
    return None


def require_all(parts):
    """Return (ok, errs) requiring every (ok, errs) pair of `parts`, errors in their order."""
    parts = [p for p in parts if p[0] is not _always]
    if not parts:
        return _always, no_errors
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
    want = " or ".join(TYPE_NAMES[n] for n in names)
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
        return require_all([])
    return _simple(lambda inst: not isinstance(inst, list) or not first_repeat(inst)[0],
                   lambda inst, path: Error(path, "must not repeat an item: %s appears twice"
                                            % describe(first_repeat(inst)[1]), "uniqueItems", None))


def _kw_properties(v, val, schema):
    subs = tuple((name,) + v._compile(sub) for name, sub in val.items())
    checked = {name: sub_ok for name, sub_ok, _errors in subs if sub_ok is not _always}
    if not checked:
        return _always, no_errors
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
    ok, errs = require_all([v._compile(sub) for sub in val])
    found = _discriminator(v, val)
    if found is not None:
        ok = dispatch_ok(ok, *found)
    return ok, errs


def _discriminator(v, val):
    """Return (P, [(S's predicate, then's, else's)]) when every item of allOf `val` is `if: {properties: {P: S},
    required: [P]}` with then/else, the same P throughout (the entry's type); None otherwise."""
    prop, branches = None, []
    for sub in val:
        cond = sub.get("if") if isinstance(sub, dict) and assertions(sub) == {"if"} else None
        if not isinstance(cond, dict) or assertions(cond) != {"properties", "required"}:
            return None
        names = list(cond["properties"])
        if len(names) != 1 or cond["required"] != names or prop not in (None, names[0]):
            return None
        prop = names[0]
        branches.append((v._compile(cond["properties"][prop])[0],
                         v._compile(sub["then"])[0] if "then" in sub else _always,
                         v._compile(sub["else"])[0] if "else" in sub else _always))
    return (prop, branches) if branches else None


def assertions(schema):
    """Return the set of keywords of `schema` that assert something (annotations and then/else left out)."""
    return {kw for kw in schema if kw in KEYWORDS}


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
    then = v._compile(schema["then"]) if "then" in schema else require_all([])
    other = v._compile(schema["else"]) if "else" in schema else require_all([])

    def ok(inst):
        return (then if cond(inst) else other)[0](inst)

    def errs(inst, path, out):
        (then if cond(inst) else other)[1](inst, path, out)
    return ok, errs


def _kw_ref(v, val, schema):
    return v._compile(v._resolve(val))


UNBOUNDED = float("inf")  # no maxLength, no maxItems
# The keywords jsonschema_fused checks in one closure, by the type they are about.
STRING_KEYWORDS = frozenset({"type", "pattern", "minLength", "maxLength"})
ARRAY_KEYWORDS = frozenset({"type", "items", "minItems", "maxItems"})
OBJECT_KEYWORDS = frozenset({"type", "properties", "additionalProperties", "required", "dependentRequired"})
OPEN_OBJECT_KEYWORDS = frozenset({"properties", "required", "dependentRequired"})  # what merged_spec can merge

KEYWORDS = {
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
