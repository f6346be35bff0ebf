"""Path-tree relations by set lookup (paths.with_ancestors, paths.under_any) agree with the pairwise ones."""

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import paths

TARGETS = ["/srv/a/b", "/srv/a/c", "/srv/d", "/opt", "/srv/a-1/x"]
PROBES = ["/", "/srv", "/srv/a", "/srv/a/b", "/srv/a/b/c", "/srv/a-1", "/srv/ab", "/opt", "/opt/x", "/var"]


@pytest.mark.parametrize("probe", PROBES)
def test_with_ancestors_is_some_target_at_or_under(probe):
    """`p in with_ancestors(ts)` says whether some target is at or under p, as comparing with each does."""
    assert (probe in paths.with_ancestors(TARGETS)) == any(paths.is_at_or_under(t, probe) for t in TARGETS)


@pytest.mark.parametrize("strict", [False, True], ids=["at-or-under", "strictly-under"])
@pytest.mark.parametrize("probe", PROBES)
def test_under_any_agrees_with_pairwise(probe, strict):
    """under_any(p, roots) is any(is_under / is_at_or_under(p, r)) over the roots, by the path's ancestors."""
    roots = set(TARGETS) | {"/srv/a"}
    rel = paths.is_under if strict else paths.is_at_or_under
    assert paths.under_any(probe, roots, strict=strict) == any(rel(probe, r) for r in roots)


def test_with_ancestors_of_nothing_and_of_root():
    """No targets give no paths; `/` gives itself only."""
    assert paths.with_ancestors([]) == set()
    assert paths.with_ancestors(["/"]) == {"/"}


NESTED = ["/srv/a", "/srv/a/b", "/srv/a/b/c", "/srv/a-1", "/srv/a-1/x", "/srv/ab/c", "/opt", "/opt/x/y", "/var", "/"]


@pytest.mark.parametrize("targets", [NESTED, NESTED[1:], ["/x"], [], ["/a/b", "/a"], ["/a", "/a/b/c", "/a/c"]],
                         ids=["with-root", "without-root", "one", "none", "reversed", "siblings"])
def test_nested_is_each_target_with_the_targets_above_it(targets):
    """nested() gives, for each target below another, the targets above it outermost first: as ancestors() says."""
    wanted = [(t, [a for a in paths.ancestors(t) if a in targets])
              for t in sorted(targets, key=paths.sort_key)]
    assert list(paths.nested(set(targets))) == [(t, above) for t, above in wanted if above]


def test_ancestors_are_a_new_list_each_call():
    """ancestors() is computed once per path (cached), yet a caller changing its list changes no other caller's."""
    first = paths.ancestors("/a/b/c")
    assert first == ["/", "/a", "/a/b"] and paths.ancestors("/") == []
    first.append("/a/b/c")
    first[0] = "changed"
    assert paths.ancestors("/a/b/c") == ["/", "/a", "/a/b"]
    assert paths.ancestors("/a/b/c") is not paths.ancestors("/a/b/c")
