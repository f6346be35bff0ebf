# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: livemount.core's AnsiballZ payloads built once per source, not once per ansible-playbook run.

ansible-playbook builds a module's AnsiballZ payload once per process and keeps
it in its own temporary directory (C.DEFAULT_LOCAL_TMP/ansiballz_cache, named by
the module, never by its sources): to build it, ansible parses every
module_utils file the module imports. For livemount.core's modules, 90 engine
files, that is most of a second of every test's every ansible-playbook run.

With E(LIVEMOUNT_ANSIBALLZ_SHARE) naming a directory, this callback (in the
controller's main process, before any worker forks) copies into the run's
cache, when the playbook starts, what earlier runs of the same sources built,
and files what this run built when it ends. A set of payloads is named by
everything they are made from: ansible-core (its version and where it is), the
collection's real path and the bytes of every file under its plugins/modules
and plugins/module_utils. A changed file is another name: a payload is never
used for sources other than its own. Only livemount.core's payloads are
shared; anything that goes wrong leaves the run as it would have been without
this callback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import shutil
from importlib import import_module

from ansible import constants as C
from ansible.module_utils.ansible_release import __version__ as ansible_version
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: shared_ansiballz
type: aggregate
short_description: Share livemount.core's AnsiballZ payloads between ansible-playbook runs (tests only)
description: Test-only; never shipped (it lives under tests/).
requirements:
  - E(LIVEMOUNT_ANSIBALLZ_SHARE) names the directory shared by the runs
"""

OURS = "ansible_collections.livemount.core."
KEEP = 8  # sets of payloads kept, the newest by when they were last filed: two ansible-cores at once, and a spare


def _sources_key():
    """Return the name of the payloads of the livemount.core this run imports (see the module's docstring)."""
    import ansible

    root = os.path.realpath(os.path.dirname(import_module("ansible_collections.livemount.core").__file__))
    digest = hashlib.sha256()
    for part in (ansible_version, os.path.realpath(ansible.__file__), root):
        digest.update(part.encode() + b"\0")
    for top in ("modules", "module_utils"):
        for parent, dirs, files in os.walk(os.path.join(root, "plugins", top)):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(parent, name)
                    with open(path, "rb") as f:
                        digest.update(os.path.relpath(path, root).encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "shared_ansiballz"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._shared = None  # the directory of this run's sources' payloads
        self._cache = os.path.join(C.DEFAULT_LOCAL_TMP, "ansiballz_cache")

    def v2_playbook_on_start(self, playbook):
        share = os.environ.get("LIVEMOUNT_ANSIBALLZ_SHARE")
        if not share:
            return
        try:
            self._shared = os.path.join(share, _sources_key())
            if os.path.isdir(self._shared):
                os.makedirs(self._cache, exist_ok=True)
                for name in os.listdir(self._shared):
                    if name.startswith(OURS) and not os.path.exists(os.path.join(self._cache, name)):
                        _copy(os.path.join(self._shared, name), self._cache, name)
        except Exception:  # noqa: BLE001 -- a speed-up only: whatever fails, the run builds its own payloads
            self._shared = None

    def v2_playbook_on_stats(self, stats):
        if self._shared is None:
            return
        try:
            built = [n for n in os.listdir(self._cache) if n.startswith(OURS) and not n.endswith(".lock")]
            os.makedirs(self._shared, exist_ok=True)
            for name in built:
                if not os.path.exists(os.path.join(self._shared, name)):
                    _copy(os.path.join(self._cache, name), self._shared, name)
            os.utime(self._shared)
            _prune(os.path.dirname(self._shared))
        except Exception:  # noqa: BLE001 -- nothing filed is only a later run's payload built again
            pass


def _copy(path, directory, name):
    """Copy file `path` to `directory`/`name` whole or not at all: a reader never finds half a payload."""
    tmp = os.path.join(directory, ".%s.%d" % (name, os.getpid()))
    try:
        shutil.copyfile(path, tmp)
        os.rename(tmp, os.path.join(directory, name))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _prune(share):
    """Remove all but the KEEP newest sets of payloads under `share`."""
    sets = sorted((os.path.join(share, n) for n in os.listdir(share)), key=os.path.getmtime, reverse=True)
    for old in sets[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
