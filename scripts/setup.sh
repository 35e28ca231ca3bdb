#!/usr/bin/env bash
# Installs every Debian package ovseg needs to build, test and run.
# Safe to run twice: apt-get install is idempotent.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates \
  libtorch-dev libopenblas0-pthread libgloo-dev \
  libopencv-dev \
  libboost-dev libboost-filesystem-dev \
  libtomlplusplus-dev \
  libbenchmark-dev \
  doctest-dev \
  nlohmann-json3-dev libpng-dev \
  zlib1g-dev libicu-dev \
  >/dev/null
echo "setup: packages installed"
