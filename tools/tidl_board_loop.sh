#!/usr/bin/env bash
# The board side of a TDA2x latency table: import every TIDL probe with TI's import tool, run it
# with TI's test application, and collect each probe's output in one cycles file that
# `ednas-build-lut --import_measurements=<file> --clock_mhz=...` reads (docs/TIDL.md, "Board loop").
#
# Usage:
#   ednas-build-lut --space=small --image_size=32 --device=tda2x --export_probes=probes --format=tidl
#   TIDL_IMPORT_TOOL=/path/to/tidl_model_import.out TIDL_TEST_APP=/path/to/eve_test_dl_algo.out \
#       tools/tidl_board_loop.sh probes [probes/tidl_cycles.txt]
#   ednas-build-lut --space=small --image_size=32 --device=tda2x \
#       --import_measurements=probes/tidl_cycles.txt --clock_mhz=650 --output=luts/tda2x.json
#
# Environment:
#   TIDL_IMPORT_TOOL  TI's tidl_model_import.out (TIDL / Vision SDK utils). Required unless
#                     TIDL_SKIP_IMPORT=1 (then each probe's tidl_net.bin / tidl_param.bin is reused).
#   TIDL_TEST_APP     TI's test application: eve_test_dl_algo.out (EVE), dsp_test_dl_algo.out
#                     (C66x DSP), or eve_test_dl_algo_ref.out (TI's host reference: functional, its
#                     cycles are not the board's).
#   TIDL_RUN          The command run for one probe, in the probe's folder, which holds
#                     tidl_net.bin, tidl_param.bin, sample_in.raw and tidl_infer.txt. Default:
#                     "$TIDL_TEST_APP tidl_infer.txt". Put here however your setup runs a test
#                     application on the board (ssh, a CCS scripting call, ...); its stdout and
#                     stderr are copied verbatim into the cycles file.
#   TIDL_NUM_FRAMES   Frames per probe (default: the probe's numSampleInData); the import takes
#                     the median of the per-frame cycles.
#   TIDL_CORE         eve or dsp (default eve): written in the header; import with --clock_mhz 650
#                     (EVE) or 750 (DSP) on AM5729 / TDA2x.
#   TIDL_INFER_EXTRA  Extra lines appended to each tidl_infer.txt (keys your SDK's test
#                     application needs that the default config lacks).
#
# Output: for each probe of manifest.csv, in manifest order,
#   === probe <key> ===
#   <the test application's output, verbatim>        (or "status = import failed: see ...")
#   === end <key> ===
# A probe whose TIDL check failed at export (tidl_check=fail) is not run; its block holds a
# status line, so the import names it.
set -euo pipefail

usage() {
    sed -n '2,12p' "$0" >&2
    exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
PROBES="$(cd "$1" && pwd)"
OUT="${2:-$PROBES/tidl_cycles.txt}"
MANIFEST="$PROBES/manifest.csv"
[ -f "$MANIFEST" ] || { echo "error: no $MANIFEST (export with --format=tidl)" >&2; exit 2; }
if [ "${TIDL_SKIP_IMPORT:-0}" != 1 ] && [ ! -x "${TIDL_IMPORT_TOOL:-}" ]; then
    echo "error: set TIDL_IMPORT_TOOL to TI's tidl_model_import.out (or TIDL_SKIP_IMPORT=1)" >&2
    exit 2
fi
if [ -z "${TIDL_RUN:-}" ]; then
    [ -n "${TIDL_TEST_APP:-}" ] || { echo "error: set TIDL_TEST_APP or TIDL_RUN" >&2; exit 2; }
    TIDL_RUN="\"$TIDL_TEST_APP\" tidl_infer.txt"
fi

# Column numbers of the manifest's header (key, import_config, tidl_check).
column() {
    head -n 1 "$MANIFEST" | tr -d '\r' | tr ',' '\n' | grep -nx "$1" | cut -d: -f1
}
KEY_COL=$(column key)
CONFIG_COL=$(column import_config)
CHECK_COL=$(column tidl_check)

# numSampleInData of an import config: the frames its sample_in.raw holds.
sample_frames() {
    sed -n 's/^numSampleInData *= *\([0-9]*\).*/\1/p' "$1"
}

write_infer_config() {  # the test application's config for the probe in the current folder
    cat > tidl_infer.txt <<EOF
# TIDL test-application config for one probe, written by tools/tidl_board_loop.sh
rawImage      = 1
numFrames     = $1
preProcType   = 0
inData        = "sample_in.raw"
outData       = "tidl_out.bin"
netBinFile    = "tidl_net.bin"
paramsBinFile = "tidl_param.bin"
EOF
    if [ -n "${TIDL_INFER_EXTRA:-}" ]; then
        printf '%s\n' "$TIDL_INFER_EXTRA" >> tidl_infer.txt
    fi
}

run_probe() {  # key folder: prints the probe's block body
    local key=$1 folder=$2 frames
    cd "$folder"
    frames="${TIDL_NUM_FRAMES:-$(sample_frames tidl_import.txt)}"
    if [ "${TIDL_SKIP_IMPORT:-0}" != 1 ]; then
        if ! "$TIDL_IMPORT_TOOL" tidl_import.txt > import.log 2>&1; then
            echo "status = import failed: see $folder/import.log"
            return
        fi
    fi
    write_infer_config "${frames:-1}"
    if ! bash -c "$TIDL_RUN" > run.log 2>&1; then
        cat run.log
        echo "status = run failed: see $folder/run.log"
        return
    fi
    cat run.log
}

TMP="$OUT.partial"
{
    echo "# TIDL probe cycles, collected by tools/tidl_board_loop.sh"
    echo "# probes: $PROBES; core: ${TIDL_CORE:-eve}; run: $TIDL_RUN; $(date -u +%FT%TZ)"
} > "$TMP"
count=0
while IFS=, read -r -a row; do
    key="${row[$((KEY_COL - 1))]}"
    config="${row[$((CONFIG_COL - 1))]}"
    check="${row[$((CHECK_COL - 1))]}"
    folder="$PROBES/$(dirname "$config")"
    echo "=== probe $key ===" >> "$TMP"
    if [ "$check" != pass ]; then
        echo "status = not run: the probe failed the TIDL check at export" >> "$TMP"
    else
        (run_probe "$key" "$folder") >> "$TMP"
    fi
    echo "=== end $key ===" >> "$TMP"
    count=$((count + 1))
    echo "[$count] $key" >&2
done < <(tail -n +2 "$MANIFEST" | tr -d '\r')
mv "$TMP" "$OUT"
echo "wrote $OUT ($count probes); import with ednas-build-lut --import_measurements=$OUT" >&2
