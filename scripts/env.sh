# Sourced by the other scripts: where the cached Python environment lives and how the build
# finds libtorch in it. Keyed by torch version and Python version so upgrades never mix.
TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0
TORCHCODEC_VERSION=0.17.0
PY_TAG=$(python3 -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
GRADTRUST_CACHE=${GRADTRUST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gradtrust-video}
GRADTRUST_VENV=$GRADTRUST_CACHE/venv-torch$TORCH_VERSION-$PY_TAG
export GRADTRUST_PYTHON=$GRADTRUST_VENV/bin/python
# torch-sys asks the active virtual environment's `python` for libtorch's paths.
export VIRTUAL_ENV=$GRADTRUST_VENV
export PATH=$GRADTRUST_VENV/bin:$PATH
export LIBTORCH_USE_PYTORCH=1
