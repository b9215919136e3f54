#!/bin/sh
# Install the torch build that suits this machine into the virtualenv whose Python is $1.
#   an NVIDIA GPU (nvidia-smi lists one): the CUDA build from the package index;
#   otherwise the CPU build: a local wheel where pip finds one offline, else PyTorch's own CPU
#   index where it answers; where only the package index's default can be had (Linux x86-64:
#   the CUDA build), say so and how large before it starts.
# TORCH_VERSION overrides the version (default: the one the project is tested with).
set -eu
PY=$1
VERSION=${TORCH_VERSION:-2.13.0}
CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}

if "$PY" -c "import torch" 2>/dev/null; then
  echo "torch $("$PY" -c 'import torch; print(torch.__version__)') is already installed"
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "an NVIDIA GPU is here: installing torch $VERSION's CUDA build from the package index"
  echo "(about 900 MB of torch and 2.5 GB of NVIDIA libraries to download)"
  exec "$PY" -m pip install --progress-bar on "torch==$VERSION"
fi
# a wheel on this disk (pip's find-links): torch alone offline, then its small dependencies
if "$PY" -m pip install --quiet --no-index --no-deps "torch==$VERSION" 2>/dev/null; then
  echo "torch $VERSION installed from a wheel on this disk; now its dependencies"
  exec "$PY" -m pip install --quiet "torch==$VERSION"
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64|Linux-amd64)
    if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=15)' \
         "$CPU_INDEX/torch/" >/dev/null 2>&1; then
      echo "no GPU here: installing torch $VERSION's CPU build from $CPU_INDEX (about 200 MB)"
      exec "$PY" -m pip install --progress-bar on --index-url "$CPU_INDEX" \
        --extra-index-url https://pypi.org/simple "torch==$VERSION"
    fi
    echo "no GPU here, but PyTorch's CPU index ($CPU_INDEX) does not answer: the package"
    echo "index has only torch's CUDA build for Linux x86-64, about 3.5 GB to download and 5 GB"
    echo "installed. Installing it now; to avoid it, set TORCH_CPU_INDEX to a reachable mirror of"
    echo "the CPU index, or put a CPU wheel where pip finds it, and run make again."
    exec "$PY" -m pip install --progress-bar on "torch==$VERSION"
    ;;
  *)  # macOS and Linux aarch64: the package index's torch is the CPU build (about 250 MB)
    echo "installing torch $VERSION from the package index (the CPU build here)"
    exec "$PY" -m pip install --progress-bar on "torch==$VERSION"
    ;;
esac
