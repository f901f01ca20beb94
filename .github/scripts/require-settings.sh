#!/usr/bin/env bash
# require-settings.sh NAME...: fail, naming each one, when an environment variable that carries a
# repository variable or secret is empty (the workflow maps `vars.X` / `secrets.X` onto them).
set -euo pipefail
missing=0
for name in "$@"; do
  if [ -z "${!name:-}" ]; then
    echo "::error::$name: found nothing; accepted: the repository or environment setting of that name (docs/ci.md, \"What to create once\")"
    missing=1
  fi
done
exit "$missing"
