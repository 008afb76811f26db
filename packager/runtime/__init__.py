"""Running models: evaluation on the host's LiteRT, the isolated worker process every model is
first loaded in, the coverage of the accelerators the app offers (coverage.py and its rule
tables); the app's declared runtime target (targets), the cached environments holding those exact
versions (envs), and the proof that a model runs there (compat, runtime_worker)."""
