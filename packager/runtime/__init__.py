"""What runs the models: coverage of the accelerators the app offers (coverage.py and its rule tables)."""
