#!/bin/sh
# Debian packages the test suite drives for real: Chromium and Firefox ESR (browser tests), PostgreSQL
# (storage tests), Redis (cluster tests), nftables and iproute2 (lossy links and network namespaces), coturn (the
# TURN relay of the firewall test), Janus (the peer `make bench` compares Mosaic with,
# smoke-tested by `make test`; unshare from util-linux gives the benchmark its own network namespace).
# Installed only when missing, so a prepared machine pays nothing.
set -eu
missing=""
need() { command -v "$1" >/dev/null 2>&1 || [ -x "$2" ] || missing="$missing $3"; }
need chromium /usr/bin/chromium chromium
need firefox-esr /usr/bin/firefox-esr firefox-esr
# Xvfb: a screen for Firefox to share (headless Firefox has none, and no fake one).
need Xvfb /usr/bin/Xvfb xvfb
need pg_ctlcluster /usr/bin/pg_ctlcluster postgresql
need nft /usr/sbin/nft nftables
need ip /usr/sbin/ip iproute2
need turnserver /usr/bin/turnserver coturn
need janus /usr/bin/janus janus
need unshare /usr/bin/unshare util-linux
# valgrind: `python -m bench --only instructions` counts instructions per forwarded packet with callgrind.
need valgrind /usr/bin/valgrind valgrind
# gcc and Python's headers build the optional compiled send path (mosaic/rtc/_fastpath.c, setup.py);
# without them the server forwards through the pure-Python path and its tests skip.
need gcc /usr/bin/gcc gcc
ls /usr/include/python3*/Python.h >/dev/null 2>&1 || missing="$missing python3-dev"
# Redis: the cluster's live state and bus (tests start their own redis-server on a free port).
need redis-server /usr/bin/redis-server redis-server
# npm installs axe-core, the accessibility engine of the browser tests (tests/browser/axe).
need npm /usr/bin/npm npm
# Reactions are emoji: browsers need a font that draws them.
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing="$missing fonts-noto-color-emoji"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "warning: missing Debian packages:$missing (run as root to install them; tests that need them will skip)" >&2
    exit 0
fi
apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing fonts-dejavu-core
