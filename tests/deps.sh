#!/bin/sh
# deps.sh PKG... -- makes sure the Debian packages the build needs are installed.
# Root: installs the missing ones with apt-get. Otherwise: prints the exact
# apt-get line and fails, so that nothing half-builds.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
# npm comes with nodesource's nodejs; Debian's nodejs needs the npm package
case " $* " in *" nodejs "*) command -v npm >/dev/null 2>&1 || missing="$missing npm";; esac
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 || {
        apt-get update -q >/dev/null 2>&1
        apt-get install -y -q --no-install-recommends $missing >/dev/null || exit 1
    }
    exit 0
fi
echo "deps: missing Debian packages; run as root:" >&2
echo "  apt-get install -y$missing" >&2
exit 1
