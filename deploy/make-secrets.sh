#!/usr/bin/env bash
# Makes the compose stack's secrets in deploy/secrets/ (or the folder given): an admin token, a
# worker token and a viewer token for Prometheus, each printed once, and the servers' token file
# holding only their hashes. Needs `switchboard` on the PATH (or SWITCHBOARD_BIN).
set -euo pipefail
folder="${1:-$(dirname "$0")/secrets}"
switchboard="${SWITCHBOARD_BIN:-switchboard}"
mkdir -p "$folder"
umask 077
entries=("tokens:")
make() { # name scope file
  local out
  out=$("$switchboard" token create --name "$1" --scope "$2")
  printf '%s\n' "$(sed -n 1p <<<"$out")" > "$folder/$3"
  entries+=("$(sed -n 2p <<<"$out")")
}
make admin admin admin-token
make worker worker worker-token
make prometheus viewer prometheus-token
printf '%s\n' "${entries[@]}" > "$folder/tokens.yaml"
# The containers' users read them through the bind mount.
chmod 644 "$folder"/*
echo "secrets in $folder: tokens.yaml (hashes, for the servers), admin-token, worker-token, prometheus-token"
