#!/bin/sh
# Install every Debian package mlic needs to build, test and benchmark; a no-op when all are there.
# Usage: scripts/deps.sh [build|test|bench]   (each level includes the ones before it)
#        scripts/deps.sh fuzz                 (build, plus clang and libFuzzer for `make fuzz`)
set -eu
level=${1:-test}
build="make gcc pkg-config libdnnl-dev libturbojpeg0-dev libpng-dev libwebp-dev libgif-dev
       libexif-dev libcurl4-openssl-dev libssl-dev libcjson-dev libopenmpi-dev openmpi-bin
       protobuf-c-compiler libprotobuf-c-dev libonnx-dev"
test="python3 python3-torch python3-torchvision python3-pil python3-numpy python3-sklearn
      python3-pytest python3-onnx python3-venv python3-pip chromium fonts-dejavu-core"
bench="python3-pip"
fuzz="clang libclang-rt-dev libomp-dev"
pkgs=$build
[ "$level" = build ] || [ "$level" = fuzz ] || pkgs="$pkgs $test"
[ "$level" = bench ] && pkgs="$pkgs $bench"
[ "$level" = fuzz ] && pkgs="$pkgs $fuzz"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
