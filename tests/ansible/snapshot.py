"""What a check run must leave alone: the mount table and every file under a directory."""

import os

from . import playbook

# Files the test machinery itself writes between runs.
MACHINERY = ("record.jsonl", "playbook.yml", "inventory.ini", ".ansible-tmp")


def tree(root):
    """Return {relative path: (kind, mode, link or size)} of everything under `root`, machinery left out."""
    out = {}
    for here, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in MACHINERY]
        for name in dirs + files:
            if here == root and name in MACHINERY:
                continue
            path = os.path.join(here, name)
            st = os.lstat(path)
            if os.path.islink(path):
                out[os.path.relpath(path, root)] = ("link", st.st_mode, os.readlink(path))
            elif os.path.isdir(path):
                out[os.path.relpath(path, root)] = ("dir", st.st_mode, None)
            else:
                with open(path, "rb") as f:
                    out[os.path.relpath(path, root)] = ("file", st.st_mode, f.read())
    return out


def system(root):
    """Return (mount table, file tree under root): what must not move in check mode."""
    return playbook.mountinfo_targets(), tree(root)
