"""Running models: evaluation on the host's LiteRT, the isolated worker process every model is first
loaded in, and the coverage of the accelerators the app offers (coverage.py and its rule tables)."""
