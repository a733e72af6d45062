#!/usr/bin/env bash
# One entry point for newcomers and CI:
#   bash scripts/run.sh demo   set everything up, then run the daemon against a simulated camera
#   bash scripts/run.sh test   set everything up, then lint, type-check and run every test
set -Eeuo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
case "${1:-}" in
    demo)
        bash scripts/setup.sh
        exec bash scripts/demo.sh ;;
    test)
        bash scripts/setup.sh
        printf '\n==> ruff\n'
        .venv/bin/ruff check .
        printf '\n==> mypy\n'
        .venv/bin/mypy
        printf '\n==> pytest\n'
        exec .venv/bin/python -m pytest -q -p no:cacheprovider "${@:2}" ;;
    *)
        printf 'usage: bash scripts/run.sh demo|test [pytest args]\n' >&2
        exit 2 ;;
esac
