#!/usr/bin/env bash
# The test command of the README and of CI: builds the package once and runs every suite.
# Every suite uses Swift Testing; --disable-xctest drops XCTest's empty "Executed 0 tests" line.
set -euo pipefail
cd "$(dirname "$0")/.."
exec swift test --disable-xctest "$@"
