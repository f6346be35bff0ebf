"""What every CLI command shares (cli/common.py): the cyclic garbage collector paused while a command runs."""

import argparse
import gc

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import errors
from livemount_cli import common


@pytest.fixture
def collector():
    """Restore the collector's state whatever a test leaves."""
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "disabled"])
def test_collector_paused_turns_it_off_then_back_as_it_was(collector, enabled):
    """Inside: off. After, and after an exception too: as it was before (never turned on if it was off)."""
    (gc.enable if enabled else gc.disable)()
    with common.collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled
    with pytest.raises(RuntimeError):
        with common.collector_paused():
            raise RuntimeError("boom")
    assert gc.isenabled() is enabled


def test_collector_paused_false_leaves_it_running(collector):
    """pause=False: the body runs with the collector as it is."""
    gc.enable()
    with common.collector_paused(False):
        assert gc.isenabled()
    assert gc.isenabled()


def test_collector_paused_without_restore_leaves_it_off(collector):
    """restore=False (the process ends right after): off inside and after, even if it was on before."""
    gc.enable()
    with common.collector_paused(restore=False):
        assert not gc.isenabled()
    assert not gc.isenabled()


def _args(command):
    return argparse.Namespace(command=command, color=False, quiet=True, verbose=0, json=False)


@pytest.mark.parametrize("command, paused", [("plan", True), ("apply", True), ("show", True), ("watch", False)])
def test_run_command_pauses_the_collector_unless_the_command_runs_until_stopped(collector, command, paused):
    """A command that runs once and exits runs with the collector off; `watch`, which runs for days, keeps it."""
    gc.enable()
    seen = []
    assert common.run_command(lambda args, out: seen.append(gc.isenabled()) or 0, _args(command)) == 0
    assert seen == [not paused]
    assert gc.isenabled()


@pytest.mark.parametrize("command, after", [("apply", False), ("watch", True)])
def test_run_command_exiting_leaves_the_collector_off(collector, command, after):
    """exiting=True (the console script, which os._exits next): a command that paused the collector leaves it off;
    `watch`, which never paused it, leaves it on."""
    gc.enable()
    assert common.run_command(lambda args, out: 0, _args(command), exiting=True) == 0
    assert gc.isenabled() is after


def _raising(exc, seen):
    """Return a command that appends to `seen` whether the collector runs, then raises `exc`."""
    def command(args, out):
        seen.append(gc.isenabled())
        raise exc
    return command


@pytest.mark.parametrize("exc, status", [
    (KeyboardInterrupt(), 130),
    (errors.ApplyError("cannot mount tmpfs on /data/x: boom"), 1),
    (RuntimeError("a bug"), 1),
], ids=["interrupted", "engine-error", "unexpected-error"])
def test_run_command_turns_the_collector_back_on_whatever_the_command_raises(collector, capsys, exc, status):
    """A command stopped by Ctrl-C or an error ran with the collector off; it is on again when the message is
    printed and after."""
    gc.enable()
    seen = []
    assert common.run_command(_raising(exc, seen), _args("apply")) == status
    assert seen == [False]
    assert gc.isenabled()


def test_run_command_turns_the_collector_back_on_when_a_command_exits(collector):
    """sys.exit inside a command (SystemExit is no Exception) goes through, the collector on again."""
    gc.enable()
    seen = []
    with pytest.raises(SystemExit):
        common.run_command(_raising(SystemExit(3), seen), _args("destroy"))
    assert seen == [False] and gc.isenabled()


@pytest.mark.parametrize("argv", [["watch"], ["watch", "--repair"], ["watch", "--once", "--json", "web"]],
                         ids=["watch", "repair", "once"])
def test_the_command_line_of_watch_keeps_the_collector(argv):
    """`livemount watch --repair` (livemount-watch.service runs it for days) parses to a command that runs until
    stopped: its collector is never paused, whatever the options."""
    from livemount_cli import main

    args = main.build_parser().parse_args(argv)
    assert args.command in common.RUN_UNTIL_STOPPED
    assert common.RUN_UNTIL_STOPPED <= {name for name, _help, _module in main.COMMANDS}
