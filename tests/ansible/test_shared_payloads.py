"""The test-only callback shared_ansiballz with real ansible-playbook runs: a run files livemount.core's payload
under its sources' key, and a later run of the same sources really takes it from there instead of building it.

The unit side (tests/unit/test_shared_ansiballz.py) covers the key and the pruning; this is the part only a real
run can show: that the callback finds the collection and ansible's own cache the way ansible-core does.
"""

import os

from . import playbook

OURS = "ansible_collections.livemount.core.plugins.modules.mount_profile_info-"


def _run(s, share):
    book = playbook.play([{"name": "info", "livemount.core.mount_profile_info": {}}])
    return playbook.run(book, s, env={"LIVEMOUNT_ANSIBALLZ_SHARE": share})


def test_a_run_files_its_payload_and_the_next_one_takes_it(scratch):
    share = os.path.join(scratch, "share")
    first = _run(scratch, share)
    assert first.rc == 0, first.stdout
    (key,) = os.listdir(share)
    (name,) = os.listdir(os.path.join(share, key))
    assert name.startswith(OURS)
    # A payload that cannot load: only a run that takes it from the share fails.
    with open(os.path.join(share, key, name), "wb") as f:
        f.write(b"not a payload")
    assert _run(scratch, share).rc != 0
    os.unlink(os.path.join(share, key, name))
    again = _run(scratch, share)
    assert again.rc == 0, again.stdout
    assert os.listdir(os.path.join(share, key)) == [name]  # built again, and filed under the same key
