#!/usr/bin/env bash
# Runs pytest and fails when it collected no test: pytest's exit 5 must not pass as success.
set -uo pipefail
"$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$status"
