"""Wait for the mount table to change: poll(2) on /proc/self/mountinfo.

proc(5): "Since Linux 2.6.15, /proc/PID/mounts is pollable: after opening the
file for reading, a change in this file (i.e., a filesystem mount or unmount)
causes select(2) to mark the file descriptor as having an exceptional
condition, and poll(2) and epoll_wait(2) mark the file as having a priority
event (POLLPRI)." The same holds for mountinfo; the kernel also sets POLLERR.
Each poll consumes the event (the file's seen counter catches up with the
namespace's), so nothing has to be read to re-arm it. It covers every mount
and unmount, every change of per-mount flags and every filesystem remount in
this mount namespace (checked on Linux 6.18: a propagation change alone does
not wake it; watch's periodic check covers that), and costs nothing while
nothing changes: the process sleeps in poll(2).

fanotify(7) mount events (FAN_MNT_ATTACH/DETACH, Linux 6.15) would name the
mount, but miss flag changes (a remount read-only is drift too), and
listmount(2) answers "what is mounted", not "what changed"; livemount
re-plans on every change anyway, so "something changed" is all it needs.
"""

import os
import select

MOUNTINFO = "/proc/self/mountinfo"


class MountTableWaiter:
    """A poll(2) set: the mount table of this namespace, plus optional wakeup fds (signals)."""

    def __init__(self, path=MOUNTINFO):
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.poll = select.poll()
        self.poll.register(self.fd, select.POLLPRI | select.POLLERR)
        self.wakeups = []

    def add_wakeup(self, fd):
        """Return None after adding `fd` to the set: it becoming readable ends a wait (signal.set_wakeup_fd's pipe)."""
        self.poll.register(fd, select.POLLIN)
        self.wakeups.append(fd)

    def wait(self, timeout):
        """Return True when the table changed or a wakeup fd fired within `timeout` seconds, False otherwise."""
        events = self.poll.poll(max(0, int(timeout * 1000 + 0.999)))
        for fd, _mask in events:
            if fd in self.wakeups:
                try:
                    os.read(fd, 512)  # drain it, or the next wait returns at once
                except BlockingIOError:
                    pass
        return bool(events)

    def close(self):
        """Return None after closing the file descriptor."""
        os.close(self.fd)
