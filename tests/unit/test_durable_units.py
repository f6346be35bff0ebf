"""The units livemount ships and generates (durable/units.py, generator.py), as text: what orders what."""

import os
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import generator, store, units
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from tests.unit.planner_world import fast_tmpdir

TEMPLATE = "/etc/systemd/system/livemount@.service"


def _p(*mounts, **extra):
    return dict(extra, name=extra.pop("name", "web") if "name" in extra else "web", mounts=list(mounts))


NEEDS = [
    ("tmpfs-parent", [{"target": "/srv/app/cache", "type": "tmpfs"}], ["/srv/app"]),
    ("bind-source-and-parent", [{"target": "/srv/app/data", "type": "bind", "source": "/data/app"}],
     ["/data/app", "/srv/app"]),
    ("overlay-layers-upper-work",
     [{"target": "/srv/o", "type": "overlay", "lower": ["/l/a", "/l/b"], "upper": "/u/up", "work": "/u/wk"}],
     ["/l/a", "/l/b", "/srv", "/u/up", "/u/wk"]),
    ("top-level-target-needs-only-root", [{"target": "/srv", "type": "tmpfs"}], []),
    ("paths-under-own-targets-left-out",
     [{"target": "/srv/app", "type": "tmpfs"}, {"target": "/srv/app/data", "type": "bind", "source": "/srv/app/x"}],
     ["/srv"]),
    ("symlink-content-is-no-path", [{"target": "/srv/l", "type": "symlink", "source": "/data/x"}], ["/srv"]),
    ("device-source-is-no-path", [{"target": "/mnt/d", "type": "ext4", "source": "/dev/vdb1"}], ["/mnt"]),
]


@pytest.mark.parametrize("mounts, want", [n[1:] for n in NEEDS], ids=[n[0] for n in NEEDS])
def test_path_needs(mounts, want):
    """RequiresMountsFor= gets sources, layers, upper, work and target parents, not what the profile mounts itself."""
    assert units.path_needs(load_profile(_p(*mounts))) == want


def _dropin(data, others=None):
    return units.dropin("web", load_profile(data), data, "/etc/livemount/enabled/web.json", others or {})


def test_dropin_local_stage_with_units():
    """Default stage: before local-fs.target; boot fields become Before=/Wants=/After=; timeout as TimeoutStartSec."""
    data = _p({"target": "/srv/app/data", "type": "bind", "source": "/data/my app"},
              boot={"required_by": ["nginx.service"], "before": ["a.service"], "after": ["dev-vdb.device"],
                    "timeout": 15})
    text = _dropin(data)
    assert text.splitlines()[2:] == [
        "[Unit]",
        "SourcePath=/etc/livemount/enabled/web.json",
        "Before=local-fs.target",
        'RequiresMountsFor="/data/my app" "/srv/app"',
        "Wants=dev-vdb.device",
        "After=dev-vdb.device",
        "Before=a.service nginx.service",
        "",
        "[Service]",
        "TimeoutStartSec=15",
    ]
    assert units.links("web", data) == ["local-fs.target.wants/livemount@web.service",
                                        "nginx.service.requires/livemount@web.service"]


def test_dropin_remote_stage():
    """Stage remote: after the network and remote-fs-pre.target, before and wanted by remote-fs.target."""
    data = _p({"target": "/srv/x", "type": "tmpfs"}, boot={"stage": "remote"})
    lines = _dropin(data).splitlines()
    assert "Before=remote-fs.target" in lines and "After=network-online.target remote-fs-pre.target" in lines
    assert "Wants=network-online.target" in lines and "Before=local-fs.target" not in lines
    assert units.links("web", data) == ["remote-fs.target.wants/livemount@web.service"]


