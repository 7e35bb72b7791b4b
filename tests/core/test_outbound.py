import threading
import time

import pytest

from core.outbound import HostThrottle, host_of
from platforms.kinds.mastodon.client import MastodonApi
from tests.fakes.mastodon import FakeMastodon


class FakeClock:
    """A clock that advances only when the throttle sleeps, so waits are exact."""

    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


def throttle(rate: float = 2.0) -> tuple[HostThrottle, FakeClock]:
    clock = FakeClock()
    return HostThrottle(rate=rate, clock=clock, sleep=clock.sleep), clock


def test_requests_to_one_host_take_turns_at_the_rate():
    limiter, clock = throttle(rate=2.0)
    waits = [limiter.wait("social.example") for _ in range(3)]
    assert waits == [0, 0.5, 1.0]
    assert clock.slept == [0.5, 1.0]


def test_hosts_are_paced_independently():
    limiter, _ = throttle(rate=1.0)
    assert limiter.wait("a.example") == 0
    assert limiter.wait("b.example") == 0
    assert limiter.wait("a.example") == 1.0


def test_a_pause_holds_every_caller_of_that_host():
    limiter, _ = throttle(rate=10.0)
    limiter.pause("social.example", 7)
    assert limiter.wait("social.example") == 7
    assert limiter.wait("other.example") == 0


def test_a_failure_with_retry_after_pauses_the_host():
    limiter, _ = throttle(rate=10.0)

    class RateLimited(Exception):
        retry_after = 4.0

    def refused():
        raise RateLimited

    with pytest.raises(RateLimited):
        limiter.call("https://social.example/api", refused, retry_after_of=lambda exc: exc.retry_after)
    assert limiter.wait("social.example") == pytest.approx(4.0)


def test_host_of_ignores_paths_and_case():
    assert host_of("https://Social.Example/api/v1/x") == "social.example"
    assert host_of("http://127.0.0.1:8080/media/1") == "127.0.0.1:8080"
    assert host_of("social.example") == "social.example"


@pytest.mark.timing
def test_threads_share_the_pace():
    limiter = HostThrottle(rate=50.0)
    started = time.monotonic()
    workers = [threading.Thread(target=lambda: [limiter.wait("h") for _ in range(5)]) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # 20 requests at 50 a second: the last may start only 19 intervals after the first.
    assert time.monotonic() - started >= 19 / 50 - 0.01


def test_a_429_seen_by_one_client_pauses_another_client_of_the_same_instance(httpserver):
    fake = FakeMastodon(httpserver)
    limiter, clock = throttle(rate=1000.0)
    first = MastodonApi(
        instance_url=fake.base_url, access_token=fake.token, throttle=limiter, sleep=lambda s: None
    )
    second = MastodonApi(
        instance_url=fake.base_url, access_token=fake.token, throttle=limiter, sleep=lambda s: None
    )
    fake.rate_limit_next("/api/v1/accounts/verify_credentials", retry_after="7")
    first.verify()  # 429, then retried and answered
    clock.slept.clear()
    second.verify()
    assert clock.slept and clock.slept[0] == pytest.approx(7, abs=0.01)
    first.close()
    second.close()


def test_a_pause_is_capped_so_no_worker_sleeps_for_minutes():
    clock = FakeClock()
    limiter = HostThrottle(rate=1000, max_pause=30, clock=clock, sleep=clock.sleep)
    limiter.pause("social.example", 600)
    assert limiter.wait("social.example") == pytest.approx(30)
