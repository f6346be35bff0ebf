"""cli/table.py: wrapping between words and path components, column narrowing, and blocks when a table cannot fit."""

import pytest

from livemount_cli.table import Column, Table, pieces, wrap
from livemount_cli.term import Stream, cell_len


def _text(lines):
    return ["".join(t for t, _ in line) for line in lines]


WRAPS = [
    # (id, text, width, lines)
    ("fits", "bind /srv/data ro", 40, ["bind /srv/data ro"]),
    ("word-moves-whole", "overlay /srv/layers/app upper /srv/var/up", 30,
     ["overlay /srv/layers/app upper", "/srv/var/up"]),
    ("long-word-cut-between-components", "/srv/applications/configuration/files", 20,
     ["/srv/applications", "/configuration/files"]),
    ("list-cut-after-colon-first", "lower /ovl/l1:/ovl/l2 upper", 14, ["lower /ovl/l1:", "/ovl/l2 upper"]),
    ("options-cut-after-comma", "ro,nosuid,nodev,noexec", 10, ["ro,nosuid,", "nodev,", "noexec"]),
    ("component-longer-than-line", "xxxxxxxxxxxx", 5, ["xxxxx", "xxxxx", "xx"]),
    ("bind-root", "tmpfs[/data/app/config]", 12, ["tmpfs[/data", "/app/config]"]),
]


@pytest.mark.parametrize("text, width, lines", [w[1:] for w in WRAPS], ids=[w[0] for w in WRAPS])
def test_wrap(text, width, lines):
    """wrap breaks at blanks first, then after `:` or `,`, then before `/`; it cuts inside a piece only when it must."""
    assert _text(wrap([(text, "")], width)) == lines


def test_wrap_keeps_lead_and_continuation():
    """The first line starts with `lead` as it is, continuation lines with `cont` (a tree's guide, an indent)."""
    got = _text(wrap([("one two three", "")], 12, lead=[("  label  ", "")], cont=[("│ ", "")]))
    assert got == ["  label  one", "│ two three"]


def test_pieces_keep_separators_with_their_component():
    """Pieces start at `/` or `[`, and keep a trailing `,` or `:`."""
    assert [p for p, space in pieces("a/b:/c,d [/e]") if not space] == ["a", "/b:", "/c,", "d", "[/e]"]


def test_a_narrow_table_keeps_its_target_and_becomes_blocks_when_it_cannot_fit():
    """Columns narrow widest first, a `keep` column last; below the narrowest pieces the table is blocks."""
    t = Table([Column("action", wrap=False), Column("target", keep=True), Column("change", give=1)], head=2)
    t.add("mount", "/srv/app/cache", "tmpfs size=32m,mode=0755 with a long explanation")
    wide = _text(t.render(80))
    assert wide[3].startswith("│ mount  │ /srv/app/cache │ tmpfs size=32m,mode=0755 with a long explanation")
    narrow = _text(t.render(40))
    assert max(cell_len(x) for x in narrow) <= 40 and any("/srv/app/cache" in x for x in narrow)
    blocks = _text(t.render(22))
    assert blocks == ["mount /srv/app/cache", "  change  tmpfs", "          size=32m,", "          mode=0755",
                      "          with a long", "          explanation"]


def test_stream_colour_and_width(monkeypatch):
    """A stream that is no terminal has no colour and no message width unless COLUMNS says; --color forces colour."""
    import io

    plain = Stream(io.StringIO(), None, {"COLUMNS": "70"})
    assert not plain.color and plain.width == 70 and plain.paint([("x", "bold")]) == "x"
    forced = Stream(io.StringIO(), True, {})
    assert forced.color and forced.width is None and forced.table_width() == 80
    assert forced.paint([("a", "red"), ("b", "red"), ("c", "")]) == "\x1b[31mab\x1b[0mc"
