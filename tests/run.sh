#!/usr/bin/env bash
# The one test command (README and .ci/run): installs what the tests need, then runs them.
# Each missing piece is installed on its own (Chromium for the browser tests, PostgreSQL for
# the second database backend; apt-get, only as root), with one line per step; the logs of
# the quiet installers go to /tmp/livseg-*.log.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf 'tests/run.sh: %s\n' "$*"; }

apt_updated=0
apt_install() {  # apt_install PACKAGE: install one Debian package, say what happened
  local pkg=$1 log=/tmp/livseg-apt-$1.log
  if [ "$(id -u)" != 0 ]; then
    step "$pkg missing and not root: skipping its install (its tests are skipped or fail)"
    return 0
  fi
  if [ "$apt_updated" = 0 ]; then
    step "apt-get update ..."
    apt-get update -qq >/tmp/livseg-apt-update.log 2>&1 \
      || step "warning: apt-get update failed (see /tmp/livseg-apt-update.log)"
    apt_updated=1
  fi
  step "installing $pkg with apt-get (about a minute) ..."
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >"$log" 2>&1; then
    step "$pkg installed"
  else
    step "warning: apt-get install $pkg failed (see $log)"
  fi
}

if command -v chromium >/dev/null 2>&1; then
  step "chromium: present"
else
  apt_install chromium
fi

if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  step "postgresql: present"
else
  apt_install postgresql
fi

step "pip install -r requirements-dev.txt ..."
python -m pip install -q -r requirements-dev.txt >/tmp/livseg-pip.log 2>&1 \
  || { step "error: pip install failed (see /tmp/livseg-pip.log)"; exit 1; }
step "python packages ready; running pytest"
python -m pytest -q "$@"
