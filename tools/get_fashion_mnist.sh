#!/usr/bin/env bash
# Make Fashion-MNIST available to ednas_tf.data without root and without touching the system.
#
# Why this way: the loader never downloads (reproducible, offline-friendly runs), so this script is
# the one place that fetches data. Debian ships Fashion-MNIST as `dataset-fashion-mnist`;
# `apt-get download` + `dpkg -x` unpack it as an ordinary user into the project cache.
#
# Exit codes: 0 = data available (already there or fetched); 3 = not available, the demo should
# fall back to the synthetic dataset (the Makefile relies on this code).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${EDNAS_DATA_CACHE:-$ROOT/.cache/datasets}"
DEST="$CACHE/fashion-mnist"
DEBS="$ROOT/.cache/debs"
SYSTEM_DIR="/usr/share/datasets/fashion-mnist"
PACKAGE="dataset-fashion-mnist"
FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
       t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

has_all_files() {
    local dir="$1" f
    for f in "${FILES[@]}"; do
        [[ -s "$dir/$f" ]] || return 1
    done
}

give_up() {
    echo "get_fashion_mnist: $1" >&2
    echo "Fashion-MNIST not available: demo falls back to synthetic"
    exit 3
}

for dir in "$DEST" "$SYSTEM_DIR"; do
    if has_all_files "$dir"; then
        echo "Fashion-MNIST already available in $dir"
        exit 0
    fi
done

command -v apt-get >/dev/null 2>&1 || give_up "apt-get not found (not a Debian-based system)"
command -v dpkg >/dev/null 2>&1 || give_up "dpkg not found"

mkdir -p "$DEBS" "$DEST"
echo "Downloading $PACKAGE into $DEBS ..."
if ! (cd "$DEBS" && apt-get download "$PACKAGE"); then
    # The package index may be stale or empty; refreshing it needs root.
    if [[ "$(id -u)" == "0" ]]; then
        echo "Refreshing the apt package index and retrying ..."
        apt-get update -qq || give_up "apt-get update failed"
        (cd "$DEBS" && apt-get download "$PACKAGE") || give_up "apt-get download $PACKAGE failed"
    else
        give_up "apt-get download $PACKAGE failed (the package index may need 'sudo apt-get update')"
    fi
fi

shopt -s nullglob
debs=("$DEBS"/"$PACKAGE"_*.deb)
shopt -u nullglob
((${#debs[@]} > 0)) || give_up "no $PACKAGE .deb found in $DEBS"

unpack="$(mktemp -d "$ROOT/.cache/unpack.XXXXXX")"
trap 'rm -rf "$unpack"' EXIT
dpkg -x "${debs[-1]}" "$unpack" || give_up "dpkg -x ${debs[-1]} failed"

for f in "${FILES[@]}"; do
    found="$(find "$unpack" -name "$f" -type f -print -quit)"
    [[ -n "$found" ]] || give_up "$f not found inside ${debs[-1]}"
    mv "$found" "$DEST/$f"
done

has_all_files "$DEST" || give_up "files missing in $DEST after unpacking"
echo "Fashion-MNIST ready in $DEST"
