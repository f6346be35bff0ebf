"""The owned mount table as fstab-like lines, before and after: what --diff shows."""

from . import options
from .profile.fstab import format_fstab_line
from .model import BIND, OVERLAY, SYMLINK


def entry_line(entry):
    """Return one fstab-like line describing `entry` (symlinks as `x-livemount.symlink`)."""
    opts = options.format_options(entry.flags, entry.fs_options)
    if entry.type == BIND:
        return format_fstab_line(entry.source, entry.target, "none", ["rbind" if entry.recursive else "bind"] + opts)
    if entry.type == SYMLINK:
        return format_fstab_line(entry.source, entry.target, "none", ["x-livemount.symlink"])
    if entry.type == OVERLAY:
        # fstab splits options on ',', so a comma inside a layer path is written as
        # its octal escape (the line is for reading, never fed back to mount).
        layers = ["lowerdir+=" + _nocomma(p) for p in entry.lower] + ["datadir+=" + _nocomma(p) for p in entry.data]
        if entry.upper:
            layers += ["upperdir=" + _nocomma(entry.upper), "workdir=" + _nocomma(entry.work)]
        return format_fstab_line("overlay", entry.target, "overlay", opts + layers)
    if entry.propagation:
        opts = opts + [entry.propagation]
    return format_fstab_line(entry.source or entry.type, entry.target, entry.type, opts)


def _nocomma(path):
    return path.replace(",", "\\054")


def table_text(entries, known=None):
    """Return the lines of `entries` sorted by target, newline-terminated ('' when none).

    `known` ({target: (Entry, line)}) holds lines made already: an entry
    equal to the one known at its target has the same line (every field
    entry_line shows is compared). Each line made is added to it.
    """
    known = {} if known is None else known
    lines = []
    for e in sorted(entries, key=_target):
        found = known.get(e.target)
        if found is None or not (found[0] is e or found[0] == e):
            found = known[e.target] = (e, entry_line(e))
        lines.append(found[1])
    return "".join(line + "\n" for line in lines)


def _target(entry):
    return entry.target


def make_diff(before_entries, after_entries, header):
    """Return an Ansible-style diff dict {before, after, before_header, after_header}.

    An entry that stays as it was (most of them, all in a plan with no
    change) is made into its line once, for both sides.
    """
    known = {}
    after = table_text(after_entries, known)
    return {
        "before": table_text(before_entries, known),
        "after": after,
        "before_header": "%s (before)" % header,
        "after_header": "%s (after)" % header,
    }
