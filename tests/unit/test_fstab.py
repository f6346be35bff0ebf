"""fstab lines: parsing, formatting (round trip) and conversion to profile mounts."""

import os

import pytest
from hypothesis import given, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import fstab
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.fstab import FstabLine

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "fstab")

PARSE = [
    ("six-fields", "/dev/sda1 / ext4 errors=remount-ro 0 1",
     [FstabLine("/dev/sda1", "/", "ext4", ("errors=remount-ro",), 0, 1, 1)]),
    ("three-fields", "tmpfs /t tmpfs", [FstabLine("tmpfs", "/t", "tmpfs", (), 0, 0, 1)]),
    ("five-fields", "a /b c d 3", [FstabLine("a", "/b", "c", ("d",), 3, 0, 1)]),
    ("tabs-and-runs-of-blanks", "\t a \t\t/b   c  ro,nosuid\t0\t2  ", [FstabLine("a", "/b", "c", ("ro", "nosuid"), 0, 2, 1)]),
    ("comments-and-blank-lines", "# header\n\n   # indented\n\na /b c\n", [FstabLine("a", "/b", "c", (), 0, 0, 5)]),
    ("comment-at-field-start", "a /b c ro # note 1 2", [FstabLine("a", "/b", "c", ("ro",), 0, 0, 1)]),
    ("hash-inside-field-is-data", "a#1 /b#2 c d#e", [FstabLine("a#1", "/b#2", "c", ("d#e",), 0, 0, 1)]),
    ("escapes-in-every-field", "my\\040src /mnt/a\\011b\\012c x\\134y mode=a\\040b",
     [FstabLine("my src", "/mnt/a\tb\nc", "x\\y", ("mode=a b",), 0, 0, 1)]),
    ("escaped-hash-is-data", "\\043a /b c", [FstabLine("#a", "/b", "c", (), 0, 0, 1)]),
    ("options-split-after-unescape", "a /b c x\\054y,,z", [FstabLine("a", "/b", "c", ("x", "y", "z"), 0, 0, 1)]),
    ("crlf-line-end", "a /b c ro 0 0\r\n", [FstabLine("a", "/b", "c", ("ro",), 0, 0, 1)]),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in PARSE], ids=[c[0] for c in PARSE])
def test_parse_fstab(text, expected):
    """fstab text parses into unescaped fields with line numbers."""
    assert fstab.parse_fstab(text) == expected


BAD = [
    ("two-fields", "a /b", 1, "expected 3 to 6 fields, got 2"),
    ("seven-fields", "\n\na /b c d 0 0 x", 3, "expected 3 to 6 fields, got 7"),
    ("freq-not-number", "a /b c d x", 1, "freq is not a number"),
    ("negative-passno", "a /b c d 0 -1", 1, "passno is not a number"),
]


@pytest.mark.parametrize("text,lineno,cause", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_parse_fstab_errors(text, lineno, cause):
    """Malformed lines raise ValueError naming the line and the cause."""
    with pytest.raises(ValueError, match=r"^cannot parse fstab line %d: %s" % (lineno, cause)):
        fstab.parse_fstab(text)


FORMAT = [
    ("plain", ("/dev/sda1", "/", "ext4", ["errors=remount-ro"], 0, 1), "/dev/sda1 / ext4 errors=remount-ro 0 1"),
    ("no-options-is-defaults", ("tmpfs", "/t", "tmpfs", []), "tmpfs /t tmpfs defaults 0 0"),
    ("escapes", ("my src", "/a\tb\nc\\d", "x", ["a b"]), "my\\040src /a\\011b\\012c\\134d x a\\040b 0 0"),
    ("hash-at-field-start", ("#src", "/a#b", "t", ["o"]), "\\043src /a#b t o 0 0"),
    ("hash-starts-the-options", ("src", "/a", "t", ["#o"]), "src /a t \\043o 0 0"),
    ("nothing-to-escape", ("/srv/a", "/data/a", "none", ["bind", "rw"]), "/srv/a /data/a none bind,rw 0 0"),
]


@pytest.mark.parametrize("args,line", [c[1:] for c in FORMAT], ids=[c[0] for c in FORMAT])
def test_format_fstab_line(args, line):
    """Formatting escapes blanks, newline, backslash and a leading #."""
    assert fstab.format_fstab_line(*args) == line


@pytest.mark.parametrize("args,cause", [
    (("a", "/b", "c", ["x,y"]), "option 'x,y' cannot be written"),
    (("a", "/b", "c", ["ro", ""]), "option '' cannot be written"),
    (("", "/b", "c", []), "empty source"),
    (("a", "/b", "", []), "empty type"),
], ids=["comma-in-option", "empty-option", "empty-source", "empty-type"])
def test_format_fstab_line_errors(args, cause):
    """What fstab cannot express is refused rather than written wrong."""
    with pytest.raises(ValueError, match="^cannot format fstab line: " + cause):
        fstab.format_fstab_line(*args)


FIELD = st.lists(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00") | st.sampled_from(
    [" ", "\t", "\n", "\r", "\\", "#", "\\040", "\\"]), min_size=1, max_size=12).map("".join)
