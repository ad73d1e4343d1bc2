#!/usr/bin/env bash
# The test command of the README and of CI. Builds once, runs the Swift suites, then the live
# checks against the built binary (README walkthrough, SIGTERM drain, promtool, OpenAPI,
# schemathesis). Every Swift suite uses Swift Testing; --disable-xctest drops XCTest's empty line.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build --disable-xctest
python3 -m pytest -q tests/live
