"""The retry policy: backoff, jitter, Retry-After, idempotency and the statistics a run records."""

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from core.retry import (
    RetryPolicy,
    RetryStats,
    call_with_retries,
    failure_reason,
    is_ambiguous,
    parse_retry_after,
)


class Transient(Exception):
    def __init__(self, status=503, *, retry_after=None, ambiguous=True):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class Permanent(Exception):
    status = 401


def is_transient(exc):
    return isinstance(exc, Transient)


class Script:
    """A function that raises or returns the given outcomes in turn, counting its calls."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class Sleeper:
    def __init__(self):
        self.waits = []

    def __call__(self, seconds):
        self.waits.append(seconds)


def run(fn, *, policy=None, **kwargs):
    sleeper = kwargs.pop("sleep", None) or Sleeper()
    result = call_with_retries(
        fn,
        policy=policy or RetryPolicy(),
        is_transient=is_transient,
        retry_after_of=lambda exc: getattr(exc, "retry_after", None),
        sleep=sleeper,
        rand=lambda: 0.5,
        **kwargs,
    )
    return result, sleeper


# The policy -----------------------------------------------------------------------------------


def test_defaults_are_the_originals_policy():
    assert RetryPolicy() == RetryPolicy(attempts=3, base_delay=1.0, factor=2.0, max_delay=30.0, jitter=0.1)


def test_delays_double_from_the_base_and_stop_at_the_cap():
    policy = RetryPolicy(attempts=10)
    delays = [policy.delay(retry, rand=lambda: 0.5) for retry in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@pytest.mark.parametrize(("rand", "expected"), [(0.0, 0.9 * 4), (1.0, 1.1 * 4), (0.25, 0.95 * 4)])
def test_jitter_spreads_by_ten_percent(rand, expected):
    assert RetryPolicy().delay(3, rand=lambda: rand) == pytest.approx(expected)


def test_jitter_never_pushes_past_the_cap():
    assert RetryPolicy().delay(9, rand=lambda: 1.0) == 30.0


def test_real_jitter_stays_in_bounds():
    policy = RetryPolicy()
    for _ in range(200):
        assert 1.8 <= policy.delay(2) <= 2.2


@pytest.mark.parametrize(("retry_after", "expected"), [(7, 7.0), (0, 0.0), (-3, 0.0), (300, 30.0)])
def test_retry_after_wins_over_backoff_but_is_capped(retry_after, expected):
    assert RetryPolicy().delay(1, retry_after=retry_after) == expected


@pytest.mark.parametrize(
    ("retry", "expected"),
    [(0, 1.0), (1, 1.0), (2, 2.0), (5, 16.0), (6, 30.0), (50, 30.0)],
)
def test_each_retrys_backoff_from_one_second_to_the_thirty_second_cap(retry, expected):
    # ORIGINALS: 1 s base, x2, 30 s cap (the 6th retry's 32 s is capped); retry 0 counts as the first.
    assert RetryPolicy(attempts=100).delay(retry, rand=lambda: 0.5) == expected


@pytest.mark.parametrize(("rand", "expected"), [(0.0, 27.0), (0.5, 30.0), (1.0, 30.0)])
def test_jitter_at_the_cap_only_shortens(rand, expected):
    assert RetryPolicy().delay(6, rand=lambda: rand) == expected


@pytest.mark.parametrize(("rand", "expected"), [(0.0, 7.2), (0.999, 8.7984), (0.5, 8.0)])
def test_jitter_bounds_around_eight_seconds(rand, expected):
    # 8 s +/- 10 %: 7.2 s to 8.8 s.
    assert RetryPolicy().delay(4, rand=lambda: rand) == pytest.approx(expected)


def test_without_jitter_the_backoff_is_exact():
    policy = RetryPolicy(jitter=0.0)
    assert [policy.delay(retry, rand=lambda: 1.0) for retry in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_a_factor_of_one_waits_the_base_every_time():
    policy = RetryPolicy(base_delay=2.5, factor=1.0, jitter=0.0)
    assert [policy.delay(retry) for retry in (1, 2, 5)] == [2.5, 2.5, 2.5]


def test_a_smaller_cap_and_base_are_honoured():
    policy = RetryPolicy(base_delay=0.5, factor=3.0, max_delay=10.0, jitter=0.0)
    assert [policy.delay(retry) for retry in (1, 2, 3, 4)] == [0.5, 1.5, 4.5, 10.0]


def test_a_random_source_out_of_range_never_gives_a_negative_or_capped_over_delay():
    # The clamps hold whatever `rand` returns (it is injectable).
    policy = RetryPolicy(jitter=0.5)
    assert policy.delay(1, rand=lambda: -10.0) == 0.0
    assert policy.delay(5, rand=lambda: 10.0) == 30.0


@pytest.mark.parametrize(("retry_after", "expected"), [(30, 30.0), (30.5, 30.0), (29.9, 29.9), ("12", 12.0)])
def test_retry_after_at_the_cap(retry_after, expected):
    assert RetryPolicy().delay(1, retry_after=retry_after) == expected


def test_retry_after_is_not_jittered_and_ignores_the_retry_number():
    assert RetryPolicy().delay(5, retry_after=7, rand=lambda: 1.0) == 7.0
    assert RetryPolicy(max_delay=5.0).delay(1, retry_after=7) == 5.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 1},
        {"base_delay": 0.0},
        {"max_delay": 0.0},
        {"factor": 1.0},
        {"jitter": 0.0},
        {"jitter": 0.99},
    ],
)
def test_edge_policies_are_accepted(kwargs):
    RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "at least one attempt"),
        ({"base_delay": -0.1}, "cannot be negative"),
        ({"max_delay": -0.1}, "cannot be negative"),
        ({"factor": 0.99}, "at least 1"),
        ({"jitter": 1.0}, "between 0 and 1"),
        ({"jitter": -0.01}, "between 0 and 1"),
    ],
)
def test_nonsense_policies_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 0},
        {"base_delay": -1},
        {"max_delay": -1},
        {"factor": 0.5},
        {"jitter": 1.0},
        {"jitter": -0.1},
    ],
)
def test_nonsense_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


# Retry-After ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), (" 3 ", 3.0), ("1.5", 1.5), ("-5", 0.0), ("0", 0.0), (4, 4.0)],
)
def test_retry_after_in_seconds(header, expected):
    assert parse_retry_after(header) == expected


def test_retry_after_as_http_date():
    now = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert header.endswith("GMT")
    assert parse_retry_after(header, now=now) == 90.0


def test_retry_after_date_in_the_past_means_now():
    now = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "soon",
        "nan",
        "inf",
        "-inf",
        "1e400",
        "Mon, 99 Foo 2026",
        "Fri, 32 Nov 2026 12:01:30 GMT",
        "Fri, 20 Nov 2026 25:01:30 GMT",
        "Fri, 20 Nov 2026 12:01:30 +9999",
        # Numbers too big for the date's fields (a broken or hostile server).
        "Fri, 20 Nov 99999999999 12:01:30 GMT",
        "Fri, 99999999999 Nov 2026 12:01:30 GMT",
        "Fri, 20 Nov 2026 99999999999:01:30 GMT",
    ],
)
def test_unreadable_retry_after_is_none(header):
    assert parse_retry_after(header) is None


# 90 s after NOW, in each form a server may write it: RFC 7231's IMF-fixdate ("GMT"), RFC 5322's
# numeric zones ("+0000"; "-0000" means "UTC, local zone unknown"), obsolete "UT"/"UTC", RFC 850
# and asctime (no zone: HTTP dates are always GMT), and another zone's offset.
NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "header",
    [
        "Fri, 20 Nov 2026 12:01:30 GMT",
        "Fri, 20 Nov 2026 12:01:30 +0000",
        "Fri, 20 Nov 2026 12:01:30 -0000",
        "Fri, 20 Nov 2026 12:01:30 UT",
        "Fri, 20 Nov 2026 12:01:30 UTC",
        "Friday, 20-Nov-26 12:01:30 GMT",
        "Fri Nov 20 12:01:30 2026",
        "Fri, 20 Nov 2026 13:01:30 +0100",
        "Fri, 20 Nov 2026 07:01:30 -0500",
        "  Fri, 20 Nov 2026 12:01:30 GMT\t",
    ],
)
def test_retry_after_dates_in_every_zone_form(header):
    assert parse_retry_after(header, now=NOW) == 90.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Fri, 20 Nov 2026 12:00:00 GMT", 0.0),  # now
        ("Fri, 20 Nov 2026 12:00:01 GMT", 1.0),
        ("Fri, 20 Nov 2026 11:59:59 GMT", 0.0),  # a second ago
        ("Fri, 20 Nov 2026 11:59:59 -0000", 0.0),
        ("Fri, 20 Nov 2026 12:00:00 +0100", 0.0),  # 11:00 UTC
        ("Sat, 21 Nov 2026 12:00:00 GMT", 86400.0),
    ],
)
def test_retry_after_dates_around_now(header, expected):
    assert parse_retry_after(header, now=NOW) == expected


def test_a_retry_after_date_is_measured_from_the_real_clock_by_default():
    header = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    assert 3590.0 <= parse_retry_after(header) <= 3600.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("\t 5 \r\n", 5.0),
        ("-0", 0.0),
        ("-0.5", 0.0),
        ("0.001", 0.001),
        ("86400", 86400.0),
        ("1e9", 1e9),  # the caller's policy caps what it waits, not the parser
        ("99999999999999999999", 1e20),
        (2.5, 2.5),
        (-1, 0.0),
    ],
)
def test_retry_after_seconds_edges(header, expected):
    assert parse_retry_after(header) == expected


def test_a_huge_retry_after_waits_the_cap():
    assert RetryPolicy().delay(1, retry_after=parse_retry_after("99999999999999999999")) == 30.0


# call_with_retries ----------------------------------------------------------------------------


def test_first_try_success_costs_nothing():
    (result, stats), sleeper = run(Script("ok"))
    assert result == "ok"
    assert stats == RetryStats(attempts=1)
    assert sleeper.waits == []


def test_transient_failures_are_retried_with_backoff():
    fn = Script(Transient(503), Transient(502), "ok")
    (result, stats), sleeper = run(fn)
    assert result == "ok"
    assert fn.calls == 3
    assert sleeper.waits == [1.0, 2.0]
    assert stats.attempts == 3
    assert stats.retries == 2
    assert stats.successes_after_retry == 1
    assert stats.failures == 0
    assert stats.total_wait_seconds == 3.0
    assert stats.reasons == {"502": 1, "503": 1}


def test_retry_after_is_honoured():
    (result, stats), sleeper = run(Script(Transient(429, retry_after=12.0), "ok"))
    assert result == "ok"
    assert sleeper.waits == [12.0]
    assert stats.total_wait_seconds == 12.0


def test_retry_after_beyond_the_cap_waits_the_cap():
    _, sleeper = run(Script(Transient(429, retry_after=3600.0), "ok"))
    assert sleeper.waits == [30.0]


def test_exhausted_attempts_raise_the_last_error_with_stats():
    fn = Script(Transient(500), Transient(502), Transient(503))
    sleeper = Sleeper()
    with pytest.raises(Transient) as caught:
        run(fn, sleep=sleeper)
    assert caught.value.status == 503
    assert fn.calls == 3
    assert sleeper.waits == [1.0, 2.0]
    stats = caught.value.retry_stats
    assert (stats.attempts, stats.retries, stats.successes_after_retry, stats.failures) == (3, 2, 0, 1)
    assert stats.total_wait_seconds == 3.0


def test_permanent_errors_are_not_retried_and_are_not_retry_failures():
    fn = Script(Permanent("no"))
    with pytest.raises(Permanent) as caught:
        run(fn)
    assert fn.calls == 1
    assert caught.value.retry_stats == RetryStats(attempts=1)


def test_a_permanent_error_after_a_retry_is_a_retry_failure():
    fn = Script(Transient(503), Permanent("no"))
    with pytest.raises(Permanent) as caught:
        run(fn)
    assert caught.value.retry_stats.failures == 1
    assert caught.value.retry_stats.retries == 1


def test_single_attempt_policy_never_sleeps():
    fn = Script(Transient(503))
    sleeper = Sleeper()
    with pytest.raises(Transient) as caught:
        run(fn, policy=RetryPolicy(attempts=1), sleep=sleeper)
    assert sleeper.waits == []
    assert caught.value.retry_stats.failures == 1


def test_non_idempotent_call_is_not_retried_after_an_ambiguous_failure():
    fn = Script(Transient(504, ambiguous=True), "published twice")
    with pytest.raises(Transient) as caught:
        run(fn, idempotent=False)
    assert fn.calls == 1
    assert caught.value.retry_stats.failures == 1


def test_non_idempotent_call_is_retried_when_the_request_surely_did_not_land():
    fn = Script(Transient(429, ambiguous=False, retry_after=2.0), "ok")
    (result, _), sleeper = run(fn, idempotent=False)
    assert result == "ok"
    assert sleeper.waits == [2.0]


def test_unknown_failures_count_as_ambiguous():
    class Opaque(Exception):
        pass

    assert is_ambiguous(Opaque())
    fn = Script(Opaque(), "ok")
    with pytest.raises(Opaque):
        call_with_retries(
            fn, policy=RetryPolicy(), is_transient=lambda exc: True, sleep=Sleeper(), idempotent=False
        )
    assert fn.calls == 1


def test_zero_wait_does_not_call_sleep():
    (result, stats), sleeper = run(Script(Transient(503, retry_after=0), "ok"))
    assert result == "ok"
    assert sleeper.waits == []
    assert stats.retries == 1


def test_failure_reason_prefers_the_label_then_the_status_then_the_class():
    labelled = Transient(503)
    labelled.retry_reason = "timeout"
    assert failure_reason(labelled) == "timeout"
    assert failure_reason(Transient(429)) == "429"
    assert failure_reason(ValueError()) == "ValueError"


def test_stats_add_up_for_a_run_and_fill_the_run_columns():
    total = RetryStats()
    total.add(
        RetryStats(attempts=3, retries=2, successes_after_retry=1, total_wait_seconds=3.0, reasons={"503": 2})
    )
    total.add(
        RetryStats(attempts=3, retries=2, failures=1, total_wait_seconds=31.4, reasons={"503": 1, "429": 2})
    )
    total.add(RetryStats(attempts=1))
    assert total.as_dict() == {
        "attempts": 7,
        "retries": 4,
        "successes_after_retry": 1,
        "failures": 1,
        "total_wait_seconds": 34.4,
        "reasons": {"429": 2, "503": 3},
    }
    assert total.as_run_fields() == {
        "retry_attempts": 4,
        "retry_successes": 1,
        "retry_failures": 1,
        "retry_total_time": 34,
        "retry_stats": total.as_dict(),
    }


def test_success_on_the_last_allowed_attempt():
    fn = Script(Transient(503), Transient(503), "ok")
    (result, stats), _ = run(fn, policy=RetryPolicy(attempts=3))
    assert result == "ok"
    assert (stats.attempts, stats.retries, stats.successes_after_retry, stats.failures) == (3, 2, 1, 0)


@pytest.mark.parametrize(("attempts", "waits"), [(1, []), (2, [1.0]), (4, [1.0, 2.0, 4.0])])
def test_exactly_the_policys_attempts_are_made(attempts, waits):
    fn = Script(*[Transient(503) for _ in range(attempts)], "never reached")
    sleeper = Sleeper()
    with pytest.raises(Transient) as caught:
        run(fn, policy=RetryPolicy(attempts=attempts), sleep=sleeper)
    assert fn.calls == attempts
    assert sleeper.waits == waits
    stats = caught.value.retry_stats
    assert (stats.attempts, stats.retries, stats.failures) == (attempts, attempts - 1, 1)
    assert stats.reasons == {"503": attempts}
    assert stats.total_wait_seconds == sum(waits)


def test_the_random_source_reaches_the_backoff():
    fn = Script(Transient(503), Transient(503), "ok")
    sleeper = Sleeper()
    call_with_retries(fn, policy=RetryPolicy(), is_transient=is_transient, sleep=sleeper, rand=lambda: 0.0)
    assert sleeper.waits == pytest.approx([0.9, 1.8])


def test_without_a_retry_after_reader_the_backoff_is_used():
    fn = Script(Transient(429, retry_after=12.0), "ok")
    sleeper = Sleeper()
    _, stats = call_with_retries(fn, policy=RetryPolicy(jitter=0.0), is_transient=is_transient, sleep=sleeper)
    assert sleeper.waits == [1.0]
    assert stats.total_wait_seconds == 1.0


def test_calls_are_idempotent_unless_said_otherwise():
    fn = Script(Transient(504, ambiguous=True), "ok")
    (result, stats), _ = run(fn)
    assert result == "ok"
    assert stats.retries == 1


def test_the_caller_may_judge_ambiguity():
    fn = Script(Transient(504, ambiguous=True), "ok")
    (result, _), _ = run(fn, idempotent=False, ambiguous=lambda exc: False)
    assert result == "ok"
    fn = Script(Transient(429, ambiguous=False), "ok")
    with pytest.raises(Transient):
        run(fn, idempotent=False, ambiguous=lambda exc: True)
    assert fn.calls == 1


def test_a_permanent_error_is_not_counted_as_a_reason():
    fn = Script(Transient(503), Permanent("no"))
    with pytest.raises(Permanent) as caught:
        run(fn)
    assert caught.value.retry_stats.reasons == {"503": 1}
    assert caught.value.retry_stats.attempts == 2


def test_an_exception_that_refuses_attributes_still_propagates():
    class Sealed(Exception):
        def __setattr__(self, name, value):
            raise AttributeError(name)

    with pytest.raises(Sealed) as caught:
        run(Script(Sealed()), policy=RetryPolicy(attempts=1))
    assert not hasattr(caught.value, "retry_stats")


def test_each_retry_is_logged_with_its_reason_and_wait(caplog):
    caplog.set_level(logging.INFO, logger="core.retry")
    run(Script(Transient(503), Transient(429, retry_after=4.25), "ok"))
    assert [record.getMessage() for record in caplog.records] == [
        "Attempt 1 of 3 failed (503); retrying in 1.00 s",
        "Attempt 2 of 3 failed (429); retrying in 4.25 s",
    ]


def test_a_zero_wait_is_not_added_to_the_time_spent():
    fn = Script(Transient(503, retry_after=0), Transient(503, retry_after=2.5), "ok")
    (_, stats), sleeper = run(fn)
    assert sleeper.waits == [2.5]
    assert stats.total_wait_seconds == 2.5
    assert stats.retries == 2


# Ambiguity and labels -------------------------------------------------------------------------


@pytest.mark.parametrize(("ambiguous", "expected"), [(True, True), (False, False), (None, False), (1, True)])
def test_an_exception_says_whether_it_is_ambiguous(ambiguous, expected):
    assert is_ambiguous(Transient(ambiguous=ambiguous)) is expected


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"retry_reason": "", "status": 502}, "502"),
        ({"retry_reason": None, "status": 0}, "0"),
        ({"status": "503"}, "Labelled"),  # not an int: not an HTTP status
        ({"status": None}, "Labelled"),
        ({"retry_reason": 408}, "408"),
    ],
)
def test_failure_reason_falls_back_in_order(attributes, reason):
    class Labelled(Exception):
        pass

    exc = Labelled()
    for name, value in attributes.items():
        setattr(exc, name, value)
    assert failure_reason(exc) == reason


# Statistics -----------------------------------------------------------------------------------


def test_adding_returns_the_total_and_leaves_the_other_alone():
    total = RetryStats(reasons={"503": 1})
    other = RetryStats(
        attempts=2, retries=1, successes_after_retry=1, total_wait_seconds=1.5, reasons={"503": 2}
    )
    assert total.add(other) is total
    assert total == RetryStats(
        attempts=2, retries=1, successes_after_retry=1, total_wait_seconds=1.5, reasons={"503": 3}
    )
    assert other.reasons == {"503": 2}


def test_the_recorded_numbers_are_rounded():
    stats = RetryStats(retries=1, total_wait_seconds=2.6666)
    assert stats.as_dict()["total_wait_seconds"] == 2.667
    assert stats.as_run_fields()["retry_total_time"] == 3
    stats.reasons["503"] = 1
    assert stats.as_dict()["reasons"] is not stats.reasons


def test_a_new_stats_is_empty():
    assert RetryStats().as_dict() == {
        "attempts": 0,
        "retries": 0,
        "successes_after_retry": 0,
        "failures": 0,
        "total_wait_seconds": 0,
        "reasons": {},
    }
    assert RetryStats().reasons is not RetryStats().reasons
