"""Option smuggling through overlay layer paths is inert: a layer is one path, never part of an option string.

A profile's `options` items may not hold a comma (corpus: options-comma,
overlay-comma-smuggle), but an overlay layer *path* may: livemount passes
each layer on its own (`lowerdir+`, fsconfig(2)), so a directory literally
named `l,upperdir=/x,workdir=/y` is just a lower layer with an odd name. Were
the layers joined into one `lowerdir=a:b,...` string as mount(8) does, that
name would make the overlay writable into /x. Same for `:` and `::`, which
the legacy `lowerdir=` syntax reads as layer and data-layer separators.
"""

import errno
import os

import pytest

from tests.integration.helpers import make_tree, overlay_layers, profile_dict, top, write_profile
from tests.reliability.support import run_cli, words

TRICKS = {
    "upperdir-after-comma": "l,upperdir=@/evil,workdir=@/evilwork",
    "upperdir-escaped-comma": "l\\,upperdir=@/evil\\,workdir=@/evilwork",
    "colon-second-layer": "l:@/evil",
    "double-colon-data-layer": "l::@/evil",
}


@pytest.mark.parametrize("name", list(TRICKS), ids=list(TRICKS))
def test_layer_path_cannot_smuggle_options(scratch, tally, name):
    """An overlay whose top layer's name spells extra options: mounted read-only with exactly its two layers."""
    real_layer = scratch + "/" + TRICKS[name].replace("@", scratch)
    os.makedirs(real_layer)
    with open(real_layer + "/f", "w", encoding="utf-8") as f:
        f.write("layer")
    make_tree(scratch, ["evil/", "evilwork/", "base/g=base"])
    # Two layers: without an upper, overlayfs needs at least two lower ones.
    data = profile_dict(scratch, [{"target": "@/ov", "type": "overlay", "lower": [real_layer, "@/base"]}])
    run = run_cli(scratch, "apply", "--yes", write_profile(scratch, data))
    problems = [] if run.code == 0 else ["apply failed: %s" % words(run.stderr)[:300]]
    mount = top(scratch + "/ov")
    if mount is None or mount.fstype != "overlay":
        problems.append("no overlay at the target")
    else:
        lower, upper, work = overlay_layers(mount)
        if (lower, upper, work) != ((real_layer, scratch + "/base"), None, None):
            problems.append("layers %s upper %s work %s" % (lower, upper, work))
        try:
            with open(scratch + "/ov/written", "w", encoding="utf-8") as f:
                f.write("x")
            problems.append("the overlay is writable")
        except OSError as exc:
            if exc.errno != errno.EROFS:
                problems.append("writing failed with %s, not EROFS" % errno.errorcode.get(exc.errno))
    if os.listdir(scratch + "/evil") or os.listdir(scratch + "/evilwork"):
        problems.append("the smuggled upper or work directory was used")
    tally.record("security: option smuggling through layer paths", name, not problems, problems)
    assert problems == []
