"""The checks mount_profile's action plugin makes for the role's loop: validate_all before, verify after."""

import pytest

from ansible_collections.livemount.core.plugins.action import mount_profile as action

GOOD = {"name": "good", "mounts": [{"target": "/srv/good", "type": "tmpfs"}]}
BAD = {"name": "bad", "mounts": [{"target": "relative", "type": "tmpfs"}]}


@pytest.mark.parametrize("profiles, want", [
    ([GOOD], []),
    ([GOOD, {"name": "gone", "state": "absent"}], []),
    ([GOOD, dict(GOOD)], ["a profile without a name, or names given twice: ['good', 'good']"]),
    ([GOOD, {"mounts": []}], ["a profile without a name, or names given twice: ['good', '?']"]),
    ([GOOD, BAD], ["cannot validate profile bad: 1 problem: task: $.mounts[0].target: "]),
    ("not a list", ["validate_all: expected a list of profiles (dicts)"]),
], ids=["valid", "absent-not-validated", "name-twice", "no-name", "one-invalid", "not-a-list"])
def test_invalid_among(profiles, want):
    """Each reason the loop may not be applied is given once, whichever item asks."""
    got = action.invalid_among(profiles, "task")
    assert [g[:len(w)] for g, w in zip(got, want)] == want and len(got) == len(want), got
    assert action.invalid_among(profiles, "task") == got  # the second item of the loop is told the same


@pytest.mark.parametrize("result, want", [
    ({"profile": "web", "health": {"healthy": True, "entries": []}}, {}),
    ({"profile": "web"}, {}),
    ({"profile": "web", "health": {"healthy": False, "entries": [
        {"target": "/srv/web", "health": "missing", "detail": "not mounted"},
        {"target": "/srv/ok", "health": "ok", "detail": ""},
        {"target": "/srv/db", "health": "drifted", "detail": "options differ"}]}},
     {"failed": True, "msg": "cannot verify profile web: /srv/web missing (not mounted); "
                             "/srv/db drifted (options differ);"}),
], ids=["healthy", "no-health", "unhealthy"])
def test_verified(result, want):
    """An apply that left its profile unhealthy fails, naming each entry that is not ok."""
    assert action.verified(result) == want
