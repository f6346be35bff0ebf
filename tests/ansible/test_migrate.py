"""playbooks/migrate_fstab.yml: fstab mounts become an enabled profile, adopted in place, the fstab lines commented out.

The "boot" that mounted the fstab lines is simulated by mounting them by hand;
the profile comes from `livemount import` of that fstab, reviewed (one line
the profile is not meant to take is dropped), as docs/ansible.md says.
"""

import os
import subprocess
import sys

import pytest
import yaml

from tests.integration.helpers import hand_mount

from . import playbook


def _setup(s, tmpfs=False, data_source="src"):
    for d in ("src", "src2", "mnt/data", "mnt/logs", "mnt/cache"):
        os.makedirs(os.path.join(s, d))
    fstab = os.path.join(s, "fstab.hosts")
    with open(fstab, "w") as f:
        f.write("# static file system information\n"
                "%s/src %s/mnt/data none bind 0 0\n"
                "%s/src2 %s/mnt/logs none bind,ro 0 0\n"
                "/dev/vdz %s/other ext4 defaults 0 2\n" % (s, s, s, s, s))
        if tmpfs:
            f.write("tmpfs %s/mnt/cache tmpfs size=1m 0 0\n" % s)
    hand_mount("--bind", os.path.join(s, data_source), s + "/mnt/data")
    hand_mount("--bind", "-o", "ro", s + "/src2", s + "/mnt/logs")
    if tmpfs:
        hand_mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", s + "/mnt/cache")
    imported = subprocess.run([sys.executable, "-m", "livemount_cli.main", "import", fstab], capture_output=True,
                              text=True, check=True).stdout
    profile = yaml.safe_load(imported)
    profile["name"] = "data"
    profile["mounts"] = [m for m in profile["mounts"] if m["target"] != s + "/other"]  # the review
    src = os.path.join(s, "data.yml")
    with open(src, "w") as f:
        yaml.safe_dump(profile, f)
    return fstab, src


def _ids(s):
    table = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            table.setdefault(fields[4], []).append(fields[0])
    return [table.get(s + "/mnt/data"), table.get(s + "/mnt/logs"), table.get(s + "/mnt/cache")]


def _migrate(s, fstab, src):
    return playbook.run(os.path.join(playbook.REPO, "playbooks", "migrate_fstab.yml"), s, diff=True,
                        extra_vars={"livemount_migrate_src": src, "livemount_migrate_fstab": fstab,
                                    "livemount_migrate_reload": False})


def test_migration_adopts_in_place_and_comments_out_the_lines(scratch):
    """Mounts stay the same mounts (no remount), now owned and enabled; their fstab lines are commented, with a backup."""
    fstab, src = _setup(scratch)
    before = _ids(scratch)
    run = _migrate(scratch, fstab, src)
    assert run.rc == 0, run.stdout
    assert _ids(scratch) == before, "a mount was made again instead of adopted"
    with open(fstab) as f:
        lines = f.read().splitlines()
    assert lines[1] == "# replaced by livemount profile data (docs/boot.md): %s/src %s/mnt/data none bind 0 0" % (
        scratch, scratch)
    assert lines[2] == "# replaced by livemount profile data (docs/boot.md): %s/src2 %s/mnt/logs none bind,ro 0 0" % (
        scratch, scratch)
    assert lines[3] == "/dev/vdz %s/other ext4 defaults 0 2" % scratch
    assert [n for n in os.listdir(scratch) if n.startswith("fstab.hosts.")], "no backup of the fstab"
    assert "-%s/src2 %s/mnt/logs none bind,ro 0 0" % (scratch, scratch) in run.stdout  # --diff shows the edit
    assert os.path.exists(os.path.join(scratch, "etc", "enabled", "data.json"))
    again = _migrate(scratch, fstab, src)
    assert again.rc == 0 and again.recap()["changed"] == 0, again.stdout


CANNOT = [({"data_source": "src2"}, "/mnt/data"), ({"tmpfs": True}, "/mnt/cache")]


@pytest.mark.parametrize("setup, target", CANNOT, ids=["bind-of-another-source", "tmpfs"])
def test_what_cannot_be_adopted_stops_the_migration_before_the_fstab_is_touched(scratch, setup, target):
    """A bind of another source than the profile's, or a tmpfs: refused, naming it; fstab and mounts untouched."""
    fstab, src = _setup(scratch, **setup)
    # the profile says what fstab says (src); the bind mounted at /mnt/data is of src2
    with open(fstab) as f:
        text = f.read()
    before = _ids(scratch)
    run = _migrate(scratch, fstab, src)
    assert run.rc != 0
    assert "cannot migrate data on localhost: the profile cannot take over mounts that are live now: %s%s" % (
        scratch, target) in " ".join(run.stdout.split())
    with open(fstab) as f:
        assert f.read() == text
    assert _ids(scratch) == before and not os.path.exists(os.path.join(scratch, "etc", "enabled", "data.json"))
