#!/usr/bin/env bash
# Fuzzes every parser that reads bytes from outside (Docs/reliability.md) with libFuzzer and AddressSanitizer.
#
#   scripts/fuzz.sh [TARGET…]          each target (default: all) for FUZZ_SECONDS seconds (default 60)
#   FUZZ_SECONDS=600 scripts/fuzz.sh   the full run: ten minutes a target
#
# The working corpus grows in .build-fuzz/corpus/<target>, seeded from Fuzz/Corpus/<target>. A crash, a trap, a
# leak or an input that takes more than 10 s is written to Fuzz/Findings/ and ends the run with failure: make it a
# unit test, fix it, and add the input to Fuzz/Corpus/<target>/ (FuzzCorpusTests replays it from then on).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
flags=(-c release --product castbridge-fuzz --scratch-path .build-fuzz
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -DCASTBRIDGE_FUZZ -Xswiftc -use-ld=lld)
swift build "${flags[@]}"
bin="$(swift build "${flags[@]}" --show-bin-path)/castbridge-fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for dir in Fuzz/Corpus/*/; do targets+=("$(basename "$dir")"); done
fi
mkdir -p Fuzz/Findings
status=0
for target in "${targets[@]}"; do
  [ -d "Fuzz/Corpus/$target" ] || { echo "fuzz: no target $target (Fuzz/Corpus/$target)"; exit 2; }
  mkdir -p ".build-fuzz/corpus/$target"
  echo "fuzz: $target for ${seconds}s"
  if ! CASTBRIDGE_FUZZ_TARGET="$target" "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="Fuzz/Findings/$target-" \
      ".build-fuzz/corpus/$target" "Fuzz/Corpus/$target" > ".build-fuzz/$target.log" 2>&1; then
    echo "fuzz: $target FOUND SOMETHING (Fuzz/Findings/$target-*; log .build-fuzz/$target.log):"
    grep -E "ERROR|Fatal error|SUMMARY|panic|==[0-9]+==" ".build-fuzz/$target.log" | head -20 || true
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" ".build-fuzz/$target.log" | sed "s/^/fuzz: $target /"
  fi
done
exit $status
