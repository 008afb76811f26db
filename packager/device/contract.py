"""Constants of contract 2 (docs/CONTRACTS.md) that the harness, the virtual handset and the Kotlin app share.

The app's headless benchmark entry point is an Activity:

    am start -W -n dev.packager.demo/.BenchmarkActivity --esa requests <abs path>[,<abs path>...]

Each path names a request JSON (packager/schemas/bench-request.schema.json) inside the app's files dir.
The app runs the requests in order and writes each result JSON (bench-result.schema.json) to the
request's result_path, atomically (temporary name, then rename), then finishes. Several requests
per launch save an app start per run. Logcat lines use LOG_TAG.

Files reach the app like this (Android 10+ apps cannot read /data/local/tmp directly, but
`run-as` can copy from it for a debuggable app): push to STAGING_DIR, then
`run-as <package> cp STAGING_DIR/... files/packager/...`; results come back with
`run-as <package> cat files/packager/...`.
"""

APP_PACKAGE = "dev.packager.demo"
BENCHMARK_ACTIVITY = f"{APP_PACKAGE}/.BenchmarkActivity"
EXTRA_REQUESTS = "requests"
APP_DATA_DIR = f"/data/user/0/{APP_PACKAGE}"
APP_WORK_DIR = f"{APP_DATA_DIR}/files/packager"  # run-as's working directory is APP_DATA_DIR
STAGING_DIR = "/data/local/tmp/packager"
LOG_TAG = "PackagerBench"
ACCELERATORS = ("cpu", "xnnpack", "gpu", "nnapi", "npu")
