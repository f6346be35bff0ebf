"""What engine-level unit tests on the fake share: a state root, apply, mutations.

Import the fixtures into a test module to use them there:
`from tests.unit.engine_runs import apply, mutations, root  # noqa: F401`.
"""

import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.plan import to_perform
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from tests.unit.planner_world import fast_tmpdir


@pytest.fixture
def root():
    """Return a fresh, empty state root (removed afterwards)."""
    path = fast_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def apply(data, fake, root, **kw):
    """Return the Report of reconciling profile mapping `data` on `fake` with state under `root`."""
    return engine.reconcile(load_profile(data), fake, root=root, **kw)


def mutations(report):
    """Return [(action, target)] of the mutating changes of a report."""
    return [(c.action.value, c.target) for c in to_perform(report.changes)]
