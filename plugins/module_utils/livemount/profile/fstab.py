"""fstab(5) lines: parse, format, and convert to profile mount dicts.

`source target type options [freq [passno]]`, 3 to 6 fields split on blanks.
Every field may hold the octal escapes \\040 (space), \\011 (tab), \\012
(newline) and \\134 (backslash); `#` starts a comment only at the start of a
field. Options are split on `,` after unescaping, so no option value can hold
a comma.
"""

import re
from typing import Tuple

from .. import options as opts
from ..model import BIND, OVERLAY, TMPFS
from ..mountinfo import unescape
from ..records import record

_BLANKS = re.compile(r"[ \t]+")
# Words fstab(5)/mount(8) consume at boot: meaningless for a live profile.
_BOOT_ONLY = frozenset({"defaults", "auto", "noauto", "nofail", "_netdev"})
# Overlay layer options that name one thing; only lowerdir+ and datadir+ add up.
_SINGLE_LAYER_KEYS = frozenset({"lowerdir", "upperdir", "workdir"})


@record
class FstabLine:
    """One fstab line, fields unescaped. `options` is a tuple of option words."""

    source: str
    target: str
    fstype: str
    options: Tuple[str, ...]
    freq: int = 0
    passno: int = 0
    lineno: int = 0


def parse_fstab(text):
    """Return the FstabLine list of an fstab text (comments and blank lines skipped).

    Raises ValueError("cannot parse fstab line N: <cause>").
    """
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        fields = []
        for field in _BLANKS.split(line.strip(" \t\r")):
            if field.startswith("#"):
                break  # a comment runs to the end of the line
            if field:
                fields.append(field)
        if not fields:
            continue
        if not 3 <= len(fields) <= 6:
            raise ValueError("cannot parse fstab line %d: expected 3 to 6 fields, got %d" % (n, len(fields)))
        try:
            fields = [unescape(f) for f in fields]
        except ValueError as exc:
            raise ValueError("cannot parse fstab line %d: %s" % (n, exc)) from None
        words = tuple(w for w in fields[3].split(",") if w) if len(fields) > 3 else ()
        numbers = []
        for name, text_value in zip(("freq", "passno"), fields[4:]):
            if not (text_value.isascii() and text_value.isdigit()):
                raise ValueError("cannot parse fstab line %d: %s is not a number: %r" % (n, name, text_value))
            numbers.append(int(text_value))
        numbers += [0] * (2 - len(numbers))
        out.append(FstabLine(fields[0], fields[1], fields[2], words, numbers[0], numbers[1], n))
    return out


_SPECIAL = re.compile("[\\\\ \t\n\r]")


def _escape(field, what):
    if not field:
        raise ValueError("cannot format fstab line: empty %s" % what)
    if not _SPECIAL.search(field) and field[0] != "#":
        return field  # nothing to escape: most fields, and this runs four times per line of a diff
    s = field.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")
    s = s.replace("\n", "\\012").replace("\r", "\\015")
    if s.startswith("#"):
        s = "\\043" + s[1:]
    return s


def format_fstab_line(source, target, fstype, options, freq=0, passno=0):
    """Return one fstab line (no newline) with every field escaped; empty options give `defaults`.

    Raises ValueError for an empty field or an option word holding a comma
    (fstab splits options on commas after unescaping: it cannot be written).
    """
    for word in options:
        if "," in word or not word:
            raise ValueError("cannot format fstab line: option %r cannot be written in fstab" % word)
    opts = ",".join(options) or "defaults"
    if (source and target and fstype and "#" not in (source[0], target[0], fstype[0], opts[0])
            and not _SPECIAL.search("|".join((source, target, fstype, opts))) and freq == 0 and passno == 0):
        return "%s %s %s %s 0 0" % (source, target, fstype, opts)  # nothing to escape: most lines of a diff
    fields = [
        _escape(source, "source"),
        _escape(target, "target"),
        _escape(fstype, "type"),
        _escape(opts, "options"),
        str(int(freq)),
        str(int(passno)),
    ]
    return " ".join(fields)


def fstab_to_mounts(lines):
    """Return (mounts, skipped): profile mount dicts for fstab lines, and [(lineno, reason)] left out.

    bind/rbind in the options make a bind (recursive for rbind); overlay
    lowerdir/upperdir/workdir options become lower (+ data)/upper/work; swap
    and `none` targets are skipped. Boot-only words (defaults, auto, noauto,
    nofail, _netdev) are dropped; x-* words are kept.
    """
    mounts, skipped = [], []
    for line in lines:
        if line.fstype == "swap":
            skipped.append((line.lineno, "swap is not a mount"))
            continue
        if line.target == "none" or not line.target.startswith("/"):
            skipped.append((line.lineno, "target %r is not a path" % line.target))
            continue
        words = [w for w in line.options if w not in _BOOT_ONLY]
        kind = line.fstype
        recursive = False
        if "bind" in words or "rbind" in words or kind in ("bind", "rbind"):
            recursive = "rbind" in words or kind == "rbind"
            kind = BIND
            words = [w for w in words if w not in ("bind", "rbind")]
        elif kind == "none":
            skipped.append((line.lineno, "type none without bind"))
            continue
        mount = {"target": line.target, "type": kind}
        if kind not in (TMPFS, OVERLAY):
            mount["source"] = line.source
        if kind == OVERLAY:
            try:
                words = _take_layers(words, mount)
            except ValueError as exc:
                skipped.append((line.lineno, str(exc)))
                continue
        mount["options"] = words
        if kind == BIND:
            mount["recursive"] = recursive
        mounts.append(mount)
    return mounts, skipped


def _take_layers(words, mount):
    """Return `words` without the overlay layer options, stored into `mount` instead."""
    layers, rest, seen = {"lower": [], "data": []}, [], set()
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or key not in opts.OVERLAY_LAYER_KEYS:
            rest.append(word)
            continue
        if key in _SINGLE_LAYER_KEYS and key in seen:
            # The kernel keeps the last one, and options are split at commas
            # after unescaping: `lowerdir=/a\054upperdir=/x` written after a
            # visible upperdir= would silently replace it. Refuse, not guess.
            raise ValueError("overlay option %s= given twice" % key)
        seen.add(key)
        opts.add_overlay_layer(layers, key, value)
    if not layers["lower"]:
        raise ValueError("overlay without lowerdir")
    mount["lower"] = layers["lower"]
    if layers["data"]:
        mount["data"] = layers["data"]
    for key in ("upper", "work"):
        if key in layers:
            mount[key] = layers[key]
    return rest
