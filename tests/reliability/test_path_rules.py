"""Profile strings the kernel would refuse half-way through an apply are refused by validation instead.

Found while building the bad-input corpus: a target with a path component
longer than 255 bytes validated and then failed at its mkdir (ENAMETOOLONG,
after the state directory was made), and a lone surrogate from a JSON
`"\\ud800"` escape validated and then escaped from `plan` as an
"unexpected error: UnicodeEncodeError". Both are now ProfileErrors
(profile_paths.clean_path / unencodable).
"""

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as P
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ProfileError

LONG = "x" * 256

CASES = [
    ("long-target-component", {"target": "/srv/%s/y" % LONG, "type": "tmpfs"}, "target",
     "has a component of 256 bytes, longer than the 255"),
    ("long-multibyte-component", {"target": "/srv/" + "\u00e9" * 128, "type": "tmpfs"}, "target",
     "has a component of 256 bytes"),
    ("long-bind-source", {"target": "/srv/x", "type": "bind", "source": "/%s" % LONG}, "source",
     "longer than the 255"),
    ("long-lower-layer", {"target": "/srv/x", "type": "overlay", "lower": ["/%s" % LONG]}, "lower",
     "longer than the 255"),
    ("surrogate-target", {"target": "/srv/x\ud800", "type": "tmpfs"}, "target", "a lone surrogate"),
    ("surrogate-bind-source", {"target": "/srv/x", "type": "bind", "source": "/s\udfff"}, "source",
     "a lone surrogate"),
    ("surrogate-upper", {"target": "/srv/x", "type": "overlay", "lower": ["/l"], "upper": "/u\ud800",
                         "work": "/w"}, "upper", "a lone surrogate"),
    ("surrogate-device-source", {"target": "/srv/x", "type": "ext4", "source": "/dev/\ud800"}, "source",
     "a lone surrogate"),
    ("surrogate-link-content", {"target": "/srv/x", "type": "symlink", "source": "\ud800"}, "source",
     "a lone surrogate"),
    ("surrogate-option", {"target": "/srv/x", "type": "ext4", "source": "/dev/x", "options": ["user_xattr\ud800"]},
     "options", "a lone surrogate"),
]


@pytest.mark.parametrize("entry, field, text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_before_anything_is_touched(entry, field, text):
    """A path component over NAME_MAX or a character no file name can hold is a ProfileError naming the field."""
    with pytest.raises(ProfileError) as info:
        P.load_profile({"name": "p", "mounts": [entry]})
    assert [(p[0], p[2]) for p in info.value.problems] == [(0, field)], info.value.problems
    assert text in info.value.problems[0][3]


ACCEPTED = [
    ("component-of-255", {"target": "/srv/" + "x" * 255, "type": "tmpfs"}),
    ("non-utf8-byte-as-python-spells-it", {"target": "/srv/caf\udce9", "type": "tmpfs"}),
    ("link-content-long-component", {"target": "/srv/x", "type": "symlink", "source": LONG}),
]


@pytest.mark.parametrize("entry", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_still_accepted(entry):
    """Names at the limit, undecodable bytes (U+DC80-U+DCFF) and link content (not a path) stay valid."""
    assert len(P.load_profile({"name": "p", "mounts": [entry]}).entries) == 1
