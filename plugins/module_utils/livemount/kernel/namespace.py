"""Mount namespaces: where we are, moving into a fresh private one, and whether mounts reach the host.

unshare(2) with CLONE_NEWNS copies the caller's mount table. systemd makes `/`
recursively shared, so a raw copy stays in the host's peer groups and mounts
would leak both ways until it is marked MS_REC|MS_PRIVATE (mount_namespaces(7)).
"""

import os

from ..kernel import syscalls
from ..errors import SysError
from ..mountinfo import parse_mountinfo


def enter_private_namespace():
    """Move this (single-threaded) process into a new mount namespace with private propagation."""
    try:
        syscalls.unshare(syscalls.CLONE_NEWNS)
    except OSError as exc:
        raise SysError("cannot create a mount namespace: %s" % exc.strerror, exc.errno)
    try:
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE, None)
    except OSError as exc:
        raise SysError("cannot make the new mount namespace private: %s" % exc.strerror, exc.errno)


def every_table(proc="/proc"):
    """Yield (namespace id, LiveTable) once for each mount namespace a process in `proc` is in.

    One /proc/PID/mountinfo per distinct namespace (readlink of ns/mnt);
    processes that vanish or hide their files meanwhile are skipped, and a
    /proc that cannot be listed yields nothing. Lazily detached and
    never-attached mounts appear in no mountinfo.
    """
    try:
        pids = sorted(n for n in os.listdir(proc) if n.isdigit())
    except OSError:
        return
    seen = set()
    for pid in pids:
        try:
            ns = os.readlink("%s/%s/ns/mnt" % (proc, pid))
            if ns in seen:
                continue
            with open("%s/%s/mountinfo" % (proc, pid), encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError:
            continue
        seen.add(ns)
        yield ns, parse_mountinfo(text)


def current_namespace():
    """Return this process's mount namespace id, e.g. `mnt:[4026531841]`."""
    return os.readlink("/proc/self/ns/mnt")


# ---- whether mounts made here reach the host (additive: namespace targeting) -------

def isolation_warning(own_ns, host_ns, own_root, host_root):
    """Return a warning when mounts made in namespace `own_ns` stay invisible to PID 1's, else None.

    `own_root`/`host_root` are the LiveMounts on `/` in each namespace (None
    when unknown). A `/` shared with PID 1's peer group propagates both ways
    (mount_namespaces(7)), so it is worth no warning; a slave receives the
    host's mounts but sends none back; a private one neither.
    """
    if not own_ns or not host_ns or own_ns == host_ns:
        return None
    host_peer = host_root.peer if host_root is not None else None
    if own_root is not None and host_peer is not None and own_root.peer == host_peer:
        return None
    if own_root is not None and host_peer is not None and own_root.master == host_peer:
        how = ("its / is a slave of the host's (as with systemd PrivateMounts= or MountFlags=slave): the host's "
               "mounts appear here, but")
    else:
        how = "its / does not propagate to the host's (private, or shared with another peer group):"
    return ("this process runs in its own mount namespace %s, not PID 1's %s, and %s mounts made here are "
            "invisible to the host; target the host's namespace with --pid 1 (module option pid: 1)"
            % (own_ns, host_ns, how))


def caller_isolation_warning(proc="/proc"):
    """Return isolation_warning() for this process, read from `proc` (None when PID 1 cannot be read)."""
    from ..mountinfo import parse_mountinfo

    try:
        own_ns = os.readlink(os.path.join(proc, "self/ns/mnt"))
        host_ns = os.readlink(os.path.join(proc, "1/ns/mnt"))
        if own_ns == host_ns:
            return None
        roots = []
        for pid in ("self", "1"):
            with open(os.path.join(proc, pid, "mountinfo"), encoding="utf-8", errors="surrogateescape") as f:
                roots.append(parse_mountinfo(f.read()).top("/"))
    except (OSError, ValueError):
        # Without PID 1's view (hidepid=, a foreign PID namespace) there is nothing to compare with.
        return None
    return isolation_warning(own_ns, host_ns, roots[0], roots[1])


def processes_in(namespace_id, proc="/proc"):
    """Return the pids (sorted) of the processes whose mount namespace is `namespace_id`, e.g. `mnt:[4026532181]`."""
    out = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            if os.readlink(os.path.join(proc, name, "ns/mnt")) == namespace_id:
                out.append(int(name))
        except OSError:
            continue  # exited meanwhile, or a kernel thread without a readable link
    return sorted(out)


def caller_warnings(system):
    """Return [warning] when `system` acts in this process's namespace and mounts made there stay hidden from PID 1."""
    if system.target_record() is not None:
        return []  # acting in a namespace the caller named on purpose (nsexec.NamespaceSys)
    try:
        if system.namespace_id() != current_namespace():
            return []  # not this process's view of the kernel (a fake Sys)
    except OSError:
        return []
    warning = caller_isolation_warning()
    return [warning] if warning else []
