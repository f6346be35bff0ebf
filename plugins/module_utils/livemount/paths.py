"""Path cleaning and path-tree relations: the only place paths are compared."""


def clean(path):
    """Return the canonical spelling of an absolute path: no `.`, no `//`, no trailing slash.

    Raises ValueError for a relative path or a `..` component (never resolved:
    `..` through a symlink means something else than textually).
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("path must be absolute")
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
    """Return the proper ancestors of a clean path, outermost first ('/' included)."""
    if path == "/":
        return []
    out = ["/"]
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        out.append("/" + "/".join(parts[:i]))
    return out


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
