"""ourfiles: the state directories and /etc/livemount are trusted by the same rules, with the same words."""

import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import ourfiles
from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import store as S
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import StateError
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import StateStore


def _stores(base):
    return [("state directory", lambda: StateStore(base, "mnt:[1]", "p")),
            ("directory", lambda: S.EnabledStore(base))]


@pytest.mark.parametrize("which", [0, 1], ids=["state", "enabled"])
def test_a_root_below_a_file_is_refused_in_words(tmp_path, which):
    """Below a regular file (ENOTDIR) is a StateError naming the directory, not a raw NotADirectoryError."""
    (tmp_path / "file").write_text("x")
    label, make = _stores(str(tmp_path / "file" / "root"))[which]
    with pytest.raises(StateError, match=r"^cannot use %s .*/file/root: " % label):
        make().check_dir()


@pytest.mark.parametrize("which", [0, 1], ids=["state", "enabled"])
def test_a_group_writable_root_is_refused(tmp_path, which):
    root = tmp_path / "root"
    root.mkdir()
    os.chmod(str(root), 0o775)
    label, make = _stores(str(root))[which]
    with pytest.raises(StateError, match=r"writable by group or others \(mode 0775\)"):
        make().ensure_dir()


def test_ensure_dirs_makes_them_with_the_mode(tmp_path):
    dirs = (str(tmp_path / "a"), str(tmp_path / "a" / "b"))
    ourfiles.ensure_dirs(dirs, 0o700, "state directory")
    assert [os.stat(d).st_mode & 0o777 for d in dirs] == [0o700, 0o700]
