#!/usr/bin/env bash
# Loads the report's index.html in headless Chromium (Debian's `chromium`): the page must load with
# no console message (it has no script of its own, so any is an error: a bad resource, a parse
# error) and every <img> must have decoded (naturalWidth > 0). A copy of the page with a checker
# script appended runs in the same folder, so relative paths resolve as in the page itself; the
# script writes the broken images into the DOM, which --dump-dom prints. To show the check can fail,
# it is also run on a copy of the report with one image deleted, which must be caught.
# Usage: report_chromium.sh <report dir> [screenshot.png]
# Exit 77 (ctest: skipped) without chromium, unless SCANLAB_REQUIRE_CHROMIUM=1 (CI) makes that a failure.
set -u
report=$(cd "$1" && pwd)
shot=${2:-}
if ! command -v chromium > /dev/null; then
  [[ ${SCANLAB_REQUIRE_CHROMIUM:-0} == 1 ]] && { echo "FAIL: chromium not installed (apt-get install chromium)"; exit 1; }
  echo "SKIP: chromium not installed (Debian package chromium; scripts/apt-packages.txt)"; exit 77
fi
browse() {  # chromium with the flags a container needs (root, no GPU, no display)
  timeout 120 chromium --headless --disable-gpu --no-sandbox --no-first-run --disable-dev-shm-usage \
    --user-data-dir="$(mktemp -d)" "$@"
}
checker='<script>window.addEventListener("load",function(){var b=[];for(const i of document.images){if(!i.complete||i.naturalWidth===0)b.push(i.getAttribute("src"));}document.body.setAttribute("data-images",String(document.images.length));document.body.setAttribute("data-broken",b.join(" "));if(b.length)console.error("broken images: "+b.join(" "));});</script>'
check_page() {  # dir -> 0 when clean; prints what is wrong
  local dir=$1 page=$1/.chromium_check.html
  sed "s#</body>#${checker}</body>#" "$dir/index.html" > "$page"
  browse --enable-logging=stderr --v=0 --dump-dom "file://$page" > "$dir/.dom.html" 2> "$dir/.chromium.log"
  local rc=$?
  rm -f "$page"
  [[ $rc == 0 ]] || { echo "chromium exited $rc"; tail -5 "$dir/.chromium.log"; return 1; }
  local console
  console=$(grep ':CONSOLE' "$dir/.chromium.log")
  [[ -z $console ]] || { echo "console messages: $console"; return 1; }
  grep -q 'data-images="[1-9][0-9]*"' "$dir/.dom.html" || { echo "the load handler did not run or found no image"; return 1; }
  grep -q 'data-broken=""' "$dir/.dom.html" || { echo "broken images: $(grep -o 'data-broken="[^"]*"' "$dir/.dom.html")"; return 1; }
  return 0
}
check_page "$report" || { echo "FAIL: $report/index.html in headless Chromium"; exit 1; }
images=$(grep -o 'data-images="[0-9]*"' "$report/.dom.html")
rm -f "$report/.dom.html" "$report/.chromium.log"

copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -r "$report/." "$copy/"
victim=$(grep -o '<img src="[^"]*"' "$copy/index.html" | head -1 | sed 's/<img src="//; s/"$//')
rm "$copy/$victim"
if check_page "$copy" > /dev/null; then echo "FAIL: a report without $victim passed the check"; exit 1; fi

if [[ -n $shot ]]; then
  browse --window-size=1280,2400 --hide-scrollbars --screenshot="$shot" "file://$report/index.html" > /dev/null 2>&1 \
    || { echo "FAIL: no screenshot"; exit 1; }
  [[ -s $shot ]] || { echo "FAIL: empty screenshot"; exit 1; }
fi
echo "index.html loads in headless Chromium with no console message, every image decoded ($images); a missing image is caught"
