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

from ..profile.jsonschema_fused import always as _always
from ..profile.jsonschema_fused import never as _never
from ..profile.jsonschema_fused import array_ok, conjunction, merged_spec, object_ok, string_ok
from ..profile.jsonschema_keywords import (ARRAY_KEYWORDS, KEYWORDS, OBJECT_KEYWORDS, OPEN_OBJECT_KEYWORDS,
                                           STRING_KEYWORDS, UNBOUNDED, assertions, no_errors, require_all)
from ..profile.jsonschema_values import Error, pointer

ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples",
     "deprecated", "readOnly", "writeOnly", "then", "else"}
)


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
            if kw not in KEYWORDS and kw not in ANNOTATIONS:
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
            cell[:] = [_always, no_errors]
        elif schema is False:
            cell[:] = [_never,
                       lambda inst, path, out: out.append(Error(path, "is not allowed here", "false", None))]
        else:
            oks = {}
            parts = []
            for kw, val in schema.items():
                if kw in KEYWORDS:
                    parts.append(KEYWORDS[kw](self, val, schema))
                    oks[kw] = parts[-1][0]
            generic, errs = require_all(parts)
            cell[:] = [self._fused(schema, oks, generic), errs]
        return cell[0], cell[1]

    def _fused(self, schema, oks, generic):
        """Return a predicate giving `generic`'s verdicts (`oks`: each keyword's), fused for a typed subschema."""
        kind = schema.get("type")
        if kind == "string":
            rest = conjunction(ok for kw, ok in oks.items() if kw not in STRING_KEYWORDS)
            search = self._compiled(schema["pattern"]).search if "pattern" in schema else None
            return string_ok(generic, search, schema.get("minLength", 0), schema.get("maxLength", UNBOUNDED), rest)
        if kind == "array":
            rest = conjunction(ok for kw, ok in oks.items() if kw not in ARRAY_KEYWORDS)
            item_ok = self._compile(schema["items"])[0] if "items" in schema else _always
            return array_ok(generic, schema.get("minItems", 0), schema.get("maxItems", UNBOUNDED), item_ok, rest)
        if kind == "object" or (kind is None and not OBJECT_KEYWORDS.isdisjoint(oks)):
            spec = self._object_spec(schema)
            rest = [kw for kw in oks if kw not in OBJECT_KEYWORDS]
            ref = self._resolve(schema["$ref"]) if "$ref" in oks else None
            if isinstance(ref, dict) and assertions(ref) <= OPEN_OBJECT_KEYWORDS:
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
