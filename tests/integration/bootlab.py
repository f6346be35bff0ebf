"""Boot a real systemd as PID 1 of throwaway namespaces, on an overlay of the host's root, and read what it left.

The machine has systemd installed but nothing runs it: a test boots one with
`unshare --pid --fork --mount --net --cgroup --uts --ipc` and, inside, builds
the root and execs /lib/systemd/systemd with `container=` set (systemd then
skips what only a real machine does: loop devices, swap, the hardware clock).

What is never shared with the host, and why (a mount namespace shares
superblocks: a remount of a shared filesystem inside changes the host's):
* `/` is an overlay whose upper and work live on the test's scratch tmpfs
  (lower: the host's root filesystem, read-only to it). A second boot on the
  same upper is a reboot: the files written survive, /run does not.
* /proc is a new procfs (new PID namespace), with /proc/sys and
  /proc/sysrq-trigger bound read-only over themselves: PID 1 writes
  fs.file-max and other global sysctls at start-up when it may.
* /sys is a new sysfs (new network namespace), mounted read-only as systemd
  containers expect; /sys/fs/cgroup a cgroup2 mount seen through a new cgroup
  namespace rooted at a cgroup made for this boot and removed after it.
* /dev, /run and /tmp are fresh tmpfs; /dev holds a few device nodes
  (null, zero, full, random, urandom, tty), no /dev/kmsg and no console.
Nothing of the host is bound in recursively, and the suite's host-table
guard stays on.

Results come back as files: the test's units write into /root/lmboot in the
booted system, which is <upper>/root/lmboot once it has powered off.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

SYSTEMD = "/lib/systemd/systemd"

STAGE1 = r"""
set -eu
S=$1; UNIT=$2; R=$S/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$S/upper,workdir=$S/work" "$R"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
for p in sys sysrq-trigger; do
    [ -e "$R/proc/$p" ] || continue
    mount --bind "$R/proc/$p" "$R/proc/$p"; mount -o remount,bind,ro "$R/proc/$p"
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=755,nosuid,size=4m tmpfs "$R/dev"
for n in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    set -- $n; mknod -m 666 "$R/dev/$1" c "$2" "$3"
done
mkdir "$R/dev/pts" "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
for i in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${i%%:*}" "$R/dev/${i#*:}"; done
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
cd "$R"
mkdir -p .lmboot-old
pivot_root . .lmboot-old
umount -l /.lmboot-old
rmdir /.lmboot-old
exec env -i container=livemount-test PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --system --unit="$UNIT" --show-status=no
"""


def why_not():
    """Return why a boot is impossible here ('' when it is possible)."""
    if os.geteuid() != 0:
        return "booting systemd in namespaces needs root"
    if not os.access(SYSTEMD, os.X_OK):
        return "no systemd at %s" % SYSTEMD
    if not shutil.which("unshare"):
        return "no unshare(1)"
    if cgroup2_root() is None:
        return "no cgroup2 hierarchy mounted"
    return ""


def cgroup2_root():
    """Return where this namespace sees the cgroup2 hierarchy (/sys/fs/cgroup or /sys/fs/cgroup/unified), or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    return None


class BootLab:
    """One machine: an upper directory that boots, as often as asked, under `scratch`."""

    def __init__(self, scratch):
        self.dir = os.path.join(scratch, "boot")
        self.upper = os.path.join(self.dir, "upper")
        for d in ("upper", "work", "root"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        self.boots = 0

    def path(self, path):
        """Return where `path` of the booted system is written before booting (in the upper directory)."""
        return os.path.join(self.upper, path.lstrip("/"))

    def write(self, path, text, mode=0o644):
        """Return the host-side path after writing `text` at `path` of the booted system."""
        host = self.path(path)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        with open(host, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(host, mode)
        return host

    def read(self, path):
        """Return the text the booted system left at `path` ('' when there is no such file)."""
        try:
            with open(self.path(path), encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def boot(self, unit, timeout=90):
        """Return (exit status, console log) of one boot into `unit` that ends when it powers off (or times out)."""
        self.boots += 1
        log = os.path.join(self.dir, "console-%d.log" % self.boots)
        cgroup = os.path.join(cgroup2_root(), "livemount-test-%d-%d" % (os.getpid(), self.boots))
        os.mkdir(cgroup)

        def enter_cgroup():
            # The boot's cgroup namespace is rooted here: systemd's cgroups go below, and go with it.
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

        cmd = ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--propagation", "private", "--net",
               "--cgroup", "--uts", "--ipc", "sh", "-c", STAGE1, "stage1", self.dir, unit]
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    preexec_fn=enter_cgroup, start_new_session=True)
            try:
                status = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                status = proc.wait()
                with open(log, "a") as out2:
                    out2.write("\n[bootlab: killed after %g s]\n" % timeout)
        _remove_cgroup(cgroup)
        keep = os.environ.get("LIVEMOUNT_BOOTLAB_KEEP")  # a directory to copy each boot's results into, to read them
        if keep:
            shutil.copytree(os.path.join(self.upper, "root"), os.path.join(keep, "boot-%d" % self.boots),
                            symlinks=True, dirs_exist_ok=True)
            shutil.copy(log, keep)
        with open(log, encoding="utf-8", errors="replace") as f:
            return status, f.read()


def _remove_cgroup(path, wait=10.0):
    """Remove the boot's cgroup tree, deepest first, once the processes in it are gone."""
    deadline = time.monotonic() + wait
    while True:
        try:
            for d, _, _ in sorted(os.walk(path), key=lambda w: -w[0].count("/")):
                os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.stderr.write("bootlab: cannot remove cgroup %s (processes left in it?)\n" % path)
                return
            time.sleep(0.05)
