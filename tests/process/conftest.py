import pytest

from heedful.process.tasks import build_task


@pytest.fixture(scope="session")
def small_tep():
    """Normal operation and two clear faults, short windows: quick to train on."""
    return build_task("tep_faults", window=10, faults=(0, 1, 2))
