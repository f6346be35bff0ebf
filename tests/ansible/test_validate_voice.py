"""One validator, one voice: mount_profile's validation says what `livemount validate` says, problem for problem.

The corpus is tests/ansible/bad_profiles/: 20 profiles, most with several
problems that mix schema and rule violations (the issue-15 profile whose
`mode: 755`, `"ro,nosuid"` and /proc target the old jsonschema path lost),
plus YAML syntax, a duplicate key and JSON. One real ansible-playbook run
validates each as `src` (and, when it parses, as an inline `profile`),
with `validate_only`; its results are compared with real `livemount
validate` processes.
"""

import json
import os
import shutil
import subprocess
import sys

from . import playbook

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bad_profiles")
FILES = sorted(os.listdir(CORPUS))
with open(os.path.join(playbook.REPO, "schemas", "profile.schema.json")) as _f:
    TOP = tuple(json.load(_f)["properties"])  # the profile's own top-level fields
LOCATED = ("index", "target", "field", "message", "path", "line", "detail")


def _cli(path, *args):
    """Return the CompletedProcess of a real `livemount validate` on `path`."""
    return subprocess.run([sys.executable, "-m", "livemount_cli.main", "validate", *args, path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=dict(os.environ, COLUMNS="500", NO_COLOR="1"), timeout=60)


def test_corpus_is_twenty_bad_profiles():
    """The corpus the issue asks for: 20 profiles, every one refused by the CLI."""
    assert len(FILES) == 20


def test_module_validation_equals_livemount_validate(scratch):
    """Every bad profile: the module's problems equal the CLI's, in order, located the same; inline: same paths."""
    files = []
    for name in FILES:
        shutil.copy(os.path.join(CORPUS, name), os.path.join(scratch, name))
        files.append(os.path.join(scratch, name))
    cli = {}
    for path in files:
        doc, text = _cli(path, "--json"), _cli(path)
        assert doc.returncode == 1 and text.returncode == 1, (path, doc.stderr)
        cli[path] = (json.loads(doc.stdout)["error"]["problems"], text.stdout.splitlines())
    parsed = [p for p in files if cli[p][0][0]["path"] != "$"]  # those a YAML parser reads: inline too
    tasks = [
        {"name": "as src", "livemount.core.mount_profile": {"src": "{{ item }}", "validate_only": True},
         "loop": files, "ignore_errors": True},
        {"name": "inline", "livemount.core.mount_profile": {
            "profile": "{{ lookup('ansible.builtin.file', item) | from_yaml }}", "validate_only": True},
         "loop": parsed, "ignore_errors": True},
    ]
    run = playbook.run(playbook.play(tasks), scratch)
    by_src = {r["item"]: r for r in run.results("as src")}
    assert sorted(by_src) == sorted(files), run.stdout[-3000:]
    for path in files:
        problems, lines = cli[path]
        got = by_src[path]
        assert got.get("failed") is True and got.get("changed") is False, (path, sorted(got), got.get("msg"))
        assert [{k: p[k] for k in LOCATED} for p in got["problems"]] == problems, path
        assert got["problem_lines"] == lines, path
        assert {p["file"] for p in got["problems"]} == {path}
        assert got["msg"].startswith("cannot validate %s: %d problem" % (path, len(problems)))
    inline = {r["item"]: r for r in run.results("inline")}
    assert sorted(inline) == sorted(parsed)
    for path in parsed:
        got = inline[path]
        # A top-level key that is no profile field is a module option to a task (`state`, `state_dir`...):
        # the module's argspec refuses an unknown one, in Ansible's words, once validation passed.
        want = [(p["path"], p["detail"]) for p in cli[path][0] if p["index"] is not None or p["field"] in TOP]
        assert [(p["path"], p["detail"]) for p in got["problems"]] == want, path
        # Inline, a problem points at the task that declares the profile, not at a line of a file.
        assert all(p["file"].startswith(os.path.join(scratch, "playbook.yml") + ":") for p in got["problems"])
        assert all(p["line"] is None for p in got["problems"])


def test_task_fields_over_src_point_at_the_task(scratch):
    """A field the task overrides is the task's problem; what the file still declares keeps the file's line."""
    src = os.path.join(scratch, "web.yml")
    with open(src, "w") as f:
        f.write("name: web\nmounts:\n  - {target: /srv/a, type: tmpfs, sise: 1}\n")
    task = {"name": "over", "livemount.core.mount_profile": {
        "src": src, "description": ["not", "text"], "validate_only": True}, "ignore_errors": True}
    got = playbook.run(playbook.play([task]), scratch).result("over")
    where = {p["path"]: (p["file"], p["line"]) for p in got["problems"]}
    assert where["$.mounts[0].sise"] == (src, 3)
    assert where["$.description"][0].startswith(os.path.join(scratch, "playbook.yml") + ":")
    assert where["$.description"][1] is None


def test_a_src_that_is_no_regular_file_is_refused_as_the_cli_refuses_it(scratch):
    """A directory or a FIFO nobody writes to as `src`: the task fails saying so, as `livemount validate` does."""
    directory, fifo = os.path.join(scratch, "profiles"), os.path.join(scratch, "profile.fifo")
    os.mkdir(directory)
    os.mkfifo(fifo)
    task = {"name": "odd", "livemount.core.mount_profile": {"src": "{{ item }}", "validate_only": True},
            "loop": [directory, fifo], "ignore_errors": True}
    run = playbook.run(playbook.play([task]), scratch)
    by_src = {r["item"]: r for r in run.results("odd")}
    for path in (directory, fifo):
        got, cli = by_src[path], _cli(path)
        assert got.get("failed") is True and "Traceback" not in str(got), got
        assert "cannot read profile %s: not a regular file" % path in got["msg"], got["msg"]
        assert cli.returncode == 1 and "not a regular file" in cli.stdout + cli.stderr
