#!/usr/bin/env bash
# One-shot, idempotent set-up for a fresh machine: system packages, the Kotlin compiler,
# and the locked Python environment. Called by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- system packages: the real adb client (protocol-fidelity tests), Chromium (report test),
# Gson and JUnit 4 jars (android_app/core is compiled and unit-tested against /usr/share/java) ---
APT_PACKAGES=(adb chromium libgoogle-gson-java junit4)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Maven fetches the app's jars from Maven Central (below); any mvn on PATH will do.
command -v mvn >/dev/null || missing+=(maven)
if ((${#missing[@]})); then
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "setup: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 2; }
        SUDO="sudo -n"
    fi
    say "apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Kotlin compiler (npm package kotlin-compiler), pinned by tools/package-lock.json ---
if [[ ! -x tools/node_modules/kotlin-compiler/bin/kotlinc ]]; then
    say "npm ci (kotlin-compiler)"
    npm ci --prefix tools --no-audit --no-fund --loglevel=error >/dev/null
fi

# --- Python environment from uv.lock ---
if ! command -v uv >/dev/null; then
    say "pip install uv"
    python3 -m pip install --quiet --disable-pip-version-check uv
fi
# --compile-bytecode: TensorFlow's 3,000 modules are compiled once here instead of at every start
# (where PYTHONDONTWRITEBYTECODE is set, or site-packages is read-only, Python never caches them:
# `import tensorflow` then costs 10.7 s of CPU instead of 4.0 s here)
say "uv sync --frozen --compile-bytecode"
uv sync --frozen --compile-bytecode --quiet

# --- the sample app's real jars (tests/android/jars.py): the Android framework as Robolectric's
# android-all at minSdk and targetSdk, every app dependency Maven Central serves at its pinned
# version, Robolectric 4.17. Maven fetches them into ~/.m2 with --strict-checksums (a .sha1 that
# does not match fails); a rerun whose resolved list and jars are present starts no Maven ---
uv run --frozen python -m tests.android.jars

# --- the app's pinned runtimes (android_app/gradle/libs.versions.toml): one cached environment each
# (~/.cache/packager/runtimes/<kind>-<version>, uv venv + uv pip install tensorflow-cpu==X /
# ai-edge-litert==Y), made once here so no build or test waits for them (docs/RUNTIMES.md) ---
say "packager runtimes setup"
uv run --frozen packager runtimes setup

# --- the device kit's wheels for a device-farm package (Linux x86_64 / CPython 3.11; pip download from
# PyPI into ~/.cache/packager/farm-wheelhouse/<hash>, once per requirement set: docs/DEVICE_FARMS.md) ---
say "device-farm wheelhouse"
uv run --frozen python -c "from packager.device.farm import aws, kit_wheel; aws.dependency_wheels(kit_wheel.requirements())"
