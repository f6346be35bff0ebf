"""enable, disable, the fstab clash, status of enabled profiles and the boot record (durable/enable.py, atboot.py)."""

import os
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import atboot, enable, fstab_clash
from ansible_collections.livemount.core.plugins.module_utils.livemount.durable.store import EnabledStore
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from tests.unit.engine_runs import apply, root  # noqa: F401 (fixtures)
from tests.unit.fakesys import NAMESPACE_ID
from tests.unit.planner_world import bind, fake_host, fast_tmpdir, tmpfs, tree_bytes

WEB = {"name": "web", "mounts": [tmpfs("/data/t", "size=1m", "nosuid"), bind("/srv/a", "/data/m", "ro")]}


@pytest.fixture
def config(monkeypatch):
    """Return a fresh configuration directory, with no fstab and no boot units around (removed afterwards)."""
    path = fast_tmpdir()
    monkeypatch.setenv("LIVEMOUNT_FSTAB", os.path.join(path, "fstab"))
    monkeypatch.setattr(enable, "_systemd_side", lambda changed, enabling: [])
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _enable(data, config, **kw):
    return enable.enable(load_profile(data), data, config=config, **kw)


def test_enable_check_writes_nothing_then_enable_then_unchanged(config):
    """Check mode predicts the change and writes nothing; enable writes; again (options reordered) is no change."""
    check = _enable(WEB, config, check=True)
    assert check.changed and check.mode == "check" and tree_bytes(config) == {".": "dir 40700"}
    assert check.diff["before"] == "" and "tmpfs /data/t tmpfs rw,nosuid,size=1048576 0 0" in check.diff["after"]
    assert _enable(WEB, config).changed
    reordered = dict(WEB, mounts=[tmpfs("/data/t", "nosuid", "size=1024k"), WEB["mounts"][1]])
    again = _enable(reordered, config)
    assert not again.changed and again.diff["before"] == again.diff["after"]


def test_enable_sees_boot_settings_change(config):
    """A change of the boot field alone is a change, shown as the diff's `# boot:` line."""
    _enable(WEB, config)
    report = _enable(dict(WEB, boot={"timeout": 5}), config)
    assert report.changed and report.diff["after"].endswith("# boot: timeout=5\n")


def test_enable_refuses_an_fstab_line_for_a_target(config):
    """An fstab line mounting a target of the profile: refused, nothing written, the line and the fix named."""
    with open(os.path.join(config, "fstab"), "w") as f:
        f.write("# a comment\n/dev/vdb1 /data/m ext4 defaults 0 2\nbroken line\ntmpfs /data/other tmpfs\n")
    with pytest.raises(enable.FstabConflict) as exc:
        _enable(WEB, config)
    msg = str(exc.value)
    assert msg.startswith("cannot enable profile web: %s line 2 also mounts /data/m (/dev/vdb1 /data/m ext4 "
                          "defaults)" % os.path.join(config, "fstab"))
    assert "comment that line out" in msg and exc.value.to_dict()["fstab"][0]["line"] == 2
    assert not os.path.exists(os.path.join(config, "enabled"))


CLASH = [
    ("same-target", "/dev/x /data/m ext4 rw 0 0", ["/data/m"]),
    ("spelled-differently", "/dev/x /data//m/ ext4 rw 0 0", ["/data/m"]),
    ("escaped-space", "/dev/x /data/my\\040app ext4 rw 0 0", []),
    ("swap", "/dev/x none swap sw 0 0", []),
    ("another-target", "/dev/x /data ext4 rw 0 0", []),
    ("commented-out", "#/dev/x /data/m ext4 rw 0 0", []),
]


@pytest.mark.parametrize("line, targets", [c[1:] for c in CLASH], ids=[c[0] for c in CLASH])
def test_fstab_clashes(line, targets):
    """Which fstab lines compete with a profile: same target after cleaning; not swap, not a parent, not a comment."""
    got = fstab_clash.clashes(load_profile(WEB), line + "\n")
    assert [c["target"] for c in got] == targets


def test_disable(config):
    """disable removes the copy (check mode predicts it); disabling again is no change; an untrusted copy goes too."""
    _enable(WEB, config)
    check = enable.disable("web", config, check=True)
    assert check.changed and EnabledStore(config).load("web") is not None
    assert check.diff["after"] == "" and check.diff["before"]
    assert enable.disable("web", config).changed and EnabledStore(config).load("web") is None
    assert not enable.disable("web", config).changed
    _enable(WEB, config)
    os.chmod(EnabledStore(config).path("web"), 0o666)
    report = enable.disable("web", config)
    assert report.changed and "cannot be trusted" in report.warnings[0]


def test_status_of_enabled_profiles(root, config):
    """status says whether the enabled copy is live: not applied, in sync, drifted; an enabled-only profile is listed."""
    fake = fake_host()
    _enable(WEB, config)
    (row,) = enable.annotate_status(engine.status(fake, root=root), fake, config=config, root=root)
    assert row["profile"] == "web" and row["enabled"] and row["entries"] == [] and row["boot"] is None
    assert not row["enabled_copy"]["matches_live"] and {c["action"] for c in row["enabled_copy"]["pending"]} >= {
        "mount"}
    apply(WEB, fake, root, profile_data=WEB)
    (row,) = enable.annotate_status(engine.status(fake, root=root), fake, config=config, root=root)
    assert row["enabled_copy"]["matches_live"] and row["enabled_copy"]["pending"] == []
    fake.umount("/data/t")
    (row,) = enable.annotate_status(engine.status(fake, root=root), fake, config=config, root=root)
    assert [(c["action"], c["target"]) for c in row["enabled_copy"]["pending"]] == [("mount", "/data/t")]
    enable.disable("web", config)
    (row,) = enable.annotate_status(engine.status(fake, root=root), fake, config=config, root=root)
    assert row["enabled"] is False and "enabled_copy" not in row


def test_boot_apply_records_its_outcome(root, config, monkeypatch):
    """systemd apply: the enabled copy is applied and the outcome recorded for this boot only; a failure too."""
    fake = fake_host()
    monkeypatch.setattr(atboot, "boot_id", lambda: "boot-1")
    with pytest.raises(LivemountError) as exc:
        atboot.apply_enabled("web", fake, config=config, root=root)
    assert "cannot apply enabled profile web: it is not enabled" in str(exc.value)
    assert atboot.read_record(root, NAMESPACE_ID, "web")["result"] == "failed"
    _enable(WEB, config)
    report = atboot.apply_enabled("web", fake, config=config, root=root)
    assert report.changed
    record = atboot.read_record(root, NAMESPACE_ID, "web")
    assert (record["result"], record["error"], record["changes"]) == ("applied", None, len(
        [c for c in report.changes if c.action.value != "keep"]))
    monkeypatch.setattr(atboot, "boot_id", lambda: "boot-2")
    assert atboot.read_record(root, NAMESPACE_ID, "web") is None  # a record of another boot is not this boot's
