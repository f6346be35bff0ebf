# shellcheck shell=bash
# Phase `molecule`: `molecule test` for every scenario in molecule/ (the role
# on three namespace instances; the rollout stopped after a failing canary).
# Needs root (instances are namespaces). MOLECULE_GLOB names our top-level
# molecule/ directory explicitly, so Molecule 26 neither looks in
# extensions/molecule nor warns that the scenarios "should migrate" there.
PHASES+=(molecule)

phase_molecule() {
    local scenario log rc=0
    if [ ! -x "$VENV/bin/molecule" ]; then
        say "molecule is not installed in $VENV (it is a dev extra in pyproject.toml)"
        FAILED=$((FAILED + 1))
        return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        say "molecule: skipped (needs root: its instances are namespaces)"
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    mkdir -p "$BUILD/reports"
    for scenario in "$REPO"/molecule/*/molecule.yml; do
        scenario=$(basename "$(dirname "$scenario")")
        log=$BUILD/reports/molecule-$scenario.log
        if (cd "$REPO" && MOLECULE_GLOB='molecule/*/molecule.yml' "$VENV/bin/molecule" test -s "$scenario") \
            >"$log" 2>&1; then
            PASSED=$((PASSED + 1))
            say "molecule: scenario $scenario passed (log: $log)"
        else
            FAILED=$((FAILED + 1)) rc=1
            sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E 'fatal:|FAILED|ERROR|Executed' | tail -n 30 >&2 || true
            say "molecule: scenario $scenario failed (log: $log)"
        fi
    done
    return "$rc"
}
