"""Enabled profiles across real boots: systemd 252 as PID 1 of throwaway namespaces (bootlab.py).

One machine, three boots on the same overlay (a reboot keeps the files and
loses /run, as a real one does):

1. two enabled profiles (a, b) and a broken one (c). Both good ones are live
   before the services ordered after them start: one names livemount@a.service,
   one is listed in b's `boot.required_by`, one only waits for local-fs.target;
   b binds a filesystem that fstab mounts at boot, so its unit must wait for
   that mount (RequiresMountsFor=). c's unit fails alone, saying why, and the
   boot carries on.
2. the same again after a reboot: the same table, no recovery messages, no
   mount twice. Then `livemount disable b` and a reboot:
3. nothing of b is mounted; a is.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.integration import bootlab
from tests.integration.helpers import cli, cli_env

pytestmark = [pytest.mark.skipif(bool(bootlab.why_not()), reason=bootlab.why_not() or "can boot"),
              pytest.mark.ns_timeout(400)]

PROFILES = {
    "a": {"name": "a", "mounts": [
        {"target": "/srv/lm/a/cache", "type": "tmpfs", "options": ["size=1m", "mode=0755"]},
        {"target": "/srv/lm/a/data", "type": "bind", "source": "/srv/data", "options": ["ro"]},
        {"target": "/srv/lm/a/tool", "type": "symlink", "source": "/srv/data/tool"}]},
    "b": {"name": "b", "mounts": [
        {"target": "/srv/lm/b/src", "type": "bind", "source": "/srv/src"},
        {"target": "/srv/lm/b/run", "type": "tmpfs", "options": ["size=1m"]}],
          "boot": {"required_by": ["lmprobe-b.service"], "timeout": 30}},
    "c": {"name": "c", "mounts": [{"target": "/srv/lm/c/x", "type": "bind", "source": "/srv/missing"}]},
}
TARGETS = {n: [m["target"] for m in p["mounts"] if m["type"] != "symlink"] for n, p in PROFILES.items()}

PROBE = """[Unit]
Description=livemount boot test: {what}
DefaultDependencies=no
{deps}
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh /root/lmboot/probe.sh %N
"""
PROBE_SH = """mkdir -p /root/lmboot/probes
cat /proc/self/mountinfo > /root/lmboot/probes/$1.mountinfo
stat -L -c '%d %n' / /srv/src /srv/lm/b/src > /root/lmboot/probes/$1.dev 2>&1
cat /srv/lm/a/data/hello > /root/lmboot/probes/$1.hello 2>&1
"""
UNITS = {
    "lmtest.target": """[Unit]
Description=livemount boot test
Wants=systemd-journald.socket systemd-journald.service local-fs.target
Wants=lmprobe-a.service lmprobe-b.service lmprobe-fs.service lmfinal.service
""",
    "lmprobe-a.service": PROBE.format(what="needs profile a by name",
                                      deps="Requires=livemount@a.service\nAfter=livemount@a.service"),
    "lmprobe-b.service": PROBE.format(what="listed in profile b's boot.required_by", deps=""),
    "lmprobe-fs.service": PROBE.format(what="an ordinary service: after local-fs.target", deps="After=local-fs.target"),
    "lmfinal.service": """[Unit]
Description=livemount boot test: collect and power off
DefaultDependencies=no
After=local-fs.target lmprobe-a.service lmprobe-b.service lmprobe-fs.service
After=livemount@a.service livemount@b.service livemount@c.service
[Service]
Type=oneshot
ExecStart=/bin/sh /root/lmboot/final.sh
ExecStopPost=/bin/systemctl --no-block poweroff
""",
}
FINAL_SH = """out=/root/lmboot/boot-{n}
mkdir -p $out
mv /root/lmboot/probes $out/probes
for u in a b c; do
    systemctl show -p LoadState -p ActiveState -p Result livemount@$u.service > $out/unit-$u
    journalctl -o cat -u livemount@$u.service > $out/journal-$u 2>&1
