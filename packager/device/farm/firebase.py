"""Firebase Test Lab game loops (filled in below)."""
