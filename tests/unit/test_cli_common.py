"""What every CLI command shares (cli/common.py): the cyclic garbage collector paused while a command runs."""

import argparse
import gc

import pytest

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
