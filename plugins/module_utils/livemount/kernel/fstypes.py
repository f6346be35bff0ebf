"""The filesystem types this kernel knows: registered ones (/proc/filesystems) and loadable ones (modules).

A type that is not registered yet loads on the first mount through the
module alias `fs-<type>` (request_module in fs/filesystems.c): those aliases
are listed in /lib/modules/$(uname -r)/modules.alias, and the modules under
kernel/fs are named after what they provide.
"""

import os

from ..profile.fstypes import KnownTypes


def read_known(proc_filesystems="/proc/filesystems", modules_root="/lib/modules", release=None):
    """Return the KnownTypes of the running kernel (None when /proc/filesystems cannot be read)."""
    try:
        with open(proc_filesystems, encoding="utf-8") as f:
            names = {line.split()[-1] for line in f if line.strip()}
    except OSError:
        return None
    moddir = os.path.join(modules_root, release or os.uname().release)
    complete = False
    try:
        with open(os.path.join(moddir, "modules.alias"), encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[0] == "alias" and parts[1].startswith("fs-"):
                    names.add(parts[1][3:])
        complete = True
    except OSError:
        pass
    for _dirpath, _dirs, files in os.walk(os.path.join(moddir, "kernel", "fs")):
        complete = True
        names.update(f.split(".ko")[0].replace("_", "-") for f in files if ".ko" in f)
    return KnownTypes(frozenset(names), complete)
