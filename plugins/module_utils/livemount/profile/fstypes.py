"""Is an entry's filesystem type one this kernel knows? Typos are caught at validate time, with `did you mean`.

Pure: the names come in as a KnownTypes (kernel/fstypes.py reads them from
/proc/filesystems and the loadable modules; the CLI passes them to
load_profile). Without the list of loadable modules (a container without
/lib/modules) a type that is not registered yet may still load on first
mount: only one close to a known name is then called a typo.
"""

from typing import FrozenSet

from ..model import BIND, OVERLAY, SYMLINK
from ..records import record

ENTRY_TYPES = frozenset({BIND, SYMLINK, OVERLAY})  # livemount's own words, not kernel filesystem names


@record
class KnownTypes:
    """The filesystem type names a kernel knows; `complete` False when its loadable modules could not be listed."""

    names: FrozenSet[str]
    complete: bool = True


def problem(etype, known):
    """Return why `etype` is no filesystem type this kernel knows (with the closest name), or '' when it is."""
    if known is None or etype in ENTRY_TYPES or etype in known.names:
        return ""
    import difflib  # only for a type not known: every profile load paid its import otherwise

    close = difflib.get_close_matches(etype, sorted(known.names | ENTRY_TYPES), n=1, cutoff=0.75)
    if not close and not known.complete:
        return ""  # it may be a module that is not loaded yet: the mount will say
    return "%r is not a filesystem type this kernel knows (/proc/filesystems%s)%s" % (
        etype, " and its loadable modules" if known.complete else "", "; did you mean %s?" % close[0] if close else "")
