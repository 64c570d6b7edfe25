"""Funnel runs (seed 001): element paths, image detection, the structure check, the offline
agent, and a cost breakdown that reconciles with the price data file."""

from __future__ import annotations

import json

import pytest

from leadmagnet.common.providers.base import CallCost, Usage
from leadmagnet.common.providers.pricing import load_prices
from leadmagnet.flows.funnels import (
    FunnelSettings,
    find_image_elements,
    format_path,
    get_path,
    parse_path,
    run_cost_breakdown,
    set_path,
    structure_mismatch,
)
from leadmagnet.reporter.flows.funnel_agent import agent_request, offline_answer

FUNNEL = {
    "opt_logo_url": "https://cdn.example/brand/logo.svg",
    "hero": {
        "headline": "Sleep better tonight",
        "background_image_url": "https://cdn.example/a1",
        "cta_url": "https://shop.example/buy",
        "cta_text": "Buy now",
    },
    "testimonials": [
        {"quote": "Great", "avatar_url": "https://cdn.example/p/1.jpg", "stars": 5},
        {"quote": "Lovely", "avatarUrl": "https://cdn.example/p/2.webp", "stars": 4},
    ],
    "footer": {"privacy_url": "https://shop.example/privacy", "banner": "https://x.example/b.png"},
    "odd key.with dots": {"photo_url": "https://cdn.example/odd"},
    "flags": {"show_timer": True, "discount": 0.15, "note": None},
}


def test_paths_round_trip_including_awkward_keys() -> None:
    for path in [
        ("opt_logo_url",),
        ("testimonials", 1, "avatarUrl"),
        ("odd key.with dots", "photo_url"),
        ('quo"te', 0),
    ]:
        assert parse_path(format_path(path)) == path
    assert format_path(("a", 0, "b")) == "a[0].b"
    for bad in ["", ".a", "a..b", "a[x]", "a b"]:
        with pytest.raises(ValueError, match="path"):
            parse_path(bad)
    doc = json.loads(json.dumps(FUNNEL))
    set_path(doc, ("testimonials", 0, "quote"), "Changed")
    assert get_path(doc, ("testimonials", 0, "quote")) == "Changed"
    with pytest.raises(KeyError):
        get_path(doc, ("testimonials", 5))


def test_image_elements_are_image_urls_not_links() -> None:
    found = [e.element_id for e in find_image_elements(FUNNEL, FunnelSettings())]
    assert found == [
        "opt_logo_url",
        "hero.background_image_url",
        "testimonials[0].avatar_url",
        "testimonials[1].avatarUrl",
        "footer.banner",
        '["odd key.with dots"].photo_url',
    ]
    # links (cta_url, privacy_url) are not images


def test_explicit_image_fields_override_the_heuristic() -> None:
    settings = FunnelSettings.model_validate({"imageFields": ["hero.cta_url", "opt_logo_url"]})
    found = find_image_elements(FUNNEL, settings)
    assert [(e.element_id, e.url) for e in found] == [
        ("hero.cta_url", "https://shop.example/buy"),
        ("opt_logo_url", "https://cdn.example/brand/logo.svg"),
    ]
    with pytest.raises(KeyError):
        find_image_elements(FUNNEL, FunnelSettings.model_validate({"imageFields": ["nope"]}))
    with pytest.raises(ValueError, match="not an http"):
        find_image_elements(
            FUNNEL, FunnelSettings.model_validate({"imageFields": ["hero.headline"]})
        )


