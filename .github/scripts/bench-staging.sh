#!/usr/bin/env bash
# Bench staging after its deploy: the markdown table goes to the run's summary page even when
# the SLO gate fails, then the job exits as `llmdeploy bench` did (1: the SLO fails at
# BENCH_REQUIRE_CONCURRENCY; 2: bad input, such as an unreachable endpoint or a wrong key).
set -euo pipefail

args=(bench staging --out bench-results/staging --format markdown --slo "${BENCH_SLO:?}")
if [ -n "${BENCH_REQUIRE_CONCURRENCY:-}" ]; then
  args+=(--require-concurrency "$BENCH_REQUIRE_CONCURRENCY")
fi

status=0
llmdeploy "${args[@]}" >bench-summary.md || status=$?
{
  echo "## Load test of staging (llmdeploy bench)"
  echo
  cat bench-summary.md
} >>"${GITHUB_STEP_SUMMARY:?}"
exit "$status"
