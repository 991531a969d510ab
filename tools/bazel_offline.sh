#!/usr/bin/env bash
# Run the Bazel test suite with Debian's bazel-bootstrap (Bazel 4.2.3) and no network.
#
# Why: Bazel's default workspace downloads rules_cc, rules_java, coverage tools and more. Debian's
# bazel-bootstrap-source package carries mock repositories that satisfy it. This script unpacks
# them into .cache/bazel-offline/ (apt-get download + dpkg -x: no root needed), writes
# .cache/bazel-offline/offline.bazelrc (config "offline", try-imported by .bazelrc) with their
# absolute paths, runs `bazel test --config=offline`, and stops the Bazel server afterwards.
#
# Usage: tools/bazel_offline.sh [--prepare-only] [bazel test arguments; target default //...]
# Installs bazel-bootstrap with apt-get when run as root and it is missing; otherwise says what to
# install. Exit status: Bazel's (0 all tests passed, 3 some failed), 1 for set-up problems.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/bazel-offline"
MOCKS="$CACHE/src/usr/src/bazel-bootstrap/mock_repos"
REPOS=(rules_cc rules_java platforms bazel_skylib rules_proto rules_pkg remote_java_tools_linux)

die() { echo "bazel_offline: $*" >&2; exit 1; }

ensure_bazel() {
    command -v bazel >/dev/null && return
    if [[ $(id -u) -ne 0 ]]; then
        die "bazel is not installed: run 'sudo apt-get install bazel-bootstrap' (Debian), then retry"
    fi
    echo "bazel_offline: installing bazel-bootstrap"
    apt-get install -y bazel-bootstrap || { apt-get update && apt-get install -y bazel-bootstrap; } \
        || die "could not install bazel-bootstrap with apt-get"
}

# The mock repositories must come from the same Debian version as the installed Bazel.
prepare_mocks() {
    local version
    version="$(dpkg-query -W -f='${Version}' bazel-bootstrap 2>/dev/null)" \
        || die "bazel is not Debian's bazel-bootstrap; the offline mock repositories fit only that"
    if [[ "$(cat "$CACHE/src/.version" 2>/dev/null)" != "$version" ]]; then
        echo "bazel_offline: unpacking bazel-bootstrap-source $version into $CACHE"
        mkdir -p "$CACHE/debs"
        rm -rf "$CACHE/src" "$CACHE"/debs/bazel-bootstrap-source_*.deb
        (cd "$CACHE/debs" && apt-get download "bazel-bootstrap-source=$version") \
            || die "apt-get download bazel-bootstrap-source=$version failed (package registry reachable?)"
        dpkg -x "$CACHE"/debs/bazel-bootstrap-source_*.deb "$CACHE/src"
        echo "$version" > "$CACHE/src/.version"
    fi
    local repo
    for repo in "${REPOS[@]}"; do
        [[ -d "$MOCKS/$repo" ]] || die "mock repository $repo missing from $MOCKS"
    done
    # Bazel also wants @remote_coverage_tools, which the source package does not mock.
    mkdir -p "$CACHE/mock/remote_coverage_tools"
    touch "$CACHE/mock/remote_coverage_tools/WORKSPACE"
    cat > "$CACHE/mock/remote_coverage_tools/BUILD" <<'BUILD'
filegroup(name = "coverage_report_generator", srcs = [], visibility = ["//visibility:public"])
filegroup(name = "lcov_merger", srcs = [], visibility = ["//visibility:public"])
BUILD
    {
        echo "# Written by tools/bazel_offline.sh for $ROOT; do not edit."
        for repo in "${REPOS[@]}"; do
            echo "common:offline --override_repository=$repo=$MOCKS/$repo"
        done
        echo "common:offline --override_repository=remote_coverage_tools=$CACHE/mock/remote_coverage_tools"
    } > "$CACHE/offline.bazelrc"
}

main() {
    local prepare_only=0
    if [[ "${1:-}" == "--prepare-only" ]]; then prepare_only=1; shift; fi
    ensure_bazel
    [[ -x "$ROOT/.venv/bin/python" ]] || die "no $ROOT/.venv: run 'make venv' first"
    prepare_mocks
    [[ $prepare_only -eq 1 ]] && { echo "bazel_offline: ready: bazel test --config=offline //..."; return; }
    local arg has_target=0
    for arg in "$@"; do [[ "$arg" == -* ]] || has_target=1; done
    [[ $has_target -eq 1 ]] || set -- "$@" //...
    cd "$ROOT"
    local rc=0
    bazel test --config=offline "$@" || rc=$?
    bazel shutdown || true
    return $rc
}

main "$@"
