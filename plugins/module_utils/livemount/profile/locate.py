"""Where each profile problem is: its JSON path and the line of the profile text it points at.

`livemount validate` and the mount_profile action plugin print problems the
same way, `FILE:LINE: $.mounts[1].options[0]: message`, from the same
located dicts; this is the one place that builds them. The line needs the
YAML node tree, so PyYAML (always there on the controller, where both run);
without it every line is None and the path alone says where.
"""

import re

from .load import show


def locate(problems, text=None):
    """Return one dict per problem: index, target, field, message, plus its JSON path, 1-based line and detail.

    `problems` are ProfileError.problems tuples. The JSON path is rebuilt from
    the problem (`$.mounts[1].options[0]`); the line is where that path's node
    starts in the YAML (or JSON: YAML reads it too) `text`, or the nearest
    enclosing node that exists (a missing field points at its entry). Syntax
    errors carry their own line. `detail` is the message without its
    `entry N (target): field:` prefix, which the path replaces.
    """
    root = _compose(text)
    out = []
    for index, target, field, message in problems:
        path, detail = _path(index, target, field, message)
        line = _line_of(root, path) if root is not None else None
        m = re.search(r"at line (\d+)", message)
        if m and field != "name":
            line, detail = int(m.group(1)), message
        out.append({"index": index, "target": target, "field": field, "message": message,
                    "path": spell(path), "line": line, "detail": detail})
    return out


def problem_line(where, item):
    """Return `WHERE:LINE: $.path: detail` (no `:LINE` when the item has no line): one located problem."""
    head = "%s:%s" % (where, item["line"]) if item.get("line") else where
    return "%s: %s: %s" % (head, item["path"], item["detail"])


def top_key(item):
    """Return the top-level profile key a located problem is about (None for the whole document)."""
    m = re.match(r"\$\.([^.\[]+)", item["path"])
    return m.group(1) if m else None


def _path(index, target, field, message):
    """Return ([keys], message without its `entry N (target): field:` prefix)."""
    path = [] if index is None else ["mounts", index]
    label = "profile" if index is None else ("entry %d (%s)" % (index, show(target)) if isinstance(target, str)
                                             else "entry %d" % index)
    rest = message[len(label) + 2:] if message.startswith(label + ": ") else message
    if field:
        m = re.match(re.escape(field) + r"((?:\[[^\]]*\])*): ", rest)
        if m:
            path.append(field)
            path += [int(k) if k.isdigit() else k for k in re.findall(r"\[([^\]]*)\]", m.group(1))]
            rest = rest[m.end():]
        elif field in ("name", "mounts", "description", "on_error", "allowed_roots", "target", "type",
                       "source"):
            path.append(field)
    return path, rest


def spell(path):
    """Return the JSON path `$.mounts[1].options` of a list of keys and indexes."""
    return "$" + "".join("[%d]" % k if isinstance(k, int) else "." + k for k in path)


def _compose(text):
    """Return the YAML node tree of `text` (None when there is none, no PyYAML, or it does not parse)."""
    if text is None:
        return None
    try:
        import yaml
    except ImportError:
        return None
    from .forms import check_depth

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        # Composing recurses (in C with libyaml): a text nested thousands deep
        # would kill us with SIGSEGV. The profile reader's own depth guard first.
        check_depth(yaml, loader, text)
        return yaml.compose(text, Loader=loader)
    except (yaml.YAMLError, RecursionError, ValueError):  # does not parse: the message has its line already
        return None


def _line_of(node, path):
    """Return the 1-based line where the node at `path` starts (its key's line inside a mapping)."""
    line = node.start_mark.line + 1
    for key in path:
        if node.id == "mapping":
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == key), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif node.id == "sequence" and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line
