"""JSON values in JSON Schema's terms, for jsonschema_lite and its keywords: types, equality, where, and words.

An Error is one failure: `path` is a tuple of keys/indexes; `keyword` the
failing keyword; `key` the property concerned for object-level errors
(missing, unknown or needing another field), else None.
"""

from collections import namedtuple

Error = namedtuple("Error", "path message keyword key")

TYPE_NAMES = {
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


def first_repeat(items):
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