def test_dropin_orders_after_the_profile_whose_mounts_it_needs():
    """A source under another enabled profile's mount: Requires= and After= that profile's unit, no path for it."""
    data = _p({"target": "/srv/view", "type": "bind", "source": "/srv/base/data"})
    lines = _dropin(data, {"base": ["/srv/base"], "other": ["/opt/x"]}).splitlines()
    assert "Requires=livemount@base.service" in lines and "After=livemount@base.service" in lines
    assert not any("/srv/base" in line for line in lines if line.startswith("RequiresMountsFor"))
    assert not any("other" in line for line in lines)


QUOTES = [
    ("plain", "/srv/a", '"/srv/a"'),
    ("space", "/srv/my app", '"/srv/my app"'),
    ("specifier", "/srv/100%", '"/srv/100%%"'),
    ("variable", "/srv/$HOME", '"/srv/$$HOME"'),
    ("quote-and-backslash", '/srv/a"b\\c', '"/srv/a\\"b\\\\c"'),
]


@pytest.mark.parametrize("word, want", [q[1:] for q in QUOTES], ids=[q[0] for q in QUOTES])
def test_quote(word, want):
    """Words are quoted so that systemd reads them back exactly: no specifier, variable or escape expands."""
    assert units.quote(word) == want


def test_quote_refuses_a_newline_and_the_dropin_says_so():
    """A path with a newline cannot be in a unit file: the drop-in says which path it could not order after."""
    with pytest.raises(ValueError):
        units.quote("/a\nb")
    text = _dropin(_p({"target": "/srv/x", "type": "bind", "source": "/data/a\nb"}))
    assert "# not ordered after the filesystem of '/data/a\\nb'" in text


def test_template_and_watch_units():
    """The shipped units run the given command with the given options, quoted, and never in a namespace of their own."""
    cmd = ["/usr/local/bin/livemount", "--config-dir", "/etc/livemount"]
    template = units.template_unit(cmd)
    assert 'ExecStart="/usr/local/bin/livemount" "--config-dir" "/etc/livemount" "systemd" "apply" "%i"' in template
    assert "DefaultDependencies=no" in template and "RemainAfterExit=yes" in template
    for unit in (template, units.watch_unit(cmd)):
        assert units.MARK in unit.splitlines()[0]
        assert not any(line.startswith(("PrivateMounts", "ProtectSystem", "PrivateTmp")) for line in unit.splitlines())
    assert 'ExecStart="/usr/local/bin/livemount" "--config-dir" "/etc/livemount" "watch" "--repair"' in \
        units.watch_unit(cmd)


@pytest.fixture
def config():
    """Return a fresh configuration directory (removed afterwards)."""
    path = fast_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_generator_writes_instances_and_survives_a_bad_copy(config):
    """Every enabled profile gets its links; a good one its drop-in; a bad one is reported and still pulled in."""
    s = store.EnabledStore(config)
    s.save("web", _p({"target": "/srv/app", "type": "tmpfs"}), "t", "s")
    s.save("bad", _p({"target": "/srv/bad", "type": "tmpfs"}, name="bad"), "t", "s")
    with open(s.path("bad")) as f:  # edited by hand: the checksum no longer matches
        text = f.read().replace("/srv/bad", "/srv/evil")
    with open(s.path("bad"), "w") as f:
        f.write(text)
    out = fast_tmpdir()
    try:
        assert generator.main([out, out, out], config, TEMPLATE) == 1
        found = sorted(os.path.relpath(os.path.join(d, n), out) for d, _, names in os.walk(out) for n in names)
        assert found == ["livemount@web.service.d/50-profile.conf", "local-fs.target.wants/livemount@bad.service",
                         "local-fs.target.wants/livemount@web.service"]
        assert os.readlink(os.path.join(out, "local-fs.target.wants/livemount@bad.service")) == TEMPLATE
    finally:
        shutil.rmtree(out, ignore_errors=True)
    files, links, problems = generator.render(config, TEMPLATE)
    assert len(problems) == 1 and "checksum mismatch" in problems[0]
