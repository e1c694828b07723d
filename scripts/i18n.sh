#!/usr/bin/env bash
# Refresh the message catalogs after UI strings change: extract, then merge into fi and en.
set -euo pipefail
cd "$(dirname "$0")/.."
t=hiljainen/translations
.venv/bin/pybabel extract -F $t/babel.cfg -k _ -k lazy_gettext -o $t/messages.pot --no-location --sort-output .
for lang in fi en; do
  if [ -f $t/$lang/LC_MESSAGES/messages.po ]; then
    .venv/bin/pybabel update -i $t/messages.pot -d $t -l $lang --no-fuzzy-matching
  else
    .venv/bin/pybabel init -i $t/messages.pot -d $t -l $lang
  fi
done
