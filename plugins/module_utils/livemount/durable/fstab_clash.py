"""An enabled profile and an /etc/fstab line for the same target: both would act on it at boot.

systemd-fstab-generator turns the line into a .mount unit and livemount's
unit mounts the entry; whichever comes second stacks on the first (or, for
livemount, finds a foreign mount and refuses). So enabling such a profile is
refused, and `status` reports a line added to fstab afterwards. The fix is to
take the line out of fstab (`livemount import` turns it into a profile entry
first) or the entry out of the profile.
"""

import os

from .. import paths
from ..profile.fstab import parse_fstab

DEFAULT_FSTAB = "/etc/fstab"


def fstab_path(path=None):
    """Return the fstab file to check: the argument, else $LIVEMOUNT_FSTAB, else /etc/fstab."""
    return path or os.environ.get("LIVEMOUNT_FSTAB") or DEFAULT_FSTAB


def clashes(profile, fstab_text):
    """Return [{target, line, fstab_line}] for every entry of `profile` an fstab line also mounts.

    Pure. Swap lines and lines without a mount point (`none`) mount nothing;
    a line that does not parse is skipped (mount(8) and findmnt --verify
    report it), the others still count.
    """
    targets = {e.target for e in profile.entries}
    out = []
    for n, text in enumerate(fstab_text.split("\n"), 1):
        try:
            lines = parse_fstab(text)
        except ValueError:
            continue
        for line in lines:
            if line.fstype == "swap" or not line.target.startswith("/"):
                continue
            try:
                target = paths.clean(line.target)
            except ValueError:
                continue
            if target in targets:
                out.append({"target": target, "line": n,
                            "fstab_line": "%s %s %s %s" % (line.source, line.target, line.fstype,
                                                           ",".join(line.options) or "defaults")})
    return out


def read_clashes(profile, path=None):
    """Return (fstab path, clashes(profile, its text)); no file means no clash."""
    path = fstab_path(path)
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError:
        return path, []  # no fstab (or none we may read): nothing mounts there at boot
    return path, clashes(profile, text)


def clash_message(name, path, clash):
    """Return the sentence that reports one clash, with its fix."""
    return ("%s line %d also mounts %s (%s): at boot both would mount it; comment that line out (livemount import "
            "turns it into a profile entry first) or take the entry out of profile %s"
            % (path, clash["line"], clash["target"], clash["fstab_line"], name))
