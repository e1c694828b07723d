#!/usr/bin/env bash
# Rebuild BENCHMARKS.md from the sections the benchmark scripts write to bench/results/.
cd "$(dirname "$0")/.."
{
  echo "# Benchmarks"
  echo
  echo "Measured on the project's 2-core, 24 GB machine (Python 3.11, no GPU). Timings are noisy"
  echo "there, so each figure stands next to a baseline measured in the same run; the scripts are in"
  echo "\`bench/\` and each section names its command. Sections are the files in \`bench/results/\`."
  for f in understanding build adapters embedding worker search redaction tone themes replay shaping signals dashboard load reliability; do
    if [ -f bench/results/$f.md ]; then echo; sed 's/^# /## /' bench/results/$f.md | sed '1s/^## /## /'; fi
  done
} > BENCHMARKS.md
