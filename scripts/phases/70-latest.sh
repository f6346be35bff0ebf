# shellcheck shell=bash
# Phase `latest`: the newest releases, on purpose. Every other phase runs on
# the lock (requirements/dev-py3.11.lock: ansible-core 2.19 on Python 3.11);
# this one builds .build/venv-latest with Python 3.12 and does what a new
# user does, `pip install .` from a copy of the tree, unpinned (the newest
# ansible-core pyproject.toml allows, rich, PyYAML), plus the
# newest pytest, pexpect, hypothesis and jsonschema (the tests' oracle). It checks that the installed
# `livemount` command runs and that ansible-core finds the installed
# collection, then runs the Ansible-facing tests and the CLI tests with that
# venv's Python: ansible-playbook, ansible-doc and every library come from
# it, livemount's own code from the working tree (tests/conftest.py's links).
# The versions it resolved are printed and kept in .build/reports/latest-freeze.txt.
#
# A new release that breaks something shows here first. In a full run its
# failures are reported but not counted as failures, so no release turns CI
# red by itself; `livemount-dev test --latest` (or LIVEMOUNT_LATEST_STRICT=1)
# makes them count. LIVEMOUNT_LATEST_PYTHON picks the interpreter (default:
# pyenv's newest 3.12, else python3.12 on PATH); LIVEMOUNT_LATEST_TESTS the
# pytest arguments.
PHASES+=(latest)

LATEST_VENV=${LIVEMOUNT_LATEST_VENV:-$BUILD/venv-latest}
LATEST_TOOLS=(pip pytest pexpect hypothesis jsonschema)  # jsonschema: the tests check JSON output with it
LATEST_TESTS=(tests/ansible tests/integration/test_cli.py tests/integration/test_cli_commands.py
    tests/integration/test_cli_terminal.py)
# What the log names: the project's dependencies and the test tools.
LATEST_SHOWN='^(ansible-core|jsonschema|rich|PyYAML|Jinja2|pytest|pexpect|hypothesis|pip|livemount)=='

# latest_python: print a working Python 3.12 (LIVEMOUNT_LATEST_PYTHON, pyenv's newest 3.12.x, python3.12).
latest_python() {
    local cand root
    root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
    for cand in ${LIVEMOUNT_LATEST_PYTHON:-} $(ls -d "$root"/versions/3.12.*/bin/python 2>/dev/null | sort -V -r) \
        "$(command -v python3.12 || true)"; do
        if [ -n "$cand" ] && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
            printf '%s\n' "$cand"
            return 0
        fi
    done
    return 1
}

# latest_venv PYTHON LOG: create or reuse LATEST_VENV, then install the newest of
# everything into it: the project from a copy of the tree, and the test tools.
latest_venv() {
    local py=$1 log=$2 src=$BUILD/latest/src
    if [ "$("$LATEST_VENV/bin/python" -VV 2>/dev/null)" != "$("$py" -VV)" ]; then
        rm -rf "$LATEST_VENV"
        "$py" -m venv "$LATEST_VENV" >>"$log" 2>&1 || return 1
    fi
    rm -rf "$BUILD/latest"
    copy_tree "$src"
    # The old copy goes first: pip would keep an installed livemount of the same version.
    "$LATEST_VENV/bin/python" -m pip uninstall -q -y livemount >>"$log" 2>&1 || true
    "$LATEST_VENV/bin/python" -m pip install --disable-pip-version-check --upgrade --upgrade-strategy eager \
        "${LATEST_TOOLS[@]}" "$src" >>"$log" 2>&1
}

# latest_smoke DIR LOG: the installed command and collection work on their
# own (from DIR, no working-tree paths, no collections path but an empty one).
latest_smoke() {
    local dir=$1 log=$2 site doc
    mkdir -p "$dir/empty"
    site=$("$LATEST_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    (
        cd "$dir" && unset PYTHONPATH && export ANSIBLE_COLLECTIONS_PATH=$dir/empty PATH=$LATEST_VENV/bin:$PATH &&
            livemount validate "$REPO/tests/fixtures/profiles/good/webapp.yaml" &&
            doc=$(ansible-doc --json livemount.core.mount_profile) &&
            grep -qF "\"filename\": \"$site/ansible_collections/livemount/core/plugins/modules/mount_profile.py\"" \
                <<<"$doc"
    ) >>"$log" 2>&1
}

# latest_cap_notice LOG: say so when the index has an ansible-core newer than
# the one installed, which pyproject.toml's cap keeps users (and this phase) from.
latest_cap_notice() {
    local newest have
    newest=$("$LATEST_VENV/bin/python" -m pip index versions ansible-core 2>/dev/null |
        sed -n '1s/^ansible-core (\(.*\))$/\1/p')
    have=$(sed -n 's/^ansible-core==//p' "$BUILD/reports/latest-freeze.txt")
    if [ -n "$newest" ] && [ "$newest" != "$have" ]; then
        say "latest: ansible-core $newest is out; pyproject.toml's cap keeps users and this phase on $have:" \
            "raise it once \`livemount-dev test --latest\` passes with it" 2>&1 | tee -a "$1" >&2
    fi
}

phase_latest() {
    local py log=$BUILD/reports/latest.log failed_before=$FAILED failed rc=0 tests=("${LATEST_TESTS[@]}")
    [ -z "${LIVEMOUNT_LATEST_TESTS:-}" ] || read -r -a tests <<<"$LIVEMOUNT_LATEST_TESTS"
    mkdir -p "$BUILD/reports"
    : >"$log"
    if ! py=$(latest_python); then
        say "latest: no Python 3.12 (pyenv's versions/3.12.*, python3.12 on PATH, or LIVEMOUNT_LATEST_PYTHON)"
        FAILED=$((FAILED + 1))
        return 1
    fi
    say "latest: installing the newest releases into ${LATEST_VENV#"$REPO"/} with $("$py" -V 2>&1) (log: $log)"
    if ! latest_venv "$py" "$log"; then
        grep -v "^WARNING: Location" "$log" | tail -n 30 >&2 || true
        say "latest: cannot install the newest releases: see $log"
        FAILED=$((FAILED + 1)) rc=1
    else
        "$LATEST_VENV/bin/python" -m pip list --format=freeze 2>/dev/null >"$BUILD/reports/latest-freeze.txt"
        say "latest: resolved $("$LATEST_VENV/bin/python" -V 2>&1) $(grep -E "$LATEST_SHOWN" \
            "$BUILD/reports/latest-freeze.txt" | tr '\n' ' ')" 2>&1 | tee -a "$log" >&2
        latest_cap_notice "$log"
        if latest_smoke "$BUILD/latest" "$log"; then
            PASSED=$((PASSED + 1))
        else
            tail -n 20 "$log" >&2
            say "latest: the installed livemount command or collection does not work: see $log"
            FAILED=$((FAILED + 1)) rc=1
        fi
        # ansible-playbook, ansible-doc and pytest itself: sys.executable's venv.
        PATH=$LATEST_VENV/bin:$PATH VIRTUAL_ENV=$LATEST_VENV \
            run_pytest latest "$LATEST_VENV/bin/python" "${tests[@]}" || rc=$?
    fi
    failed=$((FAILED - failed_before))
    if [ "$rc" != 0 ] && [ "${LIVEMOUNT_LATEST_STRICT:-0}" != 1 ]; then
        FAILED=$failed_before
        say "latest: $failed failed against the newest releases; not counted (LIVEMOUNT_LATEST_STRICT=1 counts them)"
        return 0
    fi
    return "$rc"
}
