"""pytest plugin (registered through the pytest11 entry point): device fixtures and options.

Kept import-light: pytest loads it in every session.
"""
