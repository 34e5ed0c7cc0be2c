#!/usr/bin/env bash
# The one test command (README and .ci/run): installs what the tests need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium postgresql) \
    >/tmp/livseg-apt.log 2>&1 || echo "warning: apt-get install chromium/postgresql failed (see /tmp/livseg-apt.log)"
fi
python -m pip install -q -r requirements-dev.txt
python -m pytest -q "$@"
