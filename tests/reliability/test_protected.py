"""Protected system targets: refused by default, opened only by an allowed_roots entry that names them.

The rule (profile_paths.protected_problem, docs/profile.md "Protected
targets"): a target at or under /boot /dev /etc /proc /run /sys /usr /bin
/sbin /lib /lib64 is accepted only when some allowed_roots entry holds the
target and is that directory or lies below it. The first table pins the rule
on load_profile; the second runs the real command on profiles that try to
mount over each system directory: exit 1, one message, nothing touched.
"""

import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as P
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ProfileError
from tests.integration.helpers import state_dir, write_profile
from tests.reliability.support import clean_failure, listing, run_cli, whole_table, words

PROTECTED_MSG = "is protected (at or under %s)"


def _profile(target, kind="tmpfs", roots=None):
    entry = {"target": target, "type": kind}
    if kind != "tmpfs":
        entry["source"] = "/x" if kind == "symlink" else kind
    data = {"name": "p", "mounts": [entry]}
    if roots is not None:
        data["allowed_roots"] = roots
    return data


RULE = [
    # (id, target, type, allowed_roots, protected directory named in the refusal or None when accepted)
    ("etc-file", "/etc/app.conf", "tmpfs", None, "/etc"),
    ("etc-itself", "/etc", "tmpfs", None, "/etc"),
    ("proc-deep", "/proc/sys/kernel/x", "tmpfs", None, "/proc"),
    ("sys", "/sys/fs/cgroup/x", "tmpfs", None, "/sys"),
    ("dev-shm", "/dev/shm/x", "tmpfs", None, "/dev"),
    ("run-app", "/run/app", "tmpfs", None, "/run"),
    ("boot-efi", "/boot/efi", "vfat", None, "/boot"),
    ("usr-local", "/usr/local/bin", "tmpfs", None, "/usr"),
    ("bin", "/bin", "tmpfs", None, "/bin"),
    ("sbin", "/sbin/x", "tmpfs", None, "/sbin"),
    ("lib", "/lib/modules", "tmpfs", None, "/lib"),
    ("lib64", "/lib64/x", "tmpfs", None, "/lib64"),
    ("symlink-into-etc", "/etc/alternatives/x", "symlink", None, "/etc"),
    ("unclean-spelling", "/./etc//x/", "tmpfs", None, "/etc"),
    ("root-slash-opens-nothing", "/etc/x", "tmpfs", ["/"], "/etc"),
    ("other-root-opens-nothing", "/etc/x", "tmpfs", ["/srv", "/tmp"], "/etc"),
    ("sibling-root-opens-nothing", "/etc/other/x", "tmpfs", ["/etc/app"], "/etc"),
    ("root-names-etc", "/etc/app/app.conf", "tmpfs", ["/etc"], None),
    ("root-below-etc", "/etc/app/app.conf", "tmpfs", ["/etc/app"], None),
    ("root-is-target", "/run/app", "tmpfs", ["/run/app"], None),
    ("root-names-proc", "/proc", "proc", ["/proc"], None),
    ("one-of-several-roots", "/dev/shm/x", "tmpfs", ["/srv", "/dev/shm"], None),
    ("prefix-is-not-parent", "/etcetera/x", "tmpfs", None, None),
    ("usr-prefix", "/usrlocal", "tmpfs", None, None),
    ("runner", "/runner/x", "tmpfs", None, None),
    ("case-matters", "/ETC/x", "tmpfs", None, None),
    ("tmp", "/tmp/x", "tmpfs", None, None),
    ("srv", "/srv/x", "tmpfs", None, None),
    ("var-run-by-name", "/var/run/x", "tmpfs", None, None),  # a symlink to /run: refused at apply, not by name
]


@pytest.mark.parametrize("target, kind, roots, guard", [r[1:] for r in RULE], ids=[r[0] for r in RULE])
def test_protected_rule(target, kind, roots, guard):
    """A target under a protected directory is refused unless an allowed root at or below that directory holds it."""
    data = _profile(target, kind, roots)
    if guard is None:
        assert P.load_profile(data).entries[0].target == P.clean_path(target)
        return
    with pytest.raises(ProfileError) as info:
        P.load_profile(data)
    mine = [p for p in info.value.problems if PROTECTED_MSG % guard in p[3]]
    assert len(mine) == 1, info.value.problems
    index, written, field, message = mine[0]
    assert (index, written, field) == (0, target, "target")
    assert message.startswith("entry 0 (%s): target: is protected" % target)
    assert "list %s or a directory below it" % guard in message


SYSTEM = ["/", "/proc", "/sys", "/etc", "/dev", "/run", "/boot", "/usr", "/etc/passwd", "/proc/sys/kernel",
          "/sys/fs/cgroup", "/dev/shm", "/usr/bin/env"]


@pytest.mark.parametrize("target", SYSTEM, ids=[t.strip("/").replace("/", "-") or "root" for t in SYSTEM])
def test_cli_refuses_system_targets(scratch, tally, target):
    """validate, apply --yes and plan of a profile mounting over a system directory: exit 1, one message, no change."""
    os.makedirs(state_dir(scratch))
    path = write_profile(scratch, {"name": "sys", "mounts": [
        {"target": scratch + "/fine", "type": "tmpfs"}, {"target": target, "type": "tmpfs"}]})
    table, state = whole_table(), listing(state_dir(scratch))
    expected = "cannot be / itself" if target == "/" else "is protected (at or under /%s)" % target.split("/")[1]
    for command in (["validate"], ["apply", "--yes"], ["plan"]):
        run = run_cli(scratch, *(command + [path]), env={"LIVEMOUNT_FAILPOINT": "1:EPERM"})
        problems = clean_failure(run)
        said = words(run.stdout + " " + run.stderr)  # validate lists problems on stdout, file:line first
        if expected not in said:
            problems.append("no %r in %r" % (expected, said[:300]))
        if whole_table() != table or listing(state_dir(scratch)) != state:
            problems.append("something was touched")
        if os.path.lexists(scratch + "/fine"):
            problems.append("the valid entry's mount point was created")
        tally.record("protected targets (CLI)", "%s %s" % (" ".join(command), target), not problems, problems)
        assert problems == [], command
