"""The `livemount` console script (main.run): main()'s exit status, every byte of its output, no teardown.

Each case runs the script in a fresh interpreter, as an installed `livemount`
runs, against `sys.exit(main())`, what the script did before it skipped the
interpreter's teardown: the same status, stdout and stderr.
"""

import json
import os
import subprocess
import sys

import pytest

RUN = "import sys; sys.argv[0] = 'livemount'; from livemount_cli.main import run; run()"
PLAIN = "import sys; sys.argv[0] = 'livemount'; from livemount_cli.main import main; sys.exit(main())"


def _livemount(code, args, **kw):
    return subprocess.run([sys.executable, "-c", code] + list(args), capture_output=True, env=dict(os.environ),
                          timeout=120, **kw)


def test_a_large_output_arrives_whole():
    """`schema` writes a JSON document to a pipe: all of it is there when the process has ended, status 0."""
    proc = _livemount(RUN, ["schema"])
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["$schema"]
    assert proc.stdout == _livemount(PLAIN, ["schema"]).stdout


@pytest.mark.parametrize("args", [["validate", "/nonexistent/profile.yaml"], ["--version"], ["plan"]],
                         ids=["an error", "argparse exits", "a usage error"])
def test_status_and_messages_are_main_s(args):
    """An error (status 1, its message on stderr) and argparse's own exits come out exactly as before."""
    fast, plain = _livemount(RUN, args), _livemount(PLAIN, args)
    assert (fast.returncode, fast.stdout, fast.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert fast.returncode != 0 or args == ["--version"]


def test_a_reader_gone_ends_as_the_interpreter_would(tmp_path):
    """A reader that closed the pipe early: the run ends (no hang), with the status `sys.exit(main())` gives.

    The output (a profile of 20,000 entries) is many times a pipe's buffer: the writer meets the closed pipe.
    """
    fstab = tmp_path / "fstab"
    fstab.write_text("".join("tmpfs /srv/t%05d tmpfs size=1m 0 0\n" % i for i in range(20000)))

    def closed_early(code):
        proc = subprocess.Popen([sys.executable, "-c", code, "import", str(fstab)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(os.environ))
        assert proc.stdout.read(10)
        proc.stdout.close()
        return proc.wait(timeout=120), proc.stderr.read()

    assert closed_early(RUN) == closed_early(PLAIN)
