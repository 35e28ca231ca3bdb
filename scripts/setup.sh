#!/usr/bin/env bash
# Installs every Debian package ovseg needs to build, test and run.
# Safe to run twice; when every package is already installed it touches
# nothing (no apt-get update, no root needed), so the test command stays
# fast and offline on a prepared machine. OVSEG_SETUP_FORCE=1 always runs apt.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
  libtorch-dev libopenblas0-pthread libgloo-dev
  libopencv-dev
  libboost-dev libboost-filesystem-dev
  libtomlplusplus-dev
  libbenchmark-dev
  doctest-dev
  nlohmann-json3-dev libpng-dev
  zlib1g-dev libicu-dev
  clang-format
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ] && [ "${OVSEG_SETUP_FORCE:-0}" != "1" ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
echo "setup: packages installed${missing:+ (were missing: ${missing[*]})}"
