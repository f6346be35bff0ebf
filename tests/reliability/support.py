"""Running the real `livemount` command many times, fast: in this process, or in a forked copy of it.

A sweep runs the command hundreds of times; a fresh interpreter costs about
0.6 s a run (imports), the same `livemount_cli.main.main(argv)` called in
this process costs a few milliseconds. It is the same code a console script
runs: argument parsing, `run_command`'s error-to-exit-status rule, the
rendering of messages. What a real process adds (the interpreter printing a
traceback for an escaped exception) is checked here by treating any
exception escaping `main` as a failure, and by test_corpus.py's sample of
real subprocess runs.

`run_forked` runs the command in a forked child so that `N:crash` failpoints
(SIGKILL) kill the child, not the test.
"""

import contextlib
import faulthandler
import io
import os
import signal
import sys
import tempfile
from collections import namedtuple

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint, sys_linux
from livemount_cli import main as cli_main
from tests.integration.helpers import read_table, state_dir

Run = namedtuple("Run", "code stdout stderr")


def _warm_up():
    """Return None after importing what every run needs, here in the pytest process.

    Each test body runs in a child forked from this process (tests/conftest.py):
    what is imported now is inherited, instead of costing every test a third
    of a second of imports (yaml, the subcommands, the engine).
    """
    import yaml  # noqa: F401

    from ansible_collections.livemount.core.plugins.module_utils.livemount import (  # noqa: F401
        engine, journal, recover, state)
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import (  # noqa: F401
        failpoint, sys_linux)
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import fstab, load  # noqa: F401
    from livemount_cli import common, flow, hints, output, table, term  # noqa: F401

    cli_main.build_parser()  # imports every subcommand module


_warm_up()

# What every run gets: no colour, wide lines (no wrapping inside messages).
BASE_ENV = {"NO_COLOR": "1", "COLUMNS": "400", "LINES": "100"}


@contextlib.contextmanager
def environment(extra):
    """Return a context in which os.environ has BASE_ENV and `extra` (None values unset), restored after."""
    wanted = dict(BASE_ENV, **{failpoint.ENV: None})
    wanted.update(extra or {})
    saved = {k: os.environ.get(k) for k in wanted}
    try:
        for k, v in wanted.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_cli(scratch, *args, env=None):
    """Return the Run (exit status, stdout, stderr) of `livemount --state-dir <scratch>/state ARGS` in this process."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["--state-dir", state_dir(scratch)] + list(args)
    with environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main.main(argv)
        except SystemExit as exc:  # argparse usage errors exit through SystemExit
            code = exc.code if isinstance(exc.code, int) else 1
    return Run(code, out.getvalue(), err.getvalue())


def run_forked(scratch, *args, env=None, before=None):
    """Return the Run of the command in a forked child; `code` is -SIGNAL when the child was killed.

    `before`, when given, is called in the child first (for example to drop
    privileges). The child writes its result to an unnamed temporary file the
    parent reads after waiting: no pipe to fill up, nothing left on disk.
    """
    with tempfile.TemporaryFile("w+", encoding="utf-8") as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 70
            faulthandler.disable()  # a crash of the command is the finding; pytest's dump would only be noise
            try:
                if before is not None:
                    before()
                run = run_cli(scratch, *args, env=env)
                sink.write("%d\n%s\0%s" % (run.code, run.stdout, run.stderr))
                sink.flush()
                code = 0
            except BaseException as exc:  # noqa: BLE001 - reported to the parent as the run's stderr
                sink.write("70\n\0escaped from main: %s: %s" % (type(exc).__name__, exc))
                sink.flush()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        sink.seek(0)
        text = sink.read()
    if os.WIFSIGNALED(status):
        return Run(-os.WTERMSIG(status), "", text)
    head, _, rest = text.partition("\n")
    stdout, _, stderr = rest.partition("\0")
    return Run(int(head) if head.strip() else 70, stdout, stderr)


def crashed(run):
    """Return True when a forked run was killed by SIGKILL (a `crash` failpoint)."""
    return run.code == -signal.SIGKILL


def words(text):
    """Return `text` with every run of blanks (rich's line breaks included) made one space."""
    return " ".join(text.split())


def clean_failure(run):
    """Return a list of ways a failed run's output is not one clear message (empty: it is)."""
    problems = []
    if run.code != 1:
        problems.append("exit %s, not 1" % run.code)
    if "Traceback" in run.stderr or "Traceback" in run.stdout:
        problems.append("a traceback was printed")
    if "unexpected error" in run.stderr:
        problems.append("an unexpected error (not a LivemountError) escaped: %s" % words(run.stderr)[:300])
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    if len(errors) != 1:
        problems.append("%d lines start with 'error: ', not one: %r" % (len(errors), run.stderr[:300]))
    return problems


def listing(root):
    """Return {relative path: (mode, size, bytes of small files)} of everything under `root` (no mounts entered)."""
    out = {}
    if not os.path.lexists(root):
        return out
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not os.path.ismount(os.path.join(d, x))]
        for name in dirs + files:
            path = os.path.join(d, name)
            st = os.lstat(path)
            content = None
            if os.path.isfile(path) and not os.path.islink(path) and st.st_size < 1 << 20:
                with open(path, "rb") as f:
                    content = f.read()
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_uid, content)
    return out


def whole_table():
    """Return the whole live table of this namespace as sorted comparable tuples (ids left out)."""
    return sorted((m.point, m.root, m.fstype, m.source, tuple(sorted(m.opts)), m.super, m.propagation)
                  for m in read_table())


class RaceSys(failpoint.FailpointSys):
    """A real Sys that calls `swap()` just before mutation number `at` (then performs it); no failpoints.

    The other party of a race, made deterministic: whatever `swap` does
    happens after the plan and between two system calls of the apply.
    """

    def __init__(self, at, swap):
        super().__init__(sys_linux.LinuxSys(), {})
        self.at = at
        self.swap = swap

    def _step(self, name, *args):
        if self.count + 1 == self.at:
            self.swap()
        super()._step(name, *args)
