#!/usr/bin/env bash
# Idempotent set-up on Debian 12: system packages, then the cached Python environment that
# provides libtorch (for the build) and torch/torchvision/torchcodec (the tests' reference).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

# The Rust toolchain builds the binary; apt's rustc is too old on Debian 12, so it comes from
# rustup. The minimum is Cargo.toml's rust-version (what the dependencies require).
rust_min=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
rustup_hint="install it with: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . \"\$HOME/.cargo/env\""
if ! command -v cargo >/dev/null || ! command -v rustc >/dev/null; then
  echo "setup: no Rust toolchain (cargo, rustc) on PATH; Rust >= $rust_min is needed;" \
    "$rustup_hint" >&2
  exit 1
fi
rust_have=$(rustc --version | cut -d' ' -f2)
if [ "$(printf '%s\n' "$rust_min" "${rust_have%%-*}" | sort -V | head -n1)" != "$rust_min" ]; then
  echo "setup: rustc $rust_have is older than the $rust_min this project needs;" \
    "update it with: rustup update stable (without rustup: $rustup_hint)" >&2
  exit 1
fi

debs=(pkg-config clang libclang-dev ffmpeg libavcodec-dev libavformat-dev libavutil-dev
      libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev python3-venv)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-venv is only needed when python3 is Debian's; a pyenv/other python has venv built in.
if [ ${#missing[@]} -gt 0 ] && ! { [ ${#missing[@]} -eq 1 ] && [ "${missing[0]}" = python3-venv ] && python3 -c 'import venv, ensurepip' 2>/dev/null; }; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

if [ ! -f "$GRADTRUST_VENV/.complete" ]; then
  echo "setup: creating $GRADTRUST_VENV (torch==$TORCH_VERSION; several GB, once per machine)"
  rm -rf "$GRADTRUST_VENV"
  mkdir -p "$GRADTRUST_CACHE"
  python3 -m venv "$GRADTRUST_VENV"
  "$GRADTRUST_PYTHON" -m pip install -q --upgrade pip
  "$GRADTRUST_PYTHON" -m pip install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
    "torchcodec==$TORCHCODEC_VERSION" numpy scikit-learn pillow packaging safetensors==0.7.0 \
    pandas
  # Written last, so an interrupted install is redone rather than trusted.
  touch "$GRADTRUST_VENV/.complete"
fi
# pandas came after the first environments were made: add it to one that lacks it.
"$GRADTRUST_PYTHON" -c 'import pandas' 2>/dev/null || "$GRADTRUST_PYTHON" -m pip install -q pandas
echo "setup: ready (python: $GRADTRUST_PYTHON)"
