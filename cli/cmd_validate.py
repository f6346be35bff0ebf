"""livemount validate PROFILE: schema and rules, nothing touched; problems as file:line: path: message."""

import re


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("profile", metavar="PROFILE", help="profile file (YAML or JSON), or the name of an applied profile")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def run(args, out):
    """Return 0 when the profile is valid, 1 after listing every problem with its line."""
    import os

    from .common import engine_module, load_profile_arg, make_sys

    errors = engine_module("errors")
    try:
        prof, _ = load_profile_arg(args.profile, make_sys(), args.state_dir)
    except errors.ProfileError as exc:
        text = _read(args.profile) if os.path.isfile(args.profile) else None
        items = locate(exc.problems, text, engine_module("profile.load").show)
        if args.json:
            doc = exc.to_dict()
            doc["problems"] = items
            out.json({"valid": False, "file": args.profile, "error": doc})
        else:
            out.problems(args.profile, items)
            out.error("cannot validate %s: %d problem%s" % (args.profile, len(items), "" if len(items) == 1 else "s"))
        return 1
    if args.json:
        out.json({"valid": True, "file": args.profile, "profile": prof.name, "entries": len(prof.entries)})
    else:
        out.info("%s: profile %s is valid (%d entries)" % (args.profile, prof.name, len(prof.entries)))
    return 0


def _read(path):
    from .common import engine_module, read_text

    try:
        return read_text(path)
    except engine_module("errors").ProfileError:
        return None


def locate(problems, text=None, show=str):
    """Return one dict per problem: index, target, field, message, plus its JSON path and 1-based line.

    The JSON path is rebuilt from the problem (`$.mounts[1].options[0]`); the
    line is where that path's node starts in the YAML (or JSON: YAML reads
    it too) text, or the nearest enclosing node that exists (a missing field
    points at its entry). Syntax errors carry their own line.
    """
    root = _compose(text)
    out = []
    for index, target, field, message in problems:
        path, detail = _path(index, target, field, message, show)
        line = _line_of(root, path) if root is not None else None
        m = re.search(r"at line (\d+)", message)
        if m and field != "name":
            line, detail = int(m.group(1)), message
        out.append({"index": index, "target": target, "field": field, "message": message,
                    "path": _spell(path), "line": line, "detail": detail})
    return out


def _path(index, target, field, message, show):
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


def _spell(path):
    return "$" + "".join("[%d]" % k if isinstance(k, int) else "." + k for k in path)


def _compose(text):
    """Return the YAML node tree of `text` (None when there is none or it does not parse)."""
    if text is None:
        return None
    try:
        import yaml

        from .common import engine_module

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        # Composing recurses (in C with libyaml): a text nested thousands deep
        # would kill us with SIGSEGV. The profile reader's own depth guard first.
        engine_module("profile.forms")._check_depth(yaml, loader, text)
        return yaml.compose(text, Loader=loader)
    except Exception:  # noqa: BLE001 - a text that does not parse has its line in the message already
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
