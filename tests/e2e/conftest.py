"""The end-to-end tests need real containers, so they run only on kind."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Skipped at collection, before any fixture runs: without --cluster=kind these
    # tests must not start the local control plane only to skip.
    if config.getoption("--cluster") == "kind":
        return
    skip = pytest.mark.skip(
        reason="end-to-end tests run on kind: `make e2e` (needs Docker and kind).")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)
