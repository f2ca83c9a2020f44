#!/usr/bin/env bash
# Browser tests of the console (ui-tests/test_console.py): builds `tinyflow`, checks that
# headless Chromium, its driver and Selenium are present, then drives the console of real
# `tinyflow up` processes. Screenshots and logs go to test-artifacts/ui/.
#
#   scripts/test-ui.sh                     all steps
#   scripts/test-ui.sh HelloFlowTests      one class (or Class.test_method), as unittest takes them
#
# Environment: SWIFT (default swift); CHROMIUM, CHROMEDRIVER (default /usr/bin/chromium,
# /usr/bin/chromedriver); TINYFLOW_REQUIRE_BROWSER=1 makes a missing browser a failure (CI)
# rather than a skip; TINYFLOW_UI_TIMEOUT bounds the whole run (seconds, default 1200);
# TINYFLOW_UI_SKIP_BUILD=1 uses the binary as it is (TINYFLOW_BINARY, default .build/debug/tinyflow).
set -euo pipefail
cd "$(dirname "$0")/.."

swift=${SWIFT:-swift}
chromium=${CHROMIUM:-/usr/bin/chromium}
chromedriver=${CHROMEDRIVER:-/usr/bin/chromedriver}

missing=()
[[ -x $chromium ]] || missing+=("$chromium: install the Debian package chromium (apt-get install chromium)")
[[ -x $chromedriver ]] || missing+=("$chromedriver: install the Debian package chromium-driver (apt-get install chromium-driver)")
command -v python3 >/dev/null 2>&1 || missing+=("python3: install the Debian package python3")
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import selenium' >/dev/null 2>&1; then
    missing+=("the Python module selenium: python3 -m pip install selenium")
fi
command -v kubectl >/dev/null 2>&1 || missing+=("kubectl (the tests read the TinyNodes with it)")
if ((${#missing[@]})); then
    echo "scripts/test-ui.sh: the UI tests need:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi

if [[ ${TINYFLOW_UI_SKIP_BUILD:-0} != 1 ]]; then
    "$swift" build --product tinyflow
fi
binary=${TINYFLOW_BINARY:-$("$swift" build --show-bin-path)/tinyflow}
[[ -x $binary ]] || { echo "scripts/test-ui.sh: $binary is missing (swift build --product tinyflow)" >&2; exit 1; }

export TINYFLOW_BINARY=$binary CHROMIUM=$chromium CHROMEDRIVER=$chromedriver
mkdir -p test-artifacts/ui
echo "UI tests: $binary, $("$chromium" --version 2>/dev/null | head -n 1), selenium $(python3 -c 'import selenium; print(selenium.__version__)')"
exec python3 ui-tests/test_console.py "$@"
