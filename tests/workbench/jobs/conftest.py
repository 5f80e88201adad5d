import pytest

from workbench.jobs import registry


@pytest.fixture
def job():
    """A queued job of a kind that needs no run."""
    return registry.create("prepare", "Prepare tiny", args={"name": "tiny"})
