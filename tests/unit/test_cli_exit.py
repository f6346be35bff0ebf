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

    The output (a profile of 8,000 entries, about 450 KiB) is seven times a pipe's default buffer (64 KiB): the
    writer meets the closed pipe.
    """
    fstab = tmp_path / "fstab"
    fstab.write_text("".join("tmpfs /srv/t%05d tmpfs size=1m 0 0\n" % i for i in range(8000)))

    def closed_early(code):
        proc = subprocess.Popen([sys.executable, "-c", code, "import", str(fstab)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(os.environ))
        assert proc.stdout.read(10)
        proc.stdout.close()
        return proc.wait(timeout=120), proc.stderr.read()

    assert closed_early(RUN) == closed_early(PLAIN)


class _Stream:
    """A standard stream that holds what is written until flushed (or cannot be flushed: `broken`)."""

    def __init__(self, broken=False):
        self.held, self.out, self.broken = [], [], broken

    def write(self, text):
        self.held.append(text)

    def flush(self):
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        self.out.extend(self.held)
        self.held = []


class _Exited(Exception):
    pass


@pytest.fixture
def entry(monkeypatch):
    """Return (main module, streams, exits): run() with main() writing a line and returning 2, os._exit recorded."""
    from livemount_cli import main as cli

    streams = {"stdout": _Stream(), "stderr": _Stream()}
    exits = []

    def fake_main(exiting=False):
        exits.append("main(exiting=%s)" % exiting)
        sys.stdout.write("the output\n")
        sys.stderr.write("a message\n")
        return 2

    def fake_exit(status):
        exits.append(status)
        raise _Exited()

    monkeypatch.setattr(cli, "main", fake_main)
    monkeypatch.setattr(cli.os, "_exit", fake_exit)
    return cli, streams, exits


def _streams(monkeypatch, streams):
    # In the test's body: pytest puts its own capturing streams in place between setup and the call.
    for name, stream in streams.items():
        monkeypatch.setattr(sys, name, stream)


def test_run_flushes_both_streams_then_leaves_with_main_s_status(entry, monkeypatch):
    """What main() left in the buffers is flushed before os._exit, which gets main()'s status."""
    cli, streams, exits = entry
    _streams(monkeypatch, streams)
    with pytest.raises(_Exited):
        cli.run()
    assert exits == ["main(exiting=True)", 2]  # main() told the process ends: the collector stays off
    assert streams["stdout"].out == ["the output\n"] and streams["stderr"].out == ["a message\n"]


def test_run_that_cannot_flush_leaves_the_interpreter_s_way(entry, monkeypatch):
    """A stream that cannot be flushed: sys.exit with main()'s status (the interpreter reports it), no os._exit."""
    cli, streams, exits = entry
    streams["stdout"].broken = True
    _streams(monkeypatch, streams)
    with pytest.raises(SystemExit) as raised:
        cli.run()
    assert raised.value.code == 2 and exits == ["main(exiting=True)"]
