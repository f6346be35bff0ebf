#!/usr/bin/env bash
# ansible-test sanity on the collection as it ships, offline-safe.
#
#   tests/ansible/sanity/sanity.sh [ansible-test sanity options for the controller run]
#
# Run with the dev environment (scripts/livemount-dev runs it as the phase
# `sanity`). Steps:
#  1. build the collection artifact (galaxy.yml's build_ignore decides what
#     ships) and unpack it as .build/sanity/ansible_collections/livemount/core,
#     the layout ansible-test insists on; add tests/config.yml and the ignore
#     file from this directory;
#  2. give ansible-test a HOME of its own (LIVEMOUNT_SANITY_HOME, default
#     ~/.cache/livemount/ansible-test) whose pip bootstrap cache holds
#     get_pip.py from this directory: ansible-test would otherwise download
#     get-pip.py from the internet for every sanity venv and fail offline.
#     The sanity venvs are kept there too, so only the first run on a machine
#     builds them (about 4 minutes; later runs about 1);
#  3. run the selected tests: everything but the ones listed in SKIP on the
#     controller Python (pep8 and pylint included, on the whole collection:
#     the engine has no ignore entries), then compile on every other target
#     Python and import on the oldest and the newest. See docs/ansible.md for
#     why each skipped test is skipped.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../../.." && pwd -P)
OUT=$REPO/.build/sanity
TREE=$OUT/ansible_collections/livemount/core
# Not applicable offline or to this collection; docs/ansible.md says why.
SKIP=(pslint shellcheck)
TARGETS=(3.8 3.9 3.10 3.12 3.13)
IMPORT_TARGETS=(3.8 3.13)

ver=$(python -c 'import ansible.release as r; print(".".join(r.__version__.split(".")[:2]))')
controller=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

rm -rf "$OUT/dist" "$OUT/ansible_collections"
mkdir -p "$OUT/dist" "$TREE/tests/sanity"
ansible-galaxy collection build --force --output-path "$OUT/dist" "$REPO" >"$OUT/build.log"
tar -xzf "$OUT"/dist/livemount-core-*.tar.gz -C "$TREE"
# ansible-test lists files with git when the tree is in a repository; .build
# is in ours but ignored, so the tree gets a repository of its own.
git -C "$TREE" init -q
cp "$HERE/config.yml" "$TREE/tests/config.yml"
if [ -f "$HERE/ignore-$ver.txt" ]; then
    cp "$HERE/ignore-$ver.txt" "$TREE/tests/sanity/ignore-$ver.txt"
fi

HOME_DIR=$HOME
export HOME=${LIVEMOUNT_SANITY_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/livemount/ansible-test}
pip_ver=$(python - <<'PY'
import re, ansible_test._internal.python_requirements as r
print(re.search(r"pip='([0-9.]+)'", open(r.__file__).read()).group(1))
PY
)
mkdir -p "$HOME/.ansible/test/cache"
cp "$HERE/get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_ver//./_}.py"

# ansible-test finds target interpreters as pythonX.Y on PATH; pyenv's shims
# answer only for the selected version, so link the real ones.
mkdir -p "$OUT/bin"
for py in "${TARGETS[@]}"; do
    for cand in "$(command -v "python$py" || true)" "${PYENV_ROOT:-$HOME_DIR/.pyenv}"/versions/"$py".*/bin/"python$py"; do
        if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c '' 2>/dev/null; then
            ln -sfn "$cand" "$OUT/bin/python$py"
            break
        fi
    done
done
export PATH=$OUT/bin:$PATH

cd "$TREE"
git add -A
skip=()
for t in "${SKIP[@]}"; do skip+=(--skip-test "$t"); done
rc=0
ansible-test sanity --color no --python "$controller" "${skip[@]}" "$@" || rc=1
# compile on every target Python; import (a venv each) on the oldest and newest.
for py in "${TARGETS[@]}"; do
    if [ ! -e "$OUT/bin/python$py" ]; then
        echo "sanity: python$py not found: compile/import on $py skipped" >&2
        continue
    fi
    tests=(--test compile)
    case " ${IMPORT_TARGETS[*]} " in *" $py "*) tests+=(--test import) ;; esac
    ansible-test sanity --color no --python "$py" "${tests[@]}" || rc=1
done
exit "$rc"
