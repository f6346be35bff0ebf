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


def table_text(entries):
    """Return the lines of `entries` sorted by target, newline-terminated ('' when none)."""
    lines = [entry_line(e) for e in sorted(entries, key=lambda e: e.target)]
    return "".join(line + "\n" for line in lines)


def make_diff(before_entries, after_entries, header):
    """Return an Ansible-style diff dict {before, after, before_header, after_header}."""
    return {
        "before": table_text(before_entries),
        "after": table_text(after_entries),
        "before_header": "%s (before)" % header,
        "after_header": "%s (after)" % header,
    }
