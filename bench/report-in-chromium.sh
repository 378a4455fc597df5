#!/usr/bin/env bash
# Opens a results folder's report.html in headless Chromium (Debian's `chromium`), offline: writes a full-page
# screenshot and the rendered DOM, and checks that every chart drew (uPlot's canvas and legend in the DOM, and
# the page's own count of charts). Look at the screenshot before calling a change to the page done.
#   bash bench/report-in-chromium.sh RESULTS_DIR [OUT_DIR]
set -euo pipefail
dir="${1:?usage: bench/report-in-chromium.sh RESULTS_DIR [OUT_DIR]}"
out="${2:-$dir}"
page="$(cd "$dir" && pwd)/report.html"
[ -f "$page" ] || { echo "error: $page does not exist" >&2; exit 2; }
command -v chromium >/dev/null || { echo "error: chromium is not installed (apt-get install chromium)" >&2; exit 2; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
# The flags keep Chromium off the network (this page needs none) and quiet on a machine without a GPU.
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
  --disable-component-update --disable-sync --user-data-dir="$profile" --virtual-time-budget=5000
  --hide-scrollbars)
chromium "${flags[@]}" --window-size=1100,3200 --screenshot="$out/report-screenshot.png" "file://$page" 2>/dev/null
chromium "${flags[@]}" --dump-dom "file://$page" 2>/dev/null >"$out/report-dom.html"
charts=$(grep -o 'data-charts="[0-9]*"' "$out/report-dom.html" | grep -o '[0-9]*' || echo 0)
canvases=$(grep -o '<canvas' "$out/report-dom.html" | wc -l)
legends=$(grep -o 'class="u-legend' "$out/report-dom.html" | wc -l)
placeholders=$(grep -o 'id="chart-[a-z0-9-]*"' "$out/report-dom.html" | wc -l)
echo "charts drawn: $charts of $placeholders placeholders; canvases: $canvases; legends: $legends"
echo "screenshot: $out/report-screenshot.png; DOM: $out/report-dom.html"
if [ "$charts" -eq 0 ] || [ "$charts" -ne "$placeholders" ] || [ "$canvases" -ne "$charts" ] || [ "$legends" -ne "$charts" ]; then
  echo "error: not every chart drew" >&2
  exit 1
fi
