"""Issue 13, defect 8: what used to end in "unexpected error", a hang, or a bare "interrupted".

A profile that is not a regular file (/dev/zero, a FIFO, a directory) or is larger than
8 MiB is refused before it is read; a state directory below a regular file
or with a name too long is a clear error; Ctrl-C in the middle of an apply
says what is left and that the next run recovers it, and it does.
"""

import os
import signal
import subprocess

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint

from .helpers import cli, cli_command, cli_env, make_tree, pending, profile_dict, status, write_profile


def _one_error(proc, words):
    """Assert exit 1 with `words` said (validate lists its problems on stdout, the others on stderr)."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "unexpected error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert words in proc.stdout + proc.stderr, (proc.stdout, proc.stderr)


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory", "too-large"])
def test_a_profile_that_is_no_regular_file_or_too_large_is_refused_at_once(scratch, command, kind):
    """/dev/zero, a FIFO nobody writes to, a directory, a 9 MiB file: exit 1 naming the file and why, nothing read."""
    make_tree(scratch, ["profiles/"])
    if kind == "dev-zero":
        path = "/dev/zero"
    elif kind == "directory":
        path = os.path.join(scratch, "profiles")
    elif kind == "fifo":
        path = os.path.join(scratch, "profile.fifo")
        os.mkfifo(path)
    else:
        path = os.path.join(scratch, "big.json")
        with open(path, "w") as f:
            f.write('{"name": "big", "mounts": [%s]}' % ",".join(['{"target": "/srv/x", "type": "tmpfs"}'] * 250000))
    argv = [command, path] + (["--yes"] if command == "apply" else [])
    proc = cli(scratch, *argv, timeout=60)
    why = {"dev-zero": "not a regular file", "fifo": "not a regular file", "directory": "not a regular file",
           "too-large": "more than the 8 MiB"}[kind]
    _one_error(proc, why)
    assert path in proc.stdout + proc.stderr


@pytest.mark.parametrize("where", ["below-a-file", "name-too-long"])
def test_a_state_directory_that_cannot_be_one_is_a_clear_error(scratch, where):
    """--state-dir below a regular file, or with a 300-byte name: exit 1 naming it, for status and apply."""
    make_tree(scratch, ["file=x", "src/"])
    bad = os.path.join(scratch, "file", "state") if where == "below-a-file" else os.path.join(scratch, "s" * 300)
    profile = write_profile(scratch, profile_dict(scratch, [{"target": "@/t", "type": "tmpfs"}]))
    for args in (["status"], ["apply", "--yes", profile], ["destroy", "--yes", "test"]):
        proc = subprocess.run(cli_command(scratch, *args)[:3] + ["--state-dir", bad] + list(args), env=cli_env(None),
                              capture_output=True, text=True, timeout=60)
        _one_error(proc, "state directory")
    assert not os.path.lexists(os.path.join(scratch, "t")) or not os.path.ismount(os.path.join(scratch, "t"))


def test_ctrl_c_mid_apply_says_the_next_run_recovers_and_it_does(scratch):
    """SIGINT while an apply is held before its 3rd step: exit 130 saying what is left; the next run converges."""
    make_tree(scratch, [])
    data = profile_dict(scratch, [{"target": "@/t/a", "type": "tmpfs"}, {"target": "@/t/b", "type": "tmpfs"}])
    profile = write_profile(scratch, data)
    fifo = os.path.join(scratch, "hold")
    os.mkfifo(fifo)
    env = {failpoint.ENV: "3:wait", failpoint.FIFO_ENV: fifo}
    proc = subprocess.Popen(cli_command(scratch, "apply", "--yes", profile), env=cli_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with open(fifo) as f:
        assert f.read().strip() == "3"  # held before step 3: steps 1 and 2 are done
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "the next run of this profile" in err and "recovers it" in err, err
    assert "unexpected error" not in err
    assert status(scratch)[0]["interrupted"]
    again = cli(scratch, "apply", "--yes", profile)
    assert again.returncode == 0, again.stderr
    assert pending(scratch, data) == []
