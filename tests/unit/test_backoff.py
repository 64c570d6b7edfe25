import pytest

from leadmagnet.common.consumer import MAX_VISIBILITY_SECONDS, backoff_delay


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6])
def test_backoff_is_exponential_with_equal_jitter(count: int) -> None:
    ceiling = min(900, 2 * 2 ** (count - 1))
    low = backoff_delay(count, 2, 900, rand=lambda: 0.0)
    high = backoff_delay(count, 2, 900, rand=lambda: 0.999999)
    assert low == max(1, round(ceiling / 2))
    assert high == round(ceiling)
    assert low <= high


def test_backoff_is_capped() -> None:
    assert backoff_delay(30, 2, 900, rand=lambda: 0.999999) == 900
    assert backoff_delay(30, 2, 900, rand=lambda: 0.0) == 450


def test_retry_after_is_a_floor_not_a_ceiling() -> None:
    assert backoff_delay(1, 2, 900, retry_after=60, rand=lambda: 0.5) == 60
    assert backoff_delay(8, 2, 900, retry_after=1, rand=lambda: 0.999999) == 256


def test_never_beyond_the_sqs_visibility_limit_and_never_zero() -> None:
    assert backoff_delay(1, 0.01, 1, rand=lambda: 0.0) == 1
    assert backoff_delay(2, 2, 900, retry_after=10**9) == MAX_VISIBILITY_SECONDS


def test_jitter_spreads_retries() -> None:
    delays = {backoff_delay(6, 2, 900) for _ in range(200)}
    assert len(delays) > 10
    assert all(32 <= d <= 64 for d in delays)
