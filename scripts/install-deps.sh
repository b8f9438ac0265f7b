#!/bin/sh
# Installs the Debian packages polis builds, tests and benchmarks with, when any is missing.
# Runs as root on a fresh Debian machine (apt-get update first); does nothing when all are there.
set -e
PACKAGES="build-essential pkg-config clang libclang-rt-14-dev
libuv1-dev libssl-dev libcjson-dev libhiredis-dev libcmocka-dev
python3 python3-pytest python3-redis redis-tools redis-server
wrk haproxy nginx iproute2 nftables procps psmisc"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "need root to install packages (run as root, or: sudo apt-get install$missing)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
# Debian starts these daemons on install; polis' benchmarks start their own copies.
for svc in redis-server nginx haproxy; do
    (service "$svc" stop || true) >/dev/null 2>&1
done
exit 0
