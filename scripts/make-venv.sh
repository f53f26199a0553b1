#!/bin/sh
# Creates the virtual environment. Debian ships venv support in a separate package
# (python3-venv); install it when we may, or say exactly what is missing.
set -eu
python=$1
venv=$2
if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -q && apt-get install -y -q python3-venv
        "$python" -m venv "$venv"
    else
        echo "error: '$python -m venv' failed; install Debian's python3-venv (sudo apt-get install python3-venv)" >&2
        exit 1
    fi
fi
