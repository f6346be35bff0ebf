"""The safety floor: the least per-mount work livemount's rules ask for, and nothing else.

Through the engine's own ctypes calls (kernel/syscalls.py): the mount table
read and split before and after, and per mount an openat2(2) of the target
that follows no symlink, a journal line (json, write, fdatasync) before the
mount and one after, the mount calls onto that opened target, and statx(2)
of the new mount for the unique id the state records. No profile
validation, planning, state file, undo or re-verifying. apply_cost.py runs
it in-process; cli_apply.py as a whole process:

    python3 bench/safety_floor.py JOURNAL SOURCE TARGET...   (bind mounts)

It says how much of the distance to the raw mount loops the rules alone
take, so a goal below it is known to be out of reach.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

TMPFS_OPTIONS = [("size", "1m")]


def floor(kind, src, targets, journal_path):
    """Return how many mounts the table gained after mounting every target with only the rules' work."""
    sc = c.engine("kernel.syscalls")
    with open("/proc/self/mountinfo") as f:
        before = [line.split(" ") for line in f.read().splitlines()]
    journal = os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    for k, t in enumerate(targets):
        fd = sc.openat2(sc.AT_FDCWD, t, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, sc.RESOLVE_NO_SYMLINKS)
        begin = {"step": k, "action": "mount", "target": t, "type": kind, "source": src if kind == "bind" else kind}
        os.write(journal, (json.dumps(begin) + "\n").encode())
        os.fdatasync(journal)
        if kind == "bind":
            new = sc.open_tree(sc.AT_FDCWD, src, sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC)
        else:
            ctx = sc.fsopen("tmpfs", sc.FSOPEN_CLOEXEC)
            for key, value in TMPFS_OPTIONS:
                sc.fsconfig(ctx, sc.FSCONFIG_SET_STRING, key, value)
            sc.fsconfig(ctx, sc.FSCONFIG_CMD_CREATE)
            new = sc.fsmount(ctx, sc.FSMOUNT_CLOEXEC, 0)
            os.close(ctx)
        sc.move_mount(new, "", fd, "", sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH)
        ident = sc.statx_mount(new, sc.STATX_MNT_ID_UNIQUE)[2]
        os.write(journal, (json.dumps({"step": k, "done": True, "mount_id": ident}) + "\n").encode())
        os.close(new)
        os.close(fd)
    os.close(journal)
    with open("/proc/self/mountinfo") as f:
        after = [line.split(" ") for line in f.read().splitlines()]
    return len(after) - len(before)


if __name__ == "__main__":
    floor("bind", sys.argv[2], sys.argv[3:], sys.argv[1])
