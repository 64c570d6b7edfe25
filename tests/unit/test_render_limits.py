"""A tenant template is code in a shared renderer: its time, memory and output are bounded and
an overrun fails that job with ``render_limit`` while other jobs keep rendering."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import date

import pytest

from leadmagnet.common.errors import PermanentError
from leadmagnet.common.rendering import (
    MAX_REPORT_BYTES,
    RenderLimitError,
    compiled_template,
    render_document,
)
from leadmagnet.renderer.pool import RenderLimits, RenderPool

TODAY = date(2026, 1, 2)
BENIGN = "<h1>Hi {{ name }}</h1><main>{{ REPORT_CONTENT }}</main>"
# 10^10 loop iterations: only a CPU limit ends this.
SPIN = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 10**9 }}",
        "{{ 10**9 * 'x' }}",
        "{{ [1, 2] * 10**9 }}",
        "{{ (range(100000)|list * 100)|join(',') }}",
        "{{ 10 ** 10000000 }}",
    ],
)
def test_expressions_that_build_huge_values_fail_at_once(template: str) -> None:
    with pytest.raises(RenderLimitError, match="template expression would build") as info:
        render_document(template, "r", {}, TODAY)
    assert info.value.code == "render_limit"


def test_output_is_capped_while_streaming() -> None:
    flood = "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}"  # 10 MB
    with pytest.raises(RenderLimitError, match="rendered page exceeds 1 MB"):
        render_document(flood, "r", {}, TODAY, max_output_bytes=1_000_000)
    # the same cap leaves a normal page alone
    assert "Hi Ada" in render_document(
        BENIGN, "# r", {"name": "Ada"}, TODAY, max_output_bytes=1_000_000
    )


def test_output_cap_counts_utf8_bytes_not_characters() -> None:
    wide = "{% for i in range(1000) %}{{ '\u20ac' * 400 }}{% endfor %}"  # 400k chars, 1.2 MB
    with pytest.raises(RenderLimitError):
        render_document(wide, "r", {}, TODAY, max_output_bytes=1_000_000)


def test_unbounded_recursion_fails_the_job() -> None:
    with pytest.raises(RenderLimitError, match="recursion"):
        render_document("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "r", {}, TODAY)


def test_oversized_reports_fail_the_job() -> None:
    with pytest.raises(RenderLimitError, match="report exceeds"):
        render_document(BENIGN, "x" * (MAX_REPORT_BYTES + 1), {}, TODAY)


def test_compiled_templates_are_cached_by_content() -> None:
    first = compiled_template(BENIGN)
    assert compiled_template(BENIGN) is first
    assert compiled_template(BENIGN + " ") is not first


@pytest.fixture
async def pool() -> AsyncIterator[RenderPool]:
    limits = RenderLimits(
        cpu_seconds=1, max_output_bytes=1_000_000, max_memory_bytes=512 * 1024 * 1024
    )
    pool = RenderPool(workers=2, limits=limits)
    try:
        yield pool
    finally:
        pool.close()


async def test_a_spinning_template_fails_while_another_job_completes(pool: RenderPool) -> None:
    hostile = asyncio.create_task(pool.render(SPIN, "r", {}, TODAY))
    benign = asyncio.create_task(pool.render(BENIGN, "**fine**", {"name": "Ada"}, TODAY))
    done, _ = await asyncio.wait({hostile, benign}, return_when=asyncio.FIRST_COMPLETED)
    assert benign in done  # the other tenant's job did not wait for the hostile one
    assert "<h1>Hi Ada</h1>" in benign.result()
    with pytest.raises(RenderLimitError, match="template rendering exceeded") as info:
        await hostile
    assert info.value.code == "render_limit"
    # the killed worker was replaced: the pool still serves both slots
    pages = await asyncio.gather(*(pool.render(BENIGN, "r", {"name": n}, TODAY) for n in "ab"))
    assert ["<h1>Hi a</h1>" in pages[0], "<h1>Hi b</h1>" in pages[1]] == [True, True]


@pytest.mark.parametrize(
    "template",
    [
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{% set l = range(100000)|list %}{{ l|join(l|join(',')) }}",
    ],
)
async def test_memory_bombs_hit_the_memory_limit(pool: RenderPool, template: str) -> None:
    with pytest.raises(RenderLimitError, match="memory limit"):
        await pool.render(template, "r", {}, TODAY)
    assert "Hi Ada" in await pool.render(BENIGN, "r", {"name": "Ada"}, TODAY)


async def test_pool_applies_the_output_cap_and_passes_other_errors_through(
    pool: RenderPool,
) -> None:
    flood = "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}"
    with pytest.raises(RenderLimitError, match="rendered page exceeds 1 MB"):
        await pool.render(flood, "r", {}, TODAY)
    with pytest.raises(PermanentError) as info:
        await pool.render("{{ ''.__class__.__mro__ }}", "r", {}, TODAY)
    assert info.value.code == "unsafe_template"


async def test_a_pathological_report_is_bounded_by_the_same_cpu_limit(pool: RenderPool) -> None:
    # python-markdown's link parser is super-linear on unbalanced brackets (100 KB: minutes)
    report = "[" * 50_000 + "a" + "](x)" * 50_000
    with pytest.raises(RenderLimitError, match="template rendering exceeded"):
        await pool.render(BENIGN, report, {}, TODAY)


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for a background change (a worker exiting): no assumption about how long it takes
    on a loaded machine, only a generous bound so a regression fails instead of hanging."""
    for _ in range(1200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the pool never got there")


async def test_workers_start_on_demand_up_to_the_pool_size(pool: RenderPool) -> None:
    assert pool.workers == 0  # nothing started before the first render
    assert "Hi a" in await pool.render(BENIGN, "r", {"name": "a"}, TODAY)
    assert pool.workers == 1
    pages = await asyncio.gather(
        *(pool.render(BENIGN, "r", {"name": str(n)}, TODAY) for n in range(5))
    )
    assert [f"Hi {n}" in page for n, page in enumerate(pages)] == [True] * 5
    assert pool.workers == 2


async def test_idle_workers_exit_and_the_next_render_starts_one() -> None:
    pool = RenderPool(workers=2, limits=RenderLimits(cpu_seconds=2), idle_seconds=0.2)
    try:
        await asyncio.gather(*(pool.render(BENIGN, "r", {"name": n}, TODAY) for n in "ab"))
        processes = [w.process for w in pool._all]
        assert len(processes) == 2
        await _until(lambda: pool.workers == 0)
        # gone, not just forgotten (exitcode polls without blocking the loop)
        await _until(lambda: all(process.exitcode is not None for process in processes))
        assert "Hi c" in await pool.render(BENIGN, "r", {"name": "c"}, TODAY)
        assert pool.workers == 1
    finally:
        pool.close()


async def test_a_render_cancelled_while_its_worker_starts_leaves_the_worker_idle(
    pool: RenderPool,
) -> None:
    render = asyncio.create_task(pool.render(BENIGN, "r", {"name": "a"}, TODAY))
    await asyncio.sleep(0)  # the render is now waiting for its worker to start
    render.cancel()
    with pytest.raises(asyncio.CancelledError):
        await render
    await _until(lambda: len(pool._idle) == 1)
    assert "Hi b" in await pool.render(BENIGN, "r", {"name": "b"}, TODAY)
    assert pool.workers == 1  # the started worker was used, not a second one
