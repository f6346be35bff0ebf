"""The owned table as fstab-like lines (diff.py): each line made once, the same text either way."""

from ansible_collections.livemount.core.plugins.module_utils.livemount import diff
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile

MOUNTS = [{"target": "/data/b", "type": "bind", "source": "/srv/b", "options": ["ro"]},
          {"target": "/data/a", "type": "tmpfs", "options": ["size=1m"]},
          {"target": "/data/l", "type": "symlink", "source": "/x y"},
          {"target": "/data/o", "type": "overlay", "lower": ["/l,1"], "upper": "/u", "work": "/w"}]


def _entries(mounts):
    return list(load_profile({"name": "p", "mounts": mounts}).entries)


def test_table_text_is_the_sorted_lines():
    """table_text: one entry_line per entry, sorted by target, newline-terminated; '' for none."""
    entries = _entries(MOUNTS)
    assert diff.table_text(entries) == "".join(diff.entry_line(e) + "\n"
                                               for e in sorted(entries, key=lambda e: e.target))
    assert diff.table_text([]) == ""


def test_known_lines_are_used_only_for_equal_entries():
    """A line known for an equal entry at the target is reused; another entry there gets its own line."""
    before = _entries(MOUNTS)
    after = _entries([dict(MOUNTS[0], options=["rw"])] + MOUNTS[1:])
    known = {}
    assert diff.table_text(after, known) == diff.table_text(after)
    assert diff.table_text(before, known) == diff.table_text(before)
    assert known["/data/b"][1] == diff.entry_line(before[0])  # the last line made at a target is the one known


def test_make_diff_of_unchanged_entries_has_the_same_text_on_both_sides():
    """A plan that changes nothing shows the same table before and after (the lines made once)."""
    entries = _entries(MOUNTS)
    d = diff.make_diff(_entries(MOUNTS), entries, "p in mnt:[1]")
    assert d == {"before": diff.table_text(entries), "after": diff.table_text(entries),
                 "before_header": "p in mnt:[1] (before)", "after_header": "p in mnt:[1] (after)"}
