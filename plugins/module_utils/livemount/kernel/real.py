"""real_system(...): the one place the real kernel's Sys is built, for every command and module.

What the CLI and the Ansible modules act through is the same thing: LinuxSys,
wrapped by failpoints when LIVEMOUNT_FAILPOINT is set (failpoint.from_env,
docs/failpoints.md), carrying the mount namespace and busy policy the user
chose (nsexec.Configured: every engine entry point then acts there).
"""

from ..kernel import failpoint
from ..kernel.sys_linux import LinuxSys


def real_system(namespace=None, pid=None, on_busy=None):
    """Return the Sys of the running kernel: LinuxSys, failpoints from the environment, and the run options.

    `namespace` (an nsfs file) or `pid` names another mount namespace to act
    in; `on_busy` (fail/detach) overrides every entry's. With none of them the
    Sys is not wrapped for them at all.
    """
    system = failpoint.from_env(LinuxSys())
    if namespace is None and pid is None and on_busy is None:
        return system
    # Imported here, in the caller's namespace before any other is entered: a command that never acts
    # elsewhere (show, status) does not load it and what it imports (pickle).
    from ..kernel import nsexec

    return nsexec.Configured(system, namespace=namespace, pid=pid, on_busy=on_busy)
