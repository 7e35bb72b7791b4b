import pytest

from core.retry import RetryPolicy
from scraping.fetching import Fetcher, FetchPolicy
from scraping.job_options import JobSettings


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def fetcher(sleeps):
    """A Fetcher for local fakes: no politeness wait, two attempts, delays recorded not slept."""
    policy = FetchPolicy(
        timeout=2.0, politeness_delay=0.0, retry=RetryPolicy(attempts=2, base_delay=0.5, jitter=0.0)
    )
    with Fetcher(policy=policy, sleep=sleeps.append) as fetcher:
        yield fetcher


def job(**values) -> JobSettings:
    return JobSettings(**values)
