"""The bundle (contract 1): written atomically, read back, installed into an Android app."""