done
cat /proc/self/mountinfo > $out/mountinfo
livemount status --json > $out/status.json 2> $out/status.err
{extra}
"""


def _setup(lab, scratch):
    """Write the machine: data, fstab, profiles enabled, units installed, test units."""
    lab.write("/srv/data/hello", "hello from /srv/data\n")
    lab.write("/srv/data/tool", "#!/bin/sh\n", 0o755)
    with open("/etc/fstab", encoding="utf-8") as f:
        host_fstab = f.read()
    lab.write("/etc/fstab", host_fstab + "tmpfs /srv/src tmpfs mode=0755,size=1m 0 0\n")
    lab.write("/etc/systemd/journald.conf.d/volatile.conf", "[Journal]\nStorage=volatile\n")
    lab.write("/usr/local/sbin/livemount", "#!/bin/sh\nPYTHONPATH=%s exec %s -c 'import sys; sys.argv[0] = "
              "\"livemount\"; from livemount_cli.main import run; run()' \"$@\"\n"
              % (os.environ["PYTHONPATH"], sys.executable), 0o755)
    env = {"LIVEMOUNT_CONFIG_DIR": lab.path("/etc/livemount"), "LIVEMOUNT_FSTAB": lab.path("/etc/fstab")}
    for name, data in PROFILES.items():
        path = os.path.join(scratch, name + ".json")
        with open(path, "w") as f:
            json.dump(data, f)
        done = cli(scratch, "enable", path, env=env)
        assert done.returncode == 0, done.stderr
    # Not cli(): the units would run with the scratch state directory it passes.
    done = subprocess.run([sys.executable, "-m", "livemount_cli.main", "--config-dir", "/etc/livemount", "systemd",
                           "install", "--root", lab.upper, "--exec", "/usr/local/sbin/livemount"],
                          env=cli_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name, text in UNITS.items():
        lab.write("/etc/systemd/system/" + name, text)
    lab.write("/root/lmboot/probe.sh", PROBE_SH)


def _boot(lab, n, extra=""):
    """Return the files boot number n left, after booting it."""
    lab.write("/root/lmboot/final.sh", FINAL_SH.format(n=n, extra=extra))
    status, log = lab.boot("lmtest.target")
    out = "/root/lmboot/boot-%d" % n
    assert lab.read(out + "/mountinfo"), "boot %d never reached lmfinal.service (exit %s):\n%s" % (n, status, log)
    return {name: lab.read(out + "/" + name) for name in (
        "unit-a", "unit-b", "unit-c", "journal-a", "journal-b", "journal-c", "mountinfo", "status.json",
        "status.err", "probes/lmprobe-a.mountinfo", "probes/lmprobe-b.mountinfo", "probes/lmprobe-fs.mountinfo",
        "probes/lmprobe-b.dev", "probes/lmprobe-a.hello")}


def _mounted(mountinfo):
    """Return the mount points of a mountinfo text, in order (duplicates kept)."""
    out = []
    for line in mountinfo.splitlines():
        fields = line.split()
        out.append(fields[4].replace("\\040", " "))
    return out


def _table(mountinfo):
    """Return {mount point: (fstype, root, source)} of livemount's test targets (under /srv/lm)."""
    out = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        rest = fields[fields.index("-") + 1:]
        if fields[4].startswith("/srv/lm/"):
            out[fields[4]] = (rest[0], fields[3], rest[1])
    return out


def _props(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_enabled_profiles_across_reboots(scratch):
    """Boot, reboot, disable + reboot: profiles applied before the services that need them, one failing alone."""
    lab = bootlab.BootLab(scratch)
    _setup(lab, scratch)

    first = _boot(lab, 1)
    # a and b are active, c failed alone, and the boot went on to the end.
    assert _props(first["unit-a"])["ActiveState"] == "active", first["journal-a"]
    assert _props(first["unit-b"])["ActiveState"] == "active", first["journal-b"]
    assert _props(first["unit-c"])["ActiveState"] == "failed"
    assert "cannot" in first["journal-c"] and "/srv/missing" in first["journal-c"], first["journal-c"]
    # Each probe started after the mounts it depends on were there.
    for probe, names in (("lmprobe-a", "a"), ("lmprobe-b", "b"), ("lmprobe-fs", "ab")):
        seen = _mounted(first["probes/%s.mountinfo" % probe])
        for name in names:
            assert all(t in seen for t in TARGETS[name]), (probe, name, seen)
    assert first["probes/lmprobe-a.hello"] == "hello from /srv/data\n"
    # b's unit waited for fstab's /srv/src: its bind shows that tmpfs, not the directory under it.
    devs = dict(reversed(line.split(" ", 1)) for line in first["probes/lmprobe-b.dev"].splitlines())
    assert devs["/srv/lm/b/src"] == devs["/srv/src"] != devs["/"], first["probes/lmprobe-b.dev"]
    assert not any(t.startswith("/srv/lm/c") for t in _mounted(first["mountinfo"]))
    status = {r["profile"]: r for r in json.loads(first["status.json"])["profiles"]}
    assert status["a"]["enabled"] and status["a"]["enabled_copy"]["matches_live"], status["a"]
    assert status["a"]["boot"]["result"] == "applied"
    assert status["c"]["boot"]["result"] == "failed" and "/srv/missing" in status["c"]["boot"]["error"]

    second = _boot(lab, 2, extra="livemount disable b > $out/disable.out 2>&1")
    assert _props(second["unit-a"])["ActiveState"] == "active" and _props(second["unit-b"])["ActiveState"] == "active"
    assert _table(second["mountinfo"]) == _table(first["mountinfo"])
    seen = _mounted(second["mountinfo"])
    assert len(seen) == len(set(seen)), "a mount point twice: %s" % seen
    for name in "ab":
        journal = second["journal-" + name].lower()
        assert "recover" not in journal and "interrupted" not in journal and "warning" not in journal, journal

    third = _boot(lab, 3)
    seen = _mounted(third["mountinfo"])
    assert not any(t.startswith("/srv/lm/b") for t in seen), seen
    assert all(t in seen for t in TARGETS["a"])
    assert _props(third["unit-b"]).get("ActiveState") == "inactive"
