"""The engine's compiled code kept on a host (module_utils/code_cache.py), through real ansible-playbook runs.

A --check run writes nothing, not even the code cache; an apply keeps the
code it compiled; a later --check of the host in sync loads it and still
writes nothing.
"""

import os
import pathlib
import sys

import pytest

from . import playbook


def _task(scratch, **kw):
    mounts = [{"target": scratch + "/mnt/cache", "type": "tmpfs", "options": ["size=1m"]}]
    return {"name": "apply", "livemount.core.mount_profile": dict({"name": "cached", "mounts": mounts}, **kw),
            "register": "out"}


def _listing(path):
    return sorted((p.name, p.stat().st_mtime_ns, p.stat().st_ino) for p in path.iterdir())


@pytest.mark.skipif(sys.version_info < (3, 10), reason="Python 3.9 keeps no code (code_cache.py)")
def test_an_apply_keeps_the_code_a_check_only_reads_it(scratch):
    """--check: no cache made; apply: engine files kept (0700 directory); --check again: nothing changed there."""
    cache = pathlib.Path(scratch) / "code"
    env = {"LIVEMOUNT_CODE_CACHE": str(cache), "PYTHONDONTWRITEBYTECODE": ""}
    check = playbook.run(playbook.play([_task(scratch)]), scratch, check=True, env=env)
    assert check.rc == 0, check.stdout
    assert check.result("apply")["changed"] is True
    assert not cache.exists(), "check mode wrote the code cache"

    applied = playbook.run(playbook.play([_task(scratch)]), scratch, env=env)
    assert applied.rc == 0, applied.stdout
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    kept = _listing(cache)
    assert len(kept) > 20, "the engine's files were not kept: %s" % kept

    again = playbook.run(playbook.play([_task(scratch)]), scratch, check=True, env=env)
    assert again.rc == 0, again.stdout
    assert again.result("apply")["changed"] is False
    assert _listing(cache) == kept, "check mode wrote in the code cache"

    gone = playbook.run(playbook.play([_task(scratch, state="absent")]), scratch, env=env)
    assert gone.rc == 0, gone.stdout
    assert not os.path.ismount(scratch + "/mnt/cache")
