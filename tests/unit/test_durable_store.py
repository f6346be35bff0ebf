"""The enabled-profile store (durable/store.py): atomic, checked on read like a state file, never half-trusted."""

import json
import os
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import store as S
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import StateError
from tests.unit.planner_world import fast_tmpdir

WEB = {"name": "web", "mounts": [{"target": "/srv/app/cache", "type": "tmpfs", "options": ["size=1m"]}]}


@pytest.fixture
def config():
    """Return a fresh configuration directory (removed afterwards)."""
    path = fast_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _saved(config):
    store = S.EnabledStore(config)
    store.save("web", WEB, "2026-12-01T00:00:00+00:00", "/tmp/web.yml")
    return store


def test_round_trip(config):
    """A saved copy loads back whole: name, time, source, data, the file 0644 in a 0755 directory, no temp file."""
    store = _saved(config)
    got = store.load("web")
    assert (got.name, got.enabled_at, got.source, got.profile_data) == ("web", "2026-12-01T00:00:00+00:00",
                                                                         "/tmp/web.yml", WEB)
    assert got.profile().entries[0].target == "/srv/app/cache"
    assert os.stat(store.path("web")).st_mode & 0o777 == 0o644
    assert os.stat(store.dir).st_mode & 0o777 == 0o755
    assert os.listdir(store.dir) == ["web.json"] and store.names() == ["web"]


def test_absent_is_none_and_config_root_order(config, monkeypatch):
    """Not enabled is None; the directory comes from the argument, then LIVEMOUNT_CONFIG_DIR, then /etc/livemount."""
    assert S.EnabledStore(config).load("web") is None and S.EnabledStore(config).names() == []
    monkeypatch.setenv("LIVEMOUNT_CONFIG_DIR", "/elsewhere")
    assert (S.config_root("/x"), S.config_root()) == ("/x", "/elsewhere")
    monkeypatch.delenv("LIVEMOUNT_CONFIG_DIR")
    assert S.config_root() == "/etc/livemount"


def _edit_body(store):
    with open(store.path("web")) as f:
        doc = json.load(f)
    doc["body"]["profile_data"]["mounts"][0]["target"] = "/etc/shadow"
    with open(store.path("web"), "w") as f:
        json.dump(doc, f)


def _other_profile(store):
    store.save("other", dict(WEB, name="other"), "t", "s")
    os.rename(store.path("other"), store.path("web"))


def _truncate(store):
    with open(store.path("web"), "r+") as f:
        f.truncate(40)


def _invalid_profile(store):
    bad = dict(WEB, mounts=[{"target": "relative", "type": "tmpfs"}])
    body = {"profile": "web", "enabled_at": "t", "source": "s", "profile_data": bad}
    doc = {"format": S.FORMAT, "version": 1, "sha256": S._digest(body), "body": body}
    with open(store.path("web"), "w") as f:
        json.dump(doc, f)


def _symlink(store):
    os.rename(store.path("web"), store.path("web") + ".real")
    os.symlink(store.path("web") + ".real", store.path("web"))


def _group_writable_file(store):
    os.chmod(store.path("web"), 0o664)


def _group_writable_dir(store):
    os.chmod(store.dir, 0o775)


def _foreign_owner(store):
    os.chown(store.path("web"), 1, 1)


UNTRUSTED = [
    ("edited-by-hand", _edit_body, "checksum mismatch"),
    ("another-profiles-copy", _other_profile, "it holds profile 'other', not 'web'"),
    ("truncated", _truncate, "cannot trust enabled profile"),
    ("no-longer-valid", _invalid_profile, "must be an absolute path"),
    ("symlink", _symlink, "Too many levels of symbolic links"),
    ("group-writable-file", _group_writable_file, "writable by group or others (mode 0664)"),
    ("group-writable-dir", _group_writable_dir, "writable by group or others (mode 0775)"),
    ("foreign-owner", _foreign_owner, "owned by uid 1"),
]


@pytest.mark.parametrize("spoil, words", [u[1:] for u in UNTRUSTED], ids=[u[0] for u in UNTRUSTED])
def test_untrusted_copy_is_refused(config, spoil, words):
    """A copy that was edited, swapped, truncated, invalid, linked or writable by others is refused, naming why."""
    if spoil is _foreign_owner and os.geteuid() != 0:
        pytest.skip("chown needs root")
    store = _saved(config)
    spoil(store)
    with pytest.raises(StateError) as exc:
        store.load("web")
    assert words in str(exc.value)


def test_names_ignore_what_is_not_a_profile(config):
    """Files that are not NAME.json with a valid profile name are not enabled profiles."""
    store = _saved(config)
    for junk in ("README", "Bad Name.json", "web.json.tmp.12", ".hidden.json"):
        open(os.path.join(store.dir, junk), "w").close()
    assert store.names() == ["web"]


def test_remove(config):
    """remove deletes the copy and says whether there was one."""
    store = _saved(config)
    assert store.remove("web") is True and store.remove("web") is False and store.load("web") is None
