"""The demo's container chapter: a host directory injected live into a running stand-in container, and taken out.

The stand-in container is a shell in its own mount and PID namespace (unshare(1)), pivot_root'ed into a
directory of the demo root; livemount reaches it with `--pid PID`, as it would reach a real container's init.
"""

import os

INJECT = """\
name: inject
mounts:
  - {target: /data/in, type: bind, source: ROOT/host/share, source_namespace: host, options: [ro]}
"""

# The stand-in container: its own mount and PID namespace, pivot_root'ed into ROOT/box, reading
# /data/in/msg every 50 ms into /data/seen (which the demo reads from outside: ROOT/box is its /).
CONTAINER = """
mount --bind "$BOX" "$BOX"
for d in $BINDS; do mount --bind -o ro "/$d" "$BOX/$d"; done
cd "$BOX" && mkdir old && pivot_root . old && mount -t proc proc /proc && umount -l /old && rmdir /old
echo ready > /data/ready
while :; do
    if [ -r /data/in/msg ]; then cat /data/in/msg > /data/seen.tmp; else echo nothing > /data/seen.tmp; fi
    mv /data/seen.tmp /data/seen; sleep 0.05
done
"""


def chapter(out, root, system, load, state_dir, apply, ours):
    """Return True after injecting ROOT/host/share into a running container and taking it out (False if not).

    `apply(profile, pid=PID)` applies as `apply --yes` shows it; `ours()` lists the mounts under the demo root
    in our own namespace, which the chapter must leave as they were.
    """
    import shutil
    import subprocess

    out.heading("12. A running container: a host directory injected live (livemount --pid PID apply)")
    if not shutil.which("unshare"):
        out.info("skipped: util-linux unshare(1) is needed to start the stand-in container")
        return True
    box, binds = os.path.join(root, "box"), []
    os.makedirs(os.path.join(box, "data"))
    os.makedirs(os.path.join(box, "proc"))
    for d in ("usr", "bin", "sbin", "lib", "lib64"):
        if os.path.islink("/" + d):
            os.symlink(os.readlink("/" + d), os.path.join(box, d))
        elif os.path.isdir("/" + d):
            os.makedirs(os.path.join(box, d))
            binds.append(d)
    os.makedirs(os.path.join(root, "host/share"))
    with open(os.path.join(root, "host/share/msg"), "w") as f:
        f.write("hello from the host\n")
    proc = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c",
                             CONTAINER], env=dict(os.environ, BOX=box, BINDS=" ".join(binds)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not _wait(lambda: os.path.exists(os.path.join(box, "data/seen")), proc):
            out.error("cannot start the stand-in container")
            return False
        return _inject(out, root, box, _init_of(proc), proc, system, load, state_dir, apply, ours)
    finally:
        # SIGKILL to the PID namespace's init: the kernel kills everything else in it; unshare then exits.
        pid = _init_of(proc) if proc.poll() is None else None
        if pid is not None:
            os.kill(pid, 9)
        proc.wait()


def _init_of(proc):
    """Return the pid of unshare's child: the container's init (PID 1 inside); None when there is none."""
    try:
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
            return int(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        return None


def _inject(out, root, box, pid, proc, system, load, state_dir, apply, ours):
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine

    seen = lambda: open(os.path.join(box, "data/seen")).read().strip()  # noqa: E731
    out.info("container: pid %d, mount namespace %s, its / is %s; it reads /data/in/msg in a loop"
             % (pid, os.readlink("/proc/%d/ns/mnt" % pid), box))
    out.info("the container reads: %s" % seen())
    text = INJECT.replace("ROOT", root)
    out.text(out.short(text) + "\n")
    before = ours()
    report = apply(load(text), pid=pid)
    injected = _wait(lambda: seen() == "hello from the host", proc)
    out.info("the container reads: %s (no restart)" % seen())
    out.heading("13. livemount --pid %d destroy inject: taken out again" % pid)
    out.plan(engine.destroy("inject", system, root=state_dir, pid=pid), title="Destroy inject in %s" % report.namespace)
    removed = _wait(lambda: seen() == "nothing", proc)
    untouched = ours() == before
    out.info("the container reads: %s; mounts in our own namespace: %s" % (
        seen(), "untouched throughout" if untouched else "CHANGED"))
    return injected and removed and untouched


def _wait(ready, proc, timeout=10.0):
    """Return True once ready() holds (False after `timeout` s, or when the container died)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if ready():
                return True
        except OSError:
            pass
        time.sleep(0.02)
    return False
