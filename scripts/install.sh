#!/usr/bin/env bash
# Puts `gradtrust-video` on PATH: set-up (scripts/setup.sh), then a release build installed
# into $GRADTRUST_PREFIX/bin (default ~/.local/bin) by `cargo install`. The binary finds
# libtorch through the rpath build.rs writes into it (the lib directory of setup.sh's Python
# environment), so it runs from any directory with no environment variables, as long as that
# environment stays where it is (rerun this script after deleting or upgrading it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
prefix=${GRADTRUST_PREFIX:-$HOME/.local}
cargo install --locked --path . --root "$prefix"
echo "install: $("$prefix/bin/gradtrust-video" --version) in $prefix/bin"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "install: $prefix/bin is not on PATH; add it, e.g. in ~/.profile:" \
       "export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
