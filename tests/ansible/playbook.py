"""Run real ansible-playbook processes against the test's own mount namespace.

Every test under tests/ansible runs in a forked child inside a private mount
namespace (tests/conftest.py); ansible-playbook started from there with
`-c local` acts on that namespace only. Results come back through the
test-only `record` callback (plugins/callback/record.py) as JSON lines.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import List

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


@dataclass
class Run:
    """One ansible-playbook run: exit status, its stdout and every task result."""

    rc: int
    stdout: str
    records: List[dict] = field(default_factory=list)

    def results(self, task):
        """Return the result dicts of every task named `task` (loop items expanded)."""
        out = []
        for rec in self.records:
            if rec["task"] == task:
                res = rec["result"]
                out.extend(res["results"] if "results" in res else [res])
        return out

    def result(self, task):
        """Return the one result of task `task` (fails when there is not exactly one)."""
        found = self.results(task)
        assert len(found) == 1, "expected one result of %r, got %d: %s" % (task, len(found), self.stdout[-3000:])
        return found[0]

    def recap(self, host="localhost"):
        """Return the PLAY RECAP counters of `host` as a dict (ok, changed, failed, ...)."""
        for line in self.stdout.splitlines():
            if line.startswith(host + " ") and "ok=" in line:
                return {k: int(v) for k, v in (w.split("=") for w in line.split()[2:])}
        raise AssertionError("no recap for %s in:\n%s" % (host, self.stdout[-3000:]))


def play(tasks, hosts="localhost", handlers=(), vars=None, gather_facts=False):
    """Return a one-play playbook (a list) running `tasks` on `hosts`."""
    p = {"name": "test", "hosts": hosts, "gather_facts": gather_facts, "tasks": list(tasks)}
    if handlers:
        p["handlers"] = list(handlers)
    if vars:
        p["vars"] = vars
    return [p]


def run(playbook, workdir, check=False, diff=False, extra_vars=None, env=None, args=(), inventory=None):
    """Return the Run of ansible-playbook on `playbook` (a path or a list of plays) with -c local.

    `workdir` holds the generated playbook, inventory and record file; the
    state directory is `<workdir>/state` (LIVEMOUNT_STATE_DIR) unless `env`
    says otherwise.
    """
    if not isinstance(playbook, str):
        path = os.path.join(workdir, "playbook.yml")
        with open(path, "w") as f:
            yaml.safe_dump(playbook, f, sort_keys=False)
        playbook = path
    record = os.path.join(workdir, "record.jsonl")
    if os.path.exists(record):
        os.unlink(record)
    if inventory is None:
        inventory = os.path.join(workdir, "inventory.ini")
        with open(inventory, "w") as f:
            f.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, playbook]
    cmd += ["--check"] if check else []
    cmd += ["--diff"] if diff else []
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += list(args)
    e = dict(os.environ)
    e.update({
        "LIVEMOUNT_STATE_DIR": os.path.join(workdir, "state"),
        # Enabled profiles stay under the test's scratch, never in the host's /etc/livemount.
        "LIVEMOUNT_CONFIG_DIR": os.path.join(workdir, "etc"),
        "LIVEMOUNT_FSTAB": os.path.join(workdir, "fstab"),
        "LIVEMOUNT_RECORD": record,
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "plugins", "callback"),
        # shared_ansiballz: each module's payload built once for the sources, not by every run (its docstring).
        "ANSIBLE_CALLBACKS_ENABLED": "record,shared_ansiballz",
        "LIVEMOUNT_ANSIBALLZ_SHARE": os.path.join(REPO, ".build", "ansiballz-share"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_PIPELINING": "1",  # one process per task instead of four: halves the run time
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_ROLES_PATH": os.path.join(REPO, "roles"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(workdir, ".ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": os.path.join(workdir, ".ansible-tmp"),
    })
    e.update(env or {})
    proc = subprocess.run(cmd, env=e, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    records = []
    if os.path.exists(record):
        with open(record) as f:
            records = [json.loads(line) for line in f if line.strip()]
    return Run(proc.returncode, proc.stdout, records)


def mountinfo_targets(path="/proc/self/mountinfo"):
    """Return {mount point: [{fstype, source, root, options, super}, ...]} of this namespace, bottom first."""
    out = {}
    with open(path) as f:
        for line in f:
            left, _, right = line.rstrip("\n").partition(" - ")
            fields, tail = left.split(), right.split()
            out.setdefault(_unescape(fields[4]), []).append({
                "fstype": tail[0], "source": _unescape(tail[1]), "root": _unescape(fields[3]),
                "options": set(fields[5].split(",")), "super": set(tail[2].split(","))})
    return out


def _unescape(text):
    # proc_pid_mountinfo(5): space, tab, newline and backslash are octal-escaped.
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, ch)
    return text
