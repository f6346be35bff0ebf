"""tests/ansible/plugins/callback/shared_ansiballz.py: payloads shared only between runs of the very same sources."""

import importlib.util
import os
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(os.path.dirname(HERE), "ansible", "plugins", "callback", "shared_ansiballz.py")
PAYLOAD = "ansible_collections.livemount.core.plugins.modules.mount_profile-ZIP_DEFLATED-none"


@pytest.fixture
def shared(tmp_path, monkeypatch):
    """Return the callback module, its collection a tree of two files under tmp_path/coll."""
    spec = importlib.util.spec_from_file_location("shared_ansiballz_under_test", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    coll = tmp_path / "coll"
    for rel in ("plugins/modules/mount_profile.py", "plugins/module_utils/livemount/engine.py"):
        (coll / rel).parent.mkdir(parents=True, exist_ok=True)
        (coll / rel).write_text("# %s\n" % rel)
    package = types.SimpleNamespace(__file__=str(coll / "__synthetic__"))
    monkeypatch.setattr(module, "import_module", lambda name: package)
    monkeypatch.setenv("LIVEMOUNT_ANSIBALLZ_SHARE", str(tmp_path / "share"))
    module.coll = coll
    return module


def _run(module, tmp_path, build=None):
    """One ansible-playbook run as the callback sees it; `build` is written into its cache, as ansible would.
    Return the names in its cache when the playbook started."""
    callback = module.CallbackModule()
    callback._cache = str(tmp_path / ("cache-%d" % len(os.listdir(tmp_path))))
    callback.v2_playbook_on_start(None)
    found = sorted(os.listdir(callback._cache)) if os.path.isdir(callback._cache) else []
    os.makedirs(callback._cache, exist_ok=True)
    for name, data in (build or {}).items():
        (tmp_path / callback._cache / name).write_bytes(data)
    callback.v2_playbook_on_stats(None)
    return found


def test_a_later_run_of_the_same_sources_gets_the_payload(shared, tmp_path):
    assert _run(shared, tmp_path, {PAYLOAD: b"zip", PAYLOAD + ".lock": b"", "ansible.builtin.ping-x": b"p"}) == []
    assert os.listdir(tmp_path / "share" / shared._sources_key()) == [PAYLOAD]  # only livemount.core's, no lock
    (tmp_path / "share" / shared._sources_key() / "ansible.builtin.ping-y").write_bytes(b"p")  # not from this run
    assert _run(shared, tmp_path) == [PAYLOAD]


def test_a_changed_or_added_source_file_is_built_again(shared, tmp_path):
    _run(shared, tmp_path, {PAYLOAD: b"zip"})
    (shared.coll / "plugins" / "module_utils" / "livemount" / "engine.py").write_text("# changed\n")
    assert _run(shared, tmp_path, {PAYLOAD: b"zip 2"}) == []
    (shared.coll / "plugins" / "module_utils" / "livemount" / "new.py").write_text("# new\n")
    assert _run(shared, tmp_path) == []


def test_only_the_newest_sets_are_kept(shared, tmp_path):
    keys = []
    for k in range(shared.KEEP + 2):
        (shared.coll / "plugins" / "modules" / "mount_profile.py").write_text("# version %d\n" % k)
        _run(shared, tmp_path, {PAYLOAD: b"zip %d" % k})
        keys.append(shared._sources_key())
        os.utime(tmp_path / "share" / keys[-1], (k, k))  # filed one after the other, whatever the clock's grain
    assert sorted(os.listdir(tmp_path / "share")) == sorted(keys[-shared.KEEP:])


def test_without_the_share_nothing_is_read_or_written(shared, tmp_path, monkeypatch):
    monkeypatch.delenv("LIVEMOUNT_ANSIBALLZ_SHARE")
    assert _run(shared, tmp_path, {PAYLOAD: b"zip"}) == []
    assert not (tmp_path / "share").exists()
