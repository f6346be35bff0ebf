"""livemount watch on the real kernel: woken by the mount table itself, repairs drift, leaves a foreign mount alone.

Each watch runs with `--interval 3600`: the periodic check never comes during
a test, so every line after the first is there because poll(2) on
/proc/self/mountinfo woke it. The deadlines below only stop a hung test;
the latency is measured by bench/watch_cost.py, not asserted.
"""

import json
import os
import select
import signal
import subprocess
import sys
import time

import jsonschema

from tests.integration.helpers import (cli, cli_command, cli_env, hand_mount, hand_umount, make_tree, profile_dict,
                                       write_profile)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(REPO, "schemas", "cli-output.schema.json"), encoding="utf-8") as _f:
    _SCHEMA = json.load(_f)
EVENT = dict({k: v for k, v in _SCHEMA.items() if k != "anyOf"}, **{"$ref": "#/$defs/watch_event"})
HANG = 60.0  # seconds: only a hung watch takes this long

ENTRIES = [
    {"target": "@/app/cache", "type": "tmpfs", "options": ["size=1m"]},
    {"target": "@/app/data", "type": "bind", "source": "@/data/app"},
]


class Watch:
    """A `livemount watch --json` subprocess whose lines are read with a deadline."""

    def __init__(self, scratch, *args):
        env = cli_env({"LIVEMOUNT_CONFIG_DIR": os.path.join(scratch, "etc"),
                       "LIVEMOUNT_FSTAB": os.path.join(scratch, "fstab")})
        self.proc = subprocess.Popen(cli_command(scratch, "watch", "--json", "--interval", "3600", *args), env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.buf = b""  # our own buffer: a buffered file object may hold lines that select(2) cannot see

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def next(self):
        """Return the next event (a dict valid against watch_event) and the seconds waited for it."""
        start = time.monotonic()
        line = self._line(HANG)
        if line is None:
            self.proc.kill()
            raise AssertionError("no watch line within %g s; stderr: %s" % (HANG, self.proc.communicate()[1]))
        event = json.loads(line)
        jsonschema.validate(event, EVENT)
        return event, time.monotonic() - start

    def quiet(self, seconds):
        """Return True when no line comes within `seconds`."""
        line = self._line(seconds)
        if line is not None:
            self.buf = line + b"\n" + self.buf
        return line is None

    def stop(self):
        """Return the exit status after SIGTERM."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(HANG)


def _applied(scratch):
    make_tree(scratch, ["data/app/f=1"])
    path = write_profile(scratch, profile_dict(scratch, ENTRIES, name="web"))
    done = cli(scratch, "apply", "--yes", "--enable", path, env={"LIVEMOUNT_CONFIG_DIR": os.path.join(scratch, "etc"),
                                                                "LIVEMOUNT_FSTAB": os.path.join(scratch, "fstab")})
    assert done.returncode == 0, done.stderr


def _mounted_at(path):
    """Return how many mounts sit at `path` (our own read of /proc/self/mountinfo)."""
    with open("/proc/self/mountinfo") as f:
        return sum(1 for line in f if line.split()[4] == path)


def test_a_manual_umount_is_reported_by_the_kernels_notice(scratch):
    """umount by hand: one drift line naming the mount, without any periodic check; SIGTERM ends the watch (0)."""
    _applied(scratch)
    w = Watch(scratch)
    first, _ = w.next()
    assert (first["event"], first["message"]) == ("watching", "2 entries (as last applied), in sync")
    hand_umount(os.path.join(scratch, "app/cache"))
    drift, waited = w.next()
    sys.stderr.write("drift reported %.3f s after the umount returned\n" % waited)
    assert drift["event"] == "drift" and drift["changes"][0]["target"] == os.path.join(scratch, "app/cache")
    assert w.stop() == 0


def test_repair_puts_it_back_and_a_foreign_mount_is_left_alone(scratch):
    """--repair: an unmounted entry is back; a mount on top of ours is a conflict line, still there afterwards."""
    _applied(scratch)
    w = Watch(scratch, "--repair")
    w.next()
    cache = os.path.join(scratch, "app/cache")
    hand_umount(cache)
    drift, _ = w.next()
    repaired, waited = w.next()
    sys.stderr.write("repaired %.3f s after the drift line\n" % waited)
    assert (drift["event"], repaired["event"]) == ("drift", "repaired")
    assert repaired["message"] == "mount %s" % cache and _mounted_at(cache) == 1
    hand_mount("-t", "tmpfs", "intruder", cache)
    conflict, _ = w.next()
    assert conflict["event"] == "conflict" and cache in conflict["message"]
    assert w.quiet(1.0)  # nothing more to say: no repair, no loop
    assert _mounted_at(cache) == 2
    with open("/proc/self/mountinfo") as f:
        top = [line for line in f if line.split()[4] == cache][-1]
    assert " intruder " in top  # the foreign mount is still on top
    assert w.stop() == 0
