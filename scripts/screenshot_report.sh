#!/usr/bin/env bash
# Screenshot an evaluation report (evaluate's html_report artifact) in headless Chromium, to check by eye
# that it renders: verdict, metrics table, per-class bars, confusion matrices, misclassified tweets.
#   scripts/screenshot_report.sh local_outputs/<run>/evaluate/html_report [report.png]
# Needs chromium (Debian: apt-get install -y chromium).
set -euo pipefail
report="${1:?usage: $0 REPORT.html [OUT.png]}"
out="${2:-report.png}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[ -n "$browser" ] || { echo "no chromium found (apt-get install -y chromium)" >&2; exit 1; }
page="$(mktemp -d)/report.html"
cp "$report" "$page"  # KFP names the artifact without .html; give it one so the browser renders HTML
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,2200 \
  --screenshot="$(realpath -m "$out")" "file://$page" 2>/dev/null
echo "wrote $out"
