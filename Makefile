# The two commands of the README. Both set up everything they need first.
.PHONY: setup demo test

setup:
	@bash scripts/setup.sh

demo: setup
	uv run --frozen packager demo

test: setup
	uv run --frozen pytest
