#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what it needs, then runs pytest.
#   bash tests/run.sh                 # everything
#   bash tests/run.sh tests/browser   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*"; }

# Chromium from Debian: Playwright's own browser download is not used (tests launch /usr/bin/chromium).
if [ ! -x /usr/bin/chromium ]; then
  step "installing Debian chromium"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi

# torch first and pinned: with torch already satisfied, the test extras cannot pull a CUDA build (GBs).
step "python dependencies"
"$PYTHON" -m pip install --quiet "torch==2.13.0"
"$PYTHON" -m pip install --quiet -e '.[test]'

# npm ci deletes node_modules before reinstalling, so only run it when node_modules differs from the lock
# (other checkouts' processes may be using it).
step "npm dependencies"
if "$PYTHON" -c 'import sys, build; sys.exit(1 if build.stale_node_modules() else 0)'; then
  echo "node_modules matches package-lock.json"
else
  npm ci --no-audit --no-fund
fi

step "pytest $*"
status=0
"$PYTHON" -m pytest "$@" || status=$?
case "$status" in
  0) ;;
  5) echo "tests/run.sh: pytest collected no tests (exit 5): treated as a failure" >&2 ;;
  *) echo "tests/run.sh: pytest failed (exit $status)" >&2 ;;
esac
exit "$status"
