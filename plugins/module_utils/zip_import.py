# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Import the engine from the AnsiballZ zip compiling each file once, not twice.

A module runs on the host from a zip (AnsiballZ), where nothing is ever
compiled ahead: every engine file a module imports is compiled from source
at every run. CPython's zipimporter (3.8 to 3.13 at least) compiles each one
twice: find_spec asks get_filename for the file's name, and get_filename
compiles the module to learn it; exec_module then compiles it again. For
the engine that was half of a module's start-up on the host (docs/benchmarks.md,
the fleet rollout). What it compiles is kept on the host for the next
runs by code_cache.py (keep_compiled()).

Importing this module (each of our modules does, before the engine) puts a
path hook first: for the packages of this collection inside a zip, a
zipimporter whose get_filename names the file from the zip's listing
without compiling anything. The same files are imported, from the same zip,
at the same moment; only the first compile is skipped. Anything else (a
directory on the controller, another collection, ansible's own module_utils)
goes to the hooks as they were.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys
import zipimport

from ansible_collections.livemount.core.plugins.module_utils import code_cache

# The packages of this collection, as a path inside the zip names them.
OURS = os.sep.join(("", "ansible_collections", "livemount", "core", "plugins", ""))


class CompileOnce(zipimport.zipimporter):
    """A zipimporter whose get_filename does not compile the module it names, and whose get_code keeps what
    it compiles (code_cache.py)."""

    def get_filename(self, fullname):
        """Return the path of `fullname`'s source in the zip (what zipimporter returns, without compiling it)."""
        base = os.path.join(self.archive, self.prefix, fullname.rpartition(".")[2])
        return os.path.join(base, "__init__.py") if self.is_package(fullname) else base + ".py"

    def get_code(self, fullname):
        """Return the code of `fullname`: found in the code cache by its source, or compiled from it."""
        filename = self.get_filename(fullname)
        return code_cache.code_of(fullname, self.get_data(filename), filename)


def path_hook(path):
    """Return a CompileOnce for a package directory of ours inside a zip; ImportError (next hook) otherwise."""
    if OURS not in path:
        raise ImportError("not a package of livemount.core: %s" % path)
    return CompileOnce(path)  # ZipImportError (an ImportError) when `path` is not inside a zip


if path_hook not in sys.path_hooks:
    sys.path_hooks.insert(0, path_hook)
    # The importer of this very directory was made (by the hooks before ours) to import this file: made again
    # by ours, it imports args_common and the engine package's __init__ too.
    sys.path_importer_cache.pop(os.path.dirname(__file__), None)


def keep_compiled():
    """Keep the engine code this run compiled for the next runs on this host: only from a run that may write."""
    code_cache.keep()
