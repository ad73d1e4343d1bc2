#!/usr/bin/env bash
# libFuzzer over the parsers that read what the network sends: the wire format's readers
# (FuzzTaskJSON), the Redis protocol decoder (FuzzRESP) and the NATS protocol decoder (FuzzNATS). Usage: scripts/fuzz.sh [SECONDS]
# (per target; 30 by default, what CI runs; run longer by hand, e.g. 3600). Starts from the seed
# corpus in Fuzz/Corpus (copied, so the repository's stays as it is); a crash or a failed check
# stops with the input that caused it saved under .build/fuzz/ and its path printed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"

# The side package names the main one by a link (see Fuzz/Package.swift).
ln -sfn .. Fuzz/switchboard
(cd Fuzz && swift build -c release -Xswiftc -sanitize=fuzzer)

for target in FuzzTaskJSON FuzzRESP FuzzNATS; do
  corpus=".build/fuzz/$target/corpus"
  crashes=".build/fuzz/$target/crashes"
  mkdir -p "$corpus" "$crashes"
  seeds="Fuzz/Corpus/${target#Fuzz}"
  cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  echo "fuzzing $target for ${seconds}s"
  if ! "Fuzz/.build/release/$target" "$corpus" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
      -artifact_prefix="$crashes/" -print_final_stats=1 > ".build/fuzz/$target/log" 2>&1; then
    tail -40 ".build/fuzz/$target/log"
    echo "$target failed; the input is in $crashes/ (replay: Fuzz/.build/release/$target FILE)" >&2
    exit 1
  fi
  grep -E 'stat::number_of_executed_units|stat::new_units_added' ".build/fuzz/$target/log" | sed "s/^/$target /"
done
