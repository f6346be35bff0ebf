# shellcheck shell=bash
# Phase `galaxy`: what Galaxy, a collection maintainer and AWX users run on
# the collection, each counted as one test:
#   galaxy-importer  Galaxy's own upload check, on the artifact that
#                    `ansible-galaxy collection build` makes: must succeed
#                    with no WARNING or ERROR line;
#   ansible-lint     --profile production over roles/ and playbooks/;
#   changelog        antsibull-changelog lint (the fragments), and
#                    CHANGELOG.md is what changelogs/changelog.yaml generates.
# (ansible-test sanity is the `sanity` phase; `ansible-builder create` is in
# tests/ansible/test_galaxy.py.) The tools come from pyproject's dev extra.
# They run with a HOME of their own under .build/galaxy: galaxy-importer
# and ansible-lint install collections into ~/.ansible, which would shadow
# the working tree for anything run later without ANSIBLE_COLLECTIONS_PATH.
PHASES+=(galaxy)

phase_galaxy() {
    local out=$BUILD/galaxy rc=0 log tarball
    rm -rf "$out"
    mkdir -p "$out/dist" "$out/home" "$out/changelog"
    if ! ansible-galaxy collection build --force --output-path "$out/dist" "$REPO" >"$out/build.log" 2>&1; then
        cat "$out/build.log" >&2
        say "galaxy: cannot build the collection artifact (log: $out/build.log)"
        FAILED=$((FAILED + 1))
        return 1
    fi
    tarball=$(ls "$out"/dist/livemount-core-*.tar.gz)

    log=$out/galaxy-importer.log
    if (cd "$out" && HOME=$out/home GALAXY_IMPORTER_CONFIG=$REPO/tests/ansible/galaxy/galaxy-importer.cfg \
        python -W ignore -m galaxy_importer.main "$tarball") >"$log" 2>&1 &&
        ! grep -Eq '^(WARNING|ERROR)' "$log"; then
        PASSED=$((PASSED + 1))
        say "galaxy: galaxy-importer passed with no warning (log: $log)"
    else
        grep -E '^(WARNING|ERROR)' "$log" >&2 || tail -n 20 "$log" >&2
        FAILED=$((FAILED + 1)) rc=1
        say "galaxy: galaxy-importer failed or warned (log: $log)"
    fi

    log=$out/ansible-lint.log
    if (cd "$REPO" && HOME=$out/home ansible-lint --offline --nocolor --profile production roles/ playbooks/) \
        >"$log" 2>&1; then
        PASSED=$((PASSED + 1))
        say "galaxy: ansible-lint --profile production passed (log: $log)"
    else
        grep -vi cryptography "$log" | tail -n 30 >&2
        FAILED=$((FAILED + 1)) rc=1
        say "galaxy: ansible-lint --profile production failed (log: $log)"
    fi

    # The changelog: fragments lint clean, and CHANGELOG.md is up to date
    # (generated in a copy: `generate` rewrites the file in place).
    log=$out/changelog.log
    cp -r "$REPO/changelogs" "$REPO/galaxy.yml" "$REPO/CHANGELOG.md" "$out/changelog/"
    if (cd "$REPO" && antsibull-changelog lint) >"$log" 2>&1 &&
        (cd "$out/changelog" && rm -rf changelogs/fragments && mkdir changelogs/fragments &&
            antsibull-changelog generate) >>"$log" 2>&1 &&
        cmp -s "$REPO/CHANGELOG.md" "$out/changelog/CHANGELOG.md"; then
        PASSED=$((PASSED + 1))
        say "galaxy: changelog fragments lint clean, CHANGELOG.md up to date"
    else
        grep -vi cryptography "$log" | tail -n 20 >&2
        diff "$REPO/CHANGELOG.md" "$out/changelog/CHANGELOG.md" >&2 || true
        FAILED=$((FAILED + 1)) rc=1
        say "galaxy: changelog check failed: fix the fragment, or run antsibull-changelog generate (log: $log)"
    fi
    return "$rc"
}
