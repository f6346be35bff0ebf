"""Path cleaning and path-tree relations: the only place paths are compared."""

import functools


def clean(path):
    """Return the canonical spelling of an absolute path: no `.`, no `//`, no trailing slash.

    Raises ValueError for a relative path or a `..` component (never resolved:
    `..` through a symlink means something else than textually).
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("path must be absolute")
    if "//" not in path and "/." not in path and (path == "/" or path[-1] != "/"):
        return path  # already clean: the common case, and this runs for every path the engine sees
    parts = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            raise ValueError("path must not contain '..'")
        parts.append(comp)
    return "/" + "/".join(parts)


def is_under(path, parent):
    """Return True if clean path `path` is strictly below clean path `parent` (not a string prefix)."""
    if parent == "/":
        return path != "/"
    return path.startswith(parent + "/")


def is_at_or_under(path, parent):
    """Return True if `path` equals `parent` or lies below it."""
    return path == parent or is_under(path, parent)


def ancestors(path):
    """Return the proper ancestors of a clean path, outermost first ('/' included), as a new list.

    The planner asks for the same paths' ancestors many times (five times
    per entry of a first apply: 3% of it): they are computed once per path.
    """
    return list(_ancestors(path))


@functools.lru_cache(maxsize=1 << 16)
def _ancestors(path):
    """Return ancestors(path) as a tuple: one cached value, so a caller changing its list changes no other's."""
    if path == "/":
        return ()
    out = ["/"]
    i = path.find("/", 1)
    while i > 0:
        out.append(path[:i])
        i = path.find("/", i + 1)
    return tuple(out)


def with_ancestors(targets):
    """Return the set of clean paths `targets` and all their ancestors: every path at or above one of them.

    `p in with_ancestors(ts)` answers "is some t at or under p?" in one
    lookup (comparing p with every t made planning quadratic).
    """
    out = set()
    for t in targets:
        while t not in out:  # an ancestor shared with an earlier target stops the walk
            out.add(t)
            if t == "/":
                break
            t = t[:t.rindex("/")] or "/"
    return out


def nested(targets):
    """Yield (t, [the targets t lies strictly below, outermost first]) for each clean path of `targets` (a set)
    below another one, in sort_key order: one pass over the sorted targets, no ancestor looked up."""
    stack = []  # the targets the current one may lie below: each below the one before it
    for t in sorted(targets, key=sort_key):  # a subtree sorts together, right after its root
        while stack and not is_under(t, stack[-1]):
            stack.pop()
        if stack:
            yield t, list(stack)
        stack.append(t)


def under_any(path, roots, strict=False):
    """Return True when clean `path` is at or under (`strict`: strictly under) one of the set `roots`."""
    if not strict and path in roots:
        return True
    return any(a in roots for a in ancestors(path))


def relative(path, parent):
    """Return `path` relative to `parent` ('' when equal); `path` must be at or under `parent`."""
    if path == parent:
        return ""
    if parent == "/":
        return path[1:]
    return path[len(parent) + 1:]


def join(parent, rel):
    """Return `parent` joined with relative `rel` ('' gives parent)."""
    if not rel:
        return parent
    if parent == "/":
        return "/" + rel
    return parent + "/" + rel


def sort_key(path):
    """Return the key that sorts a subtree together: `/a/b-1` < `/a/b` < `/a/b/c`."""
    return path if path.endswith("/") else path + "/"
