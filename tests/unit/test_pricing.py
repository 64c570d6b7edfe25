import json
from pathlib import Path

from leadmagnet.common.money import micros_to_usd, usd_to_micros
from leadmagnet.common.providers.base import Usage
from leadmagnet.common.providers.pricing import PriceTable, load_prices


def test_seed_example_prices() -> None:
    prices = load_prices()
    micros, version = prices.cost_of(Usage(input_tokens=1000, output_tokens=500), "gpt-5", "text")
    assert micros == 90_000  # 1000*$30/1M + 500*$120/1M = $0.09
    assert version == prices.version
    image, _ = prices.cost_of(Usage(images=3, image_quality="standard"), "gpt-image-1", "image")
    assert image == 120_000


def test_reasoning_is_inside_output_and_never_counted_twice() -> None:
    prices = load_prices()
    plain, _ = prices.cost_of(Usage(output_tokens=500), "gpt-5", "text")
    with_reasoning, _ = prices.cost_of(
        Usage(output_tokens=500, reasoning_tokens=200), "gpt-5", "text"
    )
    assert plain == with_reasoning


def test_cache_reads_and_writes_have_their_own_prices() -> None:
    prices = load_prices()
    micros, _ = prices.cost_of(
        Usage(input_tokens=1_000_000, cached_input_tokens=1_000_000, cache_write_tokens=1_000_000),
        "claude-sonnet-4-6",
        "text",
    )
    assert micros == usd_to_micros("3.00") + usd_to_micros("0.30") + usd_to_micros("3.75")


def test_dated_snapshots_price_like_their_family() -> None:
    prices = load_prices()
    a, _ = prices.cost_of(Usage(input_tokens=10_000), "gpt-5.4-mini-2026-03-17", "text")
    b, _ = prices.cost_of(Usage(input_tokens=10_000), "gpt-5.4-mini", "text")
    assert a == b > 0


def test_unknown_models_cost_nothing_and_say_so() -> None:
    micros, version = load_prices().cost_of(Usage(input_tokens=10), "mystery-1", "text")
    assert (micros, version) == (0, "unknown-model:mystery-1")


def test_rounding_is_half_up_once_per_call() -> None:
    table = PriceTable({"version": "t", "text": {"m": {"input": "0.5", "output": "0"}}})
    assert table.cost_of(Usage(input_tokens=1), "m", "text")[0] == 1  # 0.5 micro -> 1
    assert table.cost_of(Usage(input_tokens=3), "m", "text")[0] == 2  # 1.5 -> 2


def test_a_prices_file_overrides_the_package(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"version": "custom", "text": {"x": {"input": "1", "output": "2"}}}))
    micros, version = load_prices(path).cost_of(Usage(input_tokens=1_000_000), "x", "text")
    assert (micros, version) == (1_000_000, "custom")


def test_money_formatting_is_exact() -> None:
    assert micros_to_usd(79_200) == "0.079200"
    assert micros_to_usd(1) == "0.000001"
    assert usd_to_micros("0.15") == 150_000


def test_bedrock_text_models_per_million_tokens() -> None:
    prices = load_prices()
    million = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    for model, (price_in, price_out) in {
        "anthropic.claude-sonnet-4-5-20250929-v1:0": ("3.00", "15.00"),
        "amazon.nova-pro-v1:0": ("0.80", "3.20"),
        "amazon.nova-lite-v1:0": ("0.06", "0.24"),
        "amazon.nova-micro-v1:0": ("0.035", "0.14"),
    }.items():
        micros, version = prices.cost_of(million, model, "text")
        assert micros == usd_to_micros(price_in) + usd_to_micros(price_out), model
        assert version == prices.version


def test_nova_canvas_per_image_by_quality_and_size_tier() -> None:
    prices = load_prices()

    def cost(quality: str, size: str) -> str:
        usage = Usage(images=1, image_quality=quality, image_size=size)  # type: ignore[arg-type]
        return micros_to_usd(prices.cost_of(usage, "amazon.nova-canvas-v1:0", "image")[0])

    assert cost("standard", "1024x1024") == "0.040000"
    assert cost("hd", "1024x1024") == "0.060000"  # Nova Canvas "premium"
    assert cost("standard", "1536x1024") == "0.060000"  # above 1024x1024: the 2048x2048 tier
    assert cost("hd", "1024x1536") == "0.080000"
    assert cost("standard", "512x512") == "0.040000"


def test_size_tiers_only_apply_to_tables_that_have_them() -> None:
    prices = load_prices()
    usage = Usage(images=1, image_quality="standard", image_size="1536x1024")
    assert prices.cost_of(usage, "gpt-image-1", "image")[0] == usd_to_micros("0.04")
