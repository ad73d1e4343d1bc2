#!/usr/bin/env bash
# The container checks CI runs after the test suite: builds a release binary with Swift's
# standard library linked in (the Dockerfile's build stage, done here, as no Swift image can be
# pulled), checks it runs without the toolchain's libraries, builds the Dockerfile's runtime
# stage around it with podman (a Debian base made with mmdebstrap, since no registry is
# reachable), and runs IntegrationTests/test_container.py against the image.
# Needs podman, runc and mmdebstrap (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release --static-swift-stdlib --product switchboard
mkdir -p dist
# Without its symbols: a quarter of the size (the image copies it whole).
strip -o dist/switchboard .build/release/switchboard

# Nothing of Swift's runtime is loaded from outside the binary.
if ldd dist/switchboard | grep -E 'libswift|libFoundation|libdispatch'; then
  echo "dist/switchboard still links Swift's libraries dynamically" >&2
  exit 1
fi
env -i dist/switchboard --version

podman=(podman --storage-driver vfs)
# The binary's shared libraries beyond libc's: libcurl (Foundation's networking, which the MCP
# SDK links in) and libsqlite3 (the sqlite backend, through GRDB).
base=localhost/debian-min-curl-sqlite
if ! "${podman[@]}" image exists "$base"; then
  work=$(mktemp -d)
  mmdebstrap --variant=minbase --include=ca-certificates,libcurl4,libsqlite3-0 bookworm "$work/rootfs.tar"
  "${podman[@]}" import "$work/rootfs.tar" "$base"
  rm -rf "$work"
fi
# --format docker keeps HEALTHCHECK (the OCI format has no place for it).
"${podman[@]}" build --isolation chroot --format docker --target runtime \
  --build-arg RUNTIME_IMAGE="$base" --build-arg BINARY_STAGE=prebuilt -t localhost/switchboard:test .

SWITCHBOARD_CONTAINER_IMAGE=localhost/switchboard:test python3 -m pytest -q IntegrationTests/test_container.py
