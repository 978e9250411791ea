#!/usr/bin/env bash
# Installs headless Chromium and chromedriver (Debian's chromium and
# chromium-driver) for the test that opens the matrix's HTML report
# (conformance/tests/matrix_browser.rs), unless both are on the PATH already.
set -euo pipefail
if command -v chromium > /dev/null && command -v chromedriver > /dev/null; then
  chromium --version
  exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
if ! $sudo apt-get install -y -q chromium chromium-driver > /dev/null; then
  $sudo apt-get update -q > /dev/null
  $sudo apt-get install -y -q chromium chromium-driver > /dev/null
fi
chromium --version