def test_structure_mismatch_names_the_first_difference() -> None:
    same = json.loads(json.dumps(FUNNEL))
    same["hero"]["headline"] = "Different words, same shape"
    same["flags"]["discount"] = 1  # int and float are both numbers
    assert structure_mismatch(FUNNEL, same) is None

    cases = {
        "hero: missing key(s) 'cta_text'": lambda d: d["hero"].pop("cta_text"),
        "hero: unexpected key(s) 'subtitle'": lambda d: d["hero"].update(subtitle="x"),
        "testimonials: expected 2 item(s), got 3": lambda d: d["testimonials"].append({}),
        "testimonials[0].stars: expected number, got string": lambda d: d["testimonials"][0].update(
            stars="5"
        ),
        "flags.show_timer: expected boolean, got number": lambda d: d["flags"].update(show_timer=1),
        "flags.note: expected null, got string": lambda d: d["flags"].update(note="x"),
    }
    for expected, change in cases.items():
        changed = json.loads(json.dumps(FUNNEL))
        change(changed)
        assert structure_mismatch(FUNNEL, changed) == expected
    assert structure_mismatch(FUNNEL, ["not", "an", "object"]) == "$: expected object, got array"


def test_offline_agent_keeps_structure_and_urls() -> None:
    answer = offline_answer(agent_request(_spec(), FUNNEL, None))
    assert structure_mismatch(FUNNEL, answer.funnel) is None
    assert answer.funnel["hero"]["headline"] == "Sleep better tonight [offline draft]"
    assert answer.funnel["hero"]["cta_url"] == FUNNEL["hero"]["cta_url"]
    assert answer.funnel["flags"] == FUNNEL["flags"]


PAGES = {
    "pages": [
        {
            "id": "landing",
            "slug": "start",
            "title": "Welcome",
            "theme": {"primary": "#1d3557", "name": "Calm"},
            "blocks": [
                {"type": "hero", "block_id": "b-1", "text": "Sleep better", "order": 1},
                {"type": "cta", "elementId": 7, "label": "Buy", "href": "/checkout"},
                {"kind": "form", "key": "lead", "success_url": "https://shop.example/thanks"},
            ],
            "section_ids": ["s1", "s2"],
            "contact": "mailto:hello@shop.example",
        }
    ]
}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ("pages", 0, "id"),
            "landing-rewritten",
            "pages[0].id: identifier changed from 'landing' to 'landing-rewritten'",
        ),
        (
            ("pages", 0, "slug"),
            "begin",
            "pages[0].slug: identifier changed from 'start' to 'begin'",
        ),
        (
            ("pages", 0, "blocks", 0, "type"),
            "banner",
            "pages[0].blocks[0].type: identifier changed",
        ),
        (
            ("pages", 0, "blocks", 0, "block_id"),
            "b-1 [offline draft]",
            "pages[0].blocks[0].block_id: ",
        ),
        (
            ("pages", 0, "blocks", 1, "elementId"),
            8,
            "pages[0].blocks[1].elementId: identifier changed",
        ),
        (("pages", 0, "blocks", 1, "href"), "/buy", "pages[0].blocks[1].href: identifier changed"),
        (
            ("pages", 0, "blocks", 2, "kind"),
            "survey",
            "pages[0].blocks[2].kind: identifier changed",
        ),
        (("pages", 0, "blocks", 2, "key"), "LEAD", "pages[0].blocks[2].key: identifier changed"),
        (
            ("pages", 0, "blocks", 2, "success_url"),
            "https://evil.example/",
            "success_url: identifier",
        ),
        (("pages", 0, "section_ids", 1), "s3", "pages[0].section_ids[1]: identifier changed"),
        (("pages", 0, "contact"), "mailto:x@evil.example", "pages[0].contact: identifier changed"),
        (
            ("pages", 0, "theme", "primary"),
            "dark blue",
            "pages[0].theme.primary: expected a colour",
        ),
    ],
)
def test_a_changed_identifier_is_a_structure_mismatch_saying_where(
    path: tuple[str | int, ...], value: object, expected: str
) -> None:
    changed = json.loads(json.dumps(PAGES))
    set_path(changed, path, value)
    problem = structure_mismatch(PAGES, changed)
    assert problem is not None
    assert expected in problem


