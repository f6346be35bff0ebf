# shellcheck shell=bash
# Phase `sanity`: ansible-test sanity on the collection as it ships
# (tests/ansible/sanity/sanity.sh; docs/ansible.md lists the tests and why
# some are skipped). Each ansible-test run counts as one test per sanity test
# it ran; the failed ones are those its FATAL line counts.
PHASES+=(sanity)

phase_sanity() {
    local log=$BUILD/reports/sanity.log rc=0 ran failed
    mkdir -p "$BUILD/reports"
    "$REPO/tests/ansible/sanity/sanity.sh" >"$log" 2>&1 || rc=$?
    ran=$(grep -c '^Running sanity test' "$log" || true)
    failed=0
    while read -r n; do
        failed=$((failed + n))
    done < <(sed -n 's/^FATAL: The \([0-9]*\) sanity test(s) listed below.*/\1/p' "$log")
    grep -E '^(ERROR|FATAL):' "$log" >&2 || true
    if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
        failed=1  # ansible-test itself failed (setup, bootstrap): see the log
        tail -n 20 "$log" >&2
    fi
    PASSED=$((PASSED + ran - failed)) FAILED=$((FAILED + failed))
    say "sanity: $((ran - failed)) of $ran sanity tests passed (log: $log)"
    return "$rc"
}
