#!/usr/bin/env bash
# What hermes needs from the operating system, beyond Python packages: bubblewrap (`bwrap`),
# which sandboxes the terminal and execute_code tools. As root on Debian/Ubuntu this installs
# it; otherwise it says what is missing and how to install it, and exits 0 (the tools then
# refuse to run until it is there, or until a profile sets tools.sandbox.mode: off).
set -euo pipefail
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null; }
    exit 0
fi
echo "missing: ${missing[*]} (the sandbox of the terminal and execute_code tools)" >&2
echo "  install it as root: apt-get install -y ${missing[*]}   (Fedora: dnf install bubblewrap)" >&2
