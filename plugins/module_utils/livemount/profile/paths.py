"""Path rules of profile validation: what a profile path may hold, and which targets are protected.

clean_path refuses, before anything is touched, every path the kernel or the
file system would refuse half-way through an apply (a component longer than
NAME_MAX, a string that cannot be encoded as a file name) and the characters
that cannot be shown or typed safely. PROTECTED lists the system directories
a profile may not mount over or link into unless its allowed_roots name them
explicitly (see docs/profile.md, "Protected targets").
"""

import re

from .. import paths

# Paths may hold tab and newline (mountinfo and fstab escape them as \011 and
# \012, see proc(5) and fstab(5)); other C0 controls and DEL cannot be shown
# or typed safely, and NUL cannot reach the kernel at all.
BAD_PATH_CHAR = re.compile("[\x00-\x08\x0b-\x1f\x7f]")

# The longest file name component: every Linux file system refuses longer
# names with ENAMETOOLONG (NAME_MAX in limits.h), so refuse them up front.
NAME_MAX = 255

# System trees whose covering would break the host or hide what it runs on:
# the kernel's own file systems (/proc, /sys, /dev), configuration (/etc),
# the boot partition, the programs and libraries (/usr and, where /usr is not
# merged, /bin, /sbin, /lib, /lib64), and runtime state (/run, which also
# holds livemount's own state). "/" itself is refused outright elsewhere.
PROTECTED = ("/boot", "/dev", "/etc", "/proc", "/run", "/sys", "/usr", "/bin", "/sbin", "/lib", "/lib64")
_PROTECTED = frozenset(PROTECTED)


def unencodable(text):
    """Return a message naming the first character of `text` no file name can hold, or None.

    Python spells a file name byte that is not UTF-8 as a surrogate from
    U+DC80 to U+DCFF (os.fsdecode); any other surrogate, which JSON's \\ud800
    escapes can produce, has no bytes at all, and the first system call
    would fail with UnicodeEncodeError instead of a clear message.
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        return "contains %r at offset %d, which is not a character (a lone surrogate)" % (
            text[exc.start], exc.start)
    return None


def clean_path(path):
    """Return the clean form of an absolute path; ValueError naming the flaw otherwise."""
    if not (path.isascii() and path.isprintable()):  # printable ASCII, most paths, holds neither
        m = BAD_PATH_CHAR.search(path)
        if m:
            raise ValueError("contains control character %r at offset %d" % (m.group(), m.start()))
        bad = unencodable(path)
        if bad:
            raise ValueError(bad)
    clean = paths.clean(path)
    if len(clean) <= NAME_MAX and clean.isascii():  # one byte a character: no component can be too long
        return clean
    for comp in clean.split("/"):
        size = len(comp.encode("utf-8", "surrogateescape"))
        if size > NAME_MAX:
            raise ValueError("has a component of %d bytes, longer than the %d a file name may have: %s..."
                             % (size, NAME_MAX, comp[:20]))
    return clean


def plainly_clean(path):
    """Return True when `path` is a string clean_path gives back unchanged, seen at a glance; False: look closer.

    Printable ASCII (no control character, nothing unencodable), absolute,
    with no `//`, no `.` or `..` component and no trailing slash (so not `/`
    itself), no longer than NAME_MAX (so no component is): what nearly every
    recorded path is. False says nothing: clean_path tells.
    """
    return (type(path) is str and path.isascii() and path.isprintable()  # pylint: disable=unidiomatic-typecheck
            and path[:1] == "/" and path[-1] != "/" and "//" not in path and "/." not in path
            and len(path) <= NAME_MAX)


def protected_problem(target, roots):
    """Return why clean `target` is refused as protected, or None when it may be managed.

    A target at or under a PROTECTED directory P is allowed only when some
    allowed_roots entry R holds the target (target at or under R) and is
    itself P or lies below P: `allowed_roots: [/etc]` or `[/etc/app]` opens
    /etc/app/conf, `allowed_roots: [/]` does not (it names no system tree).
    """
    end = target.find("/", 1)
    guard = target if end < 0 else target[:end]  # every PROTECTED directory is one component below /
    if guard not in _PROTECTED:
        return None
    if any(paths.is_at_or_under(target, r) and paths.is_at_or_under(r, guard) for r in roots or ()):
        return None
    return ("is protected (at or under %s); to manage it, list %s or a directory below it that holds "
            "the target in allowed_roots" % (guard, guard))