WORD = FIELD.filter(lambda w: "," not in w)


@given(FIELD, FIELD, FIELD, st.lists(WORD, min_size=1, max_size=4), st.integers(0, 99), st.integers(0, 9))
def test_format_parse_roundtrip(source, target, fstype, options, freq, passno):
    """Any fields formatted as a line parse back to the same fields."""
    line = fstab.format_fstab_line(source, target, fstype, options, freq, passno)
    assert "\n" not in line
    assert fstab.parse_fstab(line) == [FstabLine(source, target, fstype, tuple(options), freq, passno, 1)]


CONVERT = [
    ("bind", "/srv/www /var/www none bind,ro,nofail,x-systemd.requires=/srv 0 0",
     {"target": "/var/www", "type": "bind", "source": "/srv/www", "options": ["ro", "x-systemd.requires=/srv"],
      "recursive": False}),
    ("rbind", "/srv/t /e/t none rbind", {"target": "/e/t", "type": "bind", "source": "/srv/t", "options": [],
                                         "recursive": True}),
    ("bind-type-ignored", "/a /b ext4 defaults,bind", {"target": "/b", "type": "bind", "source": "/a",
                                                      "options": [], "recursive": False}),
    ("tmpfs-no-source", "tmpfs /tmp tmpfs defaults,auto,nosuid,size=2g",
     {"target": "/tmp", "type": "tmpfs", "options": ["nosuid", "size=2g"]}),
    ("filesystem", "LABEL=b /mnt/b ext4 noauto,_netdev,x-systemd.automount,user",
     {"target": "/mnt/b", "type": "ext4", "source": "LABEL=b", "options": ["x-systemd.automount", "user"]}),
    ("overlay-legacy", "overlay /m overlay lowerdir=/l1:/l\\134:2::/d,upperdir=/u\\134,x,workdir=/w,index=off",
     {"target": "/m", "type": "overlay", "lower": ["/l1", "/l:2"], "data": ["/d"], "upper": "/u", "work": "/w",
      "options": ["x", "index=off"]}),
    ("overlay-new-keys", "o /m overlay lowerdir+=/a:b,lowerdir+=/c,datadir+=/d",
     {"target": "/m", "type": "overlay", "lower": ["/a:b", "/c"], "data": ["/d"], "options": []}),
]


@pytest.mark.parametrize("line,mount", [c[1:] for c in CONVERT], ids=[c[0] for c in CONVERT])
def test_fstab_to_mounts(line, mount):
    """fstab lines become profile mount dicts."""
    assert fstab.fstab_to_mounts(fstab.parse_fstab(line)) == ([mount], [])


SKIP = [
    ("swap", "/swapfile none swap sw 0 0", "swap is not a mount"),
    ("none-target", "/dev/x none ext4", "target 'none' is not a path"),
    ("type-none-without-bind", "/a /b none ro", "type none without bind"),
    ("overlay-without-lower", "o /m overlay upperdir=/u", "overlay without lowerdir"),
    ("overlay-bad-lower", "o /m overlay lowerdir=/a:::/b", "more than two colons"),
]


@pytest.mark.parametrize("line,reason", [c[1:] for c in SKIP], ids=[c[0] for c in SKIP])
def test_fstab_to_mounts_skips(line, reason):
    """Lines that are not live mounts are skipped with their line number and a reason."""
    mounts, skipped = fstab.fstab_to_mounts(fstab.parse_fstab("# c\n" + line))
    assert mounts == []
    assert len(skipped) == 1 and skipped[0][0] == 2 and reason in skipped[0][1]


def test_sample_fstab():
    """A realistic /etc/fstab converts every mount and skips only the swap line."""
    with open(os.path.join(FIXTURES, "sample.fstab")) as f:
        lines = fstab.parse_fstab(f.read())
    mounts, skipped = fstab.fstab_to_mounts(lines)
    assert [m["target"] for m in mounts] == ["/", "/boot/efi", "/tmp", "/var/www", "/export/tree", "/mnt/my files",
                                             "/merged", "/proc", "/mnt/backup"]
    assert skipped == [(6, "swap is not a mount")]
    by_target = {m["target"]: m for m in mounts}
    assert by_target["/mnt/my files"]["source"] == "/srv/My Files"
    assert by_target["/merged"]["lower"] == ["/lower/one", "/lower/t:wo"]
    assert by_target["/merged"]["data"] == ["/data/d1"]
    assert by_target["/export/tree"]["recursive"] is True
    assert by_target["/mnt/backup"]["options"] == ["x-systemd.automount", "user"]
