#!/usr/bin/env bash
# System packages the test suite needs that PyPI cannot provide: Debian's Chromium for the
# browser tests (Playwright drives it through executable_path; it never downloads a browser).
set -euo pipefail

# checkov (Terraform security rules) lives in its own virtualenv: it pins an hcl2 module that
# conflicts with python-hcl2 in the project's environment.
CHECKOV_VERSION=3.3.30
CHECKOV_VENV=.tools/checkov
if ! "$CHECKOV_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "ensure-test-deps: installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
  "${PYTHON:-python3}" -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

if [ -x /usr/bin/chromium ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-deps: /usr/bin/chromium is missing and apt-get is unavailable" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "ensure-test-deps: installing Debian's chromium (browser tests)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version
