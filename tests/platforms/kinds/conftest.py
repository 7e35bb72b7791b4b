import pytest

from tests.fakes.base import Sleeper


@pytest.fixture
def sleeper():
    """Records the waits a client under test asked for (see tests.fakes.base.Sleeper)."""
    return Sleeper()
