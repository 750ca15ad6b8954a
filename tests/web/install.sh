#!/bin/sh
# tests/web/install.sh - the npm packages of the web tests (playwright-core,
# axe-core, uplot), installed once with `npm ci` from the committed
# package-lock.json into $FLOWSQL_CACHE/web-node-<hash of the lock>
# (default ~/.cache/flowsql). Prints that directory; its node_modules/
# holds them. Run by `make deps-web` (part of `make test`), so that the
# tests themselves need no network; run again, it does nothing. No
# browser is downloaded: the tests drive Debian's chromium (DEB_TEST).
#
# Fails (status 1) when npm ci fails; its last line of standard error
# starts with UNREACHABLE when the npm registry cannot be reached at all
# (`npm ping`), which is the one case where tests/e2e/web.sh skips.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${FLOWSQL_CACHE:-$HOME/.cache/flowsql}
dir=$cache/web-node-$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-12)
if [ -f "$dir/.done" ]; then
    echo "$dir"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "tests/web/install.sh: npm is not installed (make deps-web installs Node.js and npm)" >&2
    exit 1
fi
rm -rf "$dir"
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
# --prefer-offline: tarballs already in npm's cache are not fetched again
# (a machine that ran it once needs no network after). PLAYWRIGHT_SKIP_
# BROWSER_DOWNLOAD: playwright-core downloads nothing by
# itself; said anyway, for any version that would.
if ! (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefer-offline --no-audit --no-fund \
          --loglevel=error >"$dir/npm.log" 2>&1); then
    cat "$dir/npm.log" >&2
    rm -rf "$dir"
    if ! npm ping >/dev/null 2>&1; then
        echo "UNREACHABLE: tests/web/install.sh: npm ci failed: the npm registry ($(npm config get registry)) does not answer" >&2
    else
        echo "tests/web/install.sh: npm ci failed (the registry answers: see above)" >&2
    fi
    exit 1
fi
touch "$dir/.done"
echo "$dir"
