# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument specs several livemount.core modules share, with their doc fragments (as kubernetes.core does).

STATE_DIR_SPEC is documented by plugins/doc_fragments/state_dir.py,
NAMESPACE_SPEC by plugins/doc_fragments/namespace.py: a module that takes
one takes the other with it (`extends_documentation_fragment`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

STATE_DIR_SPEC = {"state_dir": {"type": "path"}}

NAMESPACE_SPEC = {"namespace": {"type": "path"}, "pid": {"type": "int"}}
NAMESPACE_EXCLUSIVE = [("namespace", "pid")]


def argument_spec(*shared, **own):
    """Return one argument spec: the `shared` specs above, then the module's `own` options."""
    spec = {}
    for part in shared:
        spec.update(part)
    spec.update(own)
    return spec
