#!/usr/bin/env bash
# `make test`: every test suite, with the builds of a cold machine overlapped with each other and
# with the suites.
#   1. hack/build-e2e.sh rest starts in the background (nice 19, idle IO class, a session of its
#      own): what the later suites need. With the kernel's autogroup scheduling (on here: Debian's
#      default) nice orders processes only within a session, and the CPU is shared between
#      sessions: this one gets about as much as the foreground's builds, and by the weights a third once
#      the suites run (every kind node is in Docker's cpu cgroup, which weighs as much as one
#      session, and the suites' own processes are another). On the cold run of 2026-12-05 it had
#      built everything but Kubernetes 1.23 about when the first builds were done. A suite that reaches
#      a step of it before it is done waits for it (hack/lib.sh's build lock) and lifts it to
#      normal priority.
#   2. hack/build-e2e.sh first, in the foreground: what the first two e2e suites need (three
#      chains at once, see there).
#   3. the e2e suites (vitest.e2e.config.ts), and once only the last of them runs (a core is then
#      mostly idle), the unit and integration tests beside it, which use the Helm and krew the
#      background built. Both run even when the other fails; the exit status is not 0 when
#      either failed or the background build failed. (Run beside the first two suites, the unit
#      tests took 421 s instead of about 99 s and slowed those suites by 93 and 198 s: a warm run
#      took 30:27 against 28:50. The cold run of 2026-12-05 spent its last 6 min under 90 % busy:
#      migrate-123 alone, then the unit tests.)
# The suites keep the machine 89-99 % busy (measured on a cold run, README): the overlap gains the
# builds' waits, not their CPU time. On a warm machine every build step is cached and takes about
# a second.
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"

rest_log="$CACHE_DIR/build-e2e-rest.log"
log "the builds for the later suites run in the background: $rest_log"
setsid nice -n 19 ionice -c 3 bash "$HACK_DIR/build-e2e.sh" rest >"$rest_log" 2>&1 &
rest_pid=$!
# setsid: a process group of its own (the build lock renices it by group); stopped with us.
trap 'kill -- -"$rest_pid" 2>/dev/null || true' EXIT

timed "builds for the first suites" "$HACK_DIR/build-e2e.sh" first

rc=0
log "end-to-end suites"
signal="$CACHE_DIR/e2e-last-suite"
rm -f "$signal"
e2e_log="$CACHE_DIR/e2e-tests.log"
# Their output is also kept in $e2e_log: when they fail, their failures are printed again at the
# end, after the unit tests' output (a CI log's tail then shows them).
E2E_LAST_SUITE_SIGNAL=$signal npx vitest run -c vitest.e2e.config.ts > >(tee "$e2e_log") 2>&1 &
e2e_pid=$!
trap 'kill -- -"$rest_pid" 2>/dev/null || true; pkill -P "$e2e_pid" 2>/dev/null || true; kill "$e2e_pid" 2>/dev/null || true' EXIT
# Until only the last suite runs (vitest.e2e.config.ts's LastSuiteSignal) or the suites end.
while kill -0 "$e2e_pid" 2>/dev/null && [[ ! -f $signal ]]; do sleep 5; done
if ! wait "$rest_pid"; then
  rc=1
  echo "the background builds failed; the end of $rest_log:" >&2
  tail -n 30 "$rest_log" >&2
fi
grep -E 'took [0-9]+s' "$rest_log" | sed 's/^/background: /' >&2 || true
unit_log="$CACHE_DIR/unit-tests.log"
if kill -0 "$e2e_pid" 2>/dev/null; then
  log "unit and integration tests, beside the last end-to-end suite (their output: $unit_log, printed when they end)"
else
  log "unit and integration tests"
fi
unit_rc=0
nice -n 5 npx vitest run test/unit test/integration >"$unit_log" 2>&1 || unit_rc=1
cat "$unit_log"
((unit_rc == 0)) || { rc=1; echo "unit and integration tests failed (above)" >&2; }
if ! wait "$e2e_pid"; then
  rc=1
  echo "end-to-end suites failed; their failures again (the whole output: $e2e_log):" >&2
  # vitest's account of the failed cases (or, without one, the end of its output), uncoloured.
  plain=$(sed -e 's/\x1b\[[0-9;]*m//g' "$e2e_log")
  if grep -q 'Failed Tests' <<<"$plain"; then
    sed -n '/Failed Tests/,$p' <<<"$plain" | head -n 200 >&2
  else
    tail -n 60 <<<"$plain" >&2
  fi
fi
exit "$rc"