def test_text_names_and_colours_may_change_and_image_elements_are_exempt() -> None:
    changed = json.loads(json.dumps(PAGES))
    page = changed["pages"][0]
    page["title"] = "Hello there"
    page["theme"] = {"primary": "#ffaa00", "name": "Warm"}  # a brand's colour, a display name
    page["blocks"][0]["text"] = "Wake up rested"
    page["blocks"][0]["order"] = 2  # a number that is not an identifier
    assert structure_mismatch(PAGES, changed) is None
    moved = json.loads(json.dumps(FUNNEL))
    moved["hero"]["background_image_url"] = "https://model.example/x.png"
    assert structure_mismatch(FUNNEL, moved) is not None
    exempt = frozenset(e.path for e in find_image_elements(FUNNEL, FunnelSettings()))
    assert structure_mismatch(FUNNEL, moved, exempt=exempt) is None


def test_offline_agent_keeps_every_identifier() -> None:
    answer = offline_answer(agent_request(_spec(), PAGES, None))
    assert structure_mismatch(PAGES, answer.funnel) is None
    page = answer.funnel["pages"][0]
    assert (page["id"], page["slug"], page["section_ids"]) == ("landing", "start", ["s1", "s2"])
    assert [b.get("type") for b in page["blocks"]] == ["hero", "cta", None]
    assert page["blocks"][0]["block_id"] == "b-1"
    assert page["blocks"][1]["href"] == "/checkout"
    assert page["blocks"][2]["key"] == "lead"
    assert page["theme"]["primary"] == "#1d3557"
    assert page["title"] == "Welcome [offline draft]"  # text is still visibly a draft


def _spec():  # type: ignore[no-untyped-def]
    from leadmagnet.flows.funnels import RunSpec

    # A brand guide containing a fenced JSON block must not confuse the offline agent.
    guide = 'Colours #112233.\n```json\n{"not": "the funnel"}\n```'
    return RunSpec("tpl", 1, guide, FUNNEL, FunnelSettings(), "Rewrite for Dreamy Co")


def _call(operation: str, model: str, usage: Usage) -> CallCost:
    prices = load_prices()
    micros, version = prices.cost_of(usage, model, operation)  # type: ignore[arg-type]
    return CallCost(
        provider="openai",
        model=model,
        operation=operation,  # type: ignore[arg-type]
        usage=usage,
        cost_micros=micros,
        price_version=version,
    )


def test_cost_breakdown_matches_the_seed_prices_and_reconciles() -> None:
    calls = [
        # seed prices: GPT-5 $30 / $120 per 1M tokens; reasoning tokens are inside output
        _call("text", "gpt-5", Usage(input_tokens=1000, output_tokens=500, reasoning_tokens=200)),
        _call("image", "gpt-image-1", Usage(images=1, image_quality="standard")),
        _call("image", "gpt-image-1", Usage(images=1, image_quality="standard")),
        _call("image", "gpt-image-1", Usage(images=1, image_quality="hd")),
        # a failed image call: counted as a call, no image, no cost
        _call("image", "gpt-image-1", Usage(images=0, image_quality="standard")),
    ]
    cost = run_cost_breakdown(calls)
    assert cost == {
        "total": 0.25,
        "agent": 0.09,
        "image": 0.16,
        "details": {
            "agent": {
                "calls": 1,
                "tokens": {"input": 1000, "output": 500, "reasoning": 200},
                "cost": 0.09,
            },
            "images": {"calls": 4, "imagesGenerated": 3, "cost": 0.16},
        },
    }
    assert sum(c.cost_micros for c in calls) == 250_000


def test_cost_breakdown_of_many_small_calls_reconciles_to_the_cent() -> None:
    calls = [
        _call("text", "gpt-5.4-mini", Usage(input_tokens=1234 + i, output_tokens=321 + i))
        for i in range(37)
    ] + [_call("image", "gpt-image-2", Usage(images=1, image_quality="hd")) for _ in range(5)]
    cost = run_cost_breakdown(calls)
    assert round(cost["agent"] + cost["image"], 6) == cost["total"]
    assert round(cost["total"] * 1_000_000) == sum(c.cost_micros for c in calls)
    assert cost["details"]["agent"]["calls"] == 37
    assert cost["details"]["images"]["imagesGenerated"] == 5
