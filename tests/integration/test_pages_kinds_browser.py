"""Issue 16, "every flow usable in the browser": the job page per kind.

Two tiers:

- **routes** (in process, no workers, well under a second each): the page's confirm
  (``POST /j/{job_id}/confirm``, form post and JSON), the kit's zip (``GET
  /j/{job_id}/assets.zip``, only when completed) and what each kind's page shows in each state;
- **browser** (Playwright driving Debian's Chromium against the five services): confirm a kit
  and see its analysis, copy cards and gallery and download the zip; a funnel run's admin page;
  a gated job waiting for approval, then its result. Screenshots in ``test-output/<test>/``.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import secrets
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.ids import new_job_id
from leadmagnet.common.models import CallbackGate, Job, JobStatus
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import PRODUCT_KIND, generated_key, thumbnail_key
from leadmagnet.common.stores.artifacts import JobFile
from leadmagnet.testing.browser import no_dialogs
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.fake_llm import FakeLLMServer
from leadmagnet.testing.kits import BLUE, WHITE, KitClient, product_photo, sample_analysis

pytestmark = pytest.mark.integration
browser_test = pytest.mark.browser


ANALYSIS = sample_analysis(
    colours=[
        ("#FF6B35", "coral-orange", 60),
        ("#004E89", "deep-blue", 30),
        ("#FFFFFF", "white", 10),
    ],
    demographics=["young-professionals", "students"],
    psychographics=["achievement-oriented"],
    personality=["energetic", "confident"],
    tone="motivational-upbeat",
    unique=["geometric-patterns"],
    method="vision",
)
COPY: dict[str, Any] = {
    "ecDescription": {
        "short": "Coral Charge: bright citrus energy in a slim matte can.",
        "medium": "Coral Charge gives you clean, bright energy for long days: citrus and a"
        " hint of ginger, 80 mg of caffeine, no sugar crash. The slim matte can fits any bag.",
        "long": "Meet Coral Charge, the energy drink for people who get things done. Bright"
        " citrus with a hint of ginger, 80 mg of natural caffeine and zero sugar, so the focus"
        " lasts and the crash never comes. Its slim matte can slips into a laptop bag.",
    },
    "socialMedia": {
        "facebook": "Long day ahead? Coral Charge is bright citrus energy with no sugar crash.",
        "instagram": "Bright. Bold. Coral. ⚡ Your new desk-side ritual. #CoralCharge",
        "linkedin": "Introducing Coral Charge: clean energy for focused work, without sugar.",
    },
    "adCopy": {
        "googleAdsHeadline": "Coral Charge Energy Drink",
        "googleAdsDescription": "Citrus energy, 80 mg caffeine, zero sugar. Try Coral Charge.",
        "facebookAd": "Bright citrus energy, zero sugar. Meet Coral Charge.",
    },
    "seo": {
        "primaryKeywords": ["energy drink", "sugar free energy drink", "citrus energy drink"],
        "longTailKeywords": ["sugar free energy drink for students"],
        "hashtags": ["#CoralCharge", "#EnergyDrink", "#FocusMode"],
    },
}


def png(width: int, height: int, colour: tuple[int, int, int] = (255, 107, 53)) -> bytes:
    im = Image.new("RGB", (width, height), colour)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def three_block_photo() -> bytes:
    """Three colour blocks: coral, deep blue and white."""
    return product_photo(bands=((0.6, 0.9, BLUE), (0.9, 1.0, WHITE)))


# ---- tier 1: routes in process ----------------------------------------------------------------


async def kit_job(platform: Platform, demo: Demo, status: JobStatus, **fields: Any) -> Job:
    job = Job(
        job_id=new_job_id(),
        tenant_id=demo.tenant_id,
        kind=PRODUCT_KIND,
        status=status,
        data={
            "s3_key": f"uploads/{demo.tenant_id}/1-p.png",
            "filename": "1-p.png",
            "preferences": {"language": "en", "tone": "professional"},
            "analysis": ANALYSIS,
        },
        **fields,
    )
    await platform.jobs.create(job, message="kit requested (test)")
    return job


async def completed_kit(platform: Platform, demo: Demo) -> Job:
    """A kit as the workers leave it: the seed's layout, then job.completed."""
    job = await kit_job(platform, demo, JobStatus.PROCESSING)
    files = {
        "analysis.json": json.dumps({"jobId": job.job_id, "analysis": ANALYSIS}).encode(),
        "content.json": json.dumps({"jobId": job.job_id, **COPY}).encode(),
        "packages/modern-v1.png": png(64, 64),
        "ads/google-1200x628.png": png(120, 63, (0, 78, 137)),
    }
    for name, body in files.items():
        ctype = "application/json" if name.endswith(".json") else "image/png"
        key = generated_key(job.job_id, name)
        await platform.artifacts.put(
            demo.tenant_id,
            job.job_id,
            JobFile(
                kind=name.split("/")[0],
                filename=name.rsplit("/", 1)[-1],
                body=body,
                content_type=ctype,
                key=key,
            ),
        )
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (255, 107, 53)).save(buf, format="WEBP")
    await platform.artifacts.put(
        demo.tenant_id,
        job.job_id,
        JobFile(
            kind="thumbnail",
            filename="modern-v1-thumb.webp",
            body=buf.getvalue(),
            content_type="image/webp",
            key=thumbnail_key(job.job_id, "modern-v1"),
        ),
    )
    await platform.jobs.record(
        job.job_id,
        "job.completed",
        "kit complete",
        status=JobStatus.COMPLETED,
        set_fields={"output_key": generated_key(job.job_id, "content.json")},
    )
    return job


FORM = {"content-type": "application/x-www-form-urlencoded"}


async def test_confirm_route_unknown_job_is_a_404(gw: httpx2.AsyncClient, demo: Demo) -> None:
    as_json = await gw.post(f"/j/{new_job_id()}/confirm", json={})
    assert as_json.status_code == 404
    assert as_json.json()["error"]["code"] == "job_not_found"
    as_form = await gw.post(f"/j/{new_job_id()}/confirm", content=b"tone=casual", headers=FORM)
    assert as_form.status_code == 404
    assert as_form.headers["content-type"].startswith("text/html")
    too_long = await gw.post(f"/j/{'j' * 200}/confirm", json={})
    assert too_long.status_code == 404


async def test_confirm_route_form_post_confirms_then_409(
    gw: httpx2.AsyncClient, demo: Demo, platform: Platform
) -> None:
    job = await kit_job(platform, demo, JobStatus.AWAITING_CONFIRMATION)
    page = await gw.get(f"/j/{job.job_id}")
    assert page.status_code == 200
    assert 'id="kit-confirm"' in page.text
    assert 'action="/j/' + job.job_id + '/confirm"' in page.text
    assert "#FF6B35" in page.text
    assert "coral-orange" in page.text
    assert 'http-equiv="refresh"' not in page.text  # no reload while the person fills it in

    # No platform chosen: the page again, with the reason at the form, nothing confirmed.
    empty = await gw.post(
        f"/j/{job.job_id}/confirm", content=b"tone=casual&targetLength=short", headers=FORM
    )
    assert empty.status_code == 422
    assert "Choose at least one platform." in empty.text
    assert 'name="platforms" value="ec" checked' not in empty.text  # what was sent, kept
    assert (await platform.jobs.require(job.job_id)).status is JobStatus.AWAITING_CONFIRMATION

    body = b"language=de&tone=playful&platforms=ec&platforms=google-ads&targetLength=short"
    resp = await gw.post(f"/j/{job.job_id}/confirm", content=body, headers=FORM)
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/j/{job.job_id}"
    timeline = await platform.jobs.timeline(job.job_id)
    assert [e.type for e in timeline].count("job.confirmed") == 1
    stored = await platform.jobs.require(job.job_id)
    assert stored.data["preferences"] == {
        "language": "de",
        "tone": "playful",
        "platforms": ["ec", "google-ads"],
        "targetLength": "short",
    }

    again = await gw.post(f"/j/{job.job_id}/confirm", content=body, headers=FORM)
    assert again.status_code == 409
    assert "already confirmed" in again.text
    as_json = await gw.post(f"/j/{job.job_id}/confirm", json={})
    assert as_json.status_code == 409
    assert as_json.json()["error"]["code"] == "already_confirmed"


async def test_confirm_route_json_before_the_analysis_is_a_409_and_invalid_is_422(
    gw: httpx2.AsyncClient, demo: Demo, platform: Platform
) -> None:
    job = await kit_job(platform, demo, JobStatus.PROCESSING)
    early = await gw.post(f"/j/{job.job_id}/confirm", json={"preferences": {"tone": "casual"}})
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "not_ready"
    waiting = await kit_job(platform, demo, JobStatus.AWAITING_CONFIRMATION)
    bad = await gw.post(f"/j/{waiting.job_id}/confirm", json={"preferences": {"tone": "angry"}})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["loc"].startswith("body.preferences.tone")
    unknown = await gw.post(f"/j/{waiting.job_id}/confirm", json={"other": 1})
    assert unknown.status_code == 422
    wrong_type = await gw.post(
        f"/j/{waiting.job_id}/confirm", content=b"x", headers={"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    ok = await gw.post(
        f"/j/{waiting.job_id}/confirm",
        json={"preferences": {"tone": "casual", "platforms": ["facebook"]}},
    )
    assert ok.status_code == 202, ok.text
    assert ok.json()["status"] == "processing"
    # A lead magnet (or a run) is not a kit: nothing to confirm.
    lead = Job(job_id=new_job_id(), tenant_id=demo.tenant_id, kind="lead_magnet")
    await platform.jobs.create(lead)
    assert (await gw.post(f"/j/{lead.job_id}/confirm", json={})).status_code == 404


async def test_zip_route_only_for_a_completed_kit(
    gw: httpx2.AsyncClient, demo: Demo, platform: Platform
) -> None:
    assert (await gw.get(f"/j/{new_job_id()}/assets.zip")).status_code == 404
    waiting = await kit_job(platform, demo, JobStatus.AWAITING_CONFIRMATION)
    refused = await gw.get(f"/j/{waiting.job_id}/assets.zip")
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("text/html")
    failed = await kit_job(platform, demo, JobStatus.FAILED, error_code="bad_dimensions")
    assert (await gw.get(f"/j/{failed.job_id}/assets.zip")).status_code == 409

    job = await completed_kit(platform, demo)
    resp = await gw.get(f"/j/{job.job_id}/assets.zip")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/zip"
    assert "attachment" in resp.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == [
            "ads/google-1200x628.png",
            "analysis.json",
            "content.json",
            "packages/modern-v1.png",
            "thumbnails/modern-v1-thumb.webp",
        ]
        assert archive.read("packages/modern-v1.png") == png(64, 64)
        assert json.loads(archive.read("content.json"))["adCopy"] == COPY["adCopy"]


async def test_kit_page_completed_shows_copy_cards_gallery_and_zip(
    gw: httpx2.AsyncClient, demo: Demo, platform: Platform
) -> None:
    job = await completed_kit(platform, demo)
    page = await gw.get(f"/j/{job.job_id}")
    assert page.status_code == 200
    text = page.text
    assert "Your marketing kit is ready" in text
    assert f'href="/j/{job.job_id}/assets.zip"' in text
    assert text.count('class="copy-card') == 9
    headline = COPY["adCopy"]["googleAdsHeadline"]
    assert f"{len(headline)} / 30" in text
    assert text.count('class="gallery-link"') == 2
    assert "modern-v1-thumb.webp" in text
    assert "<script>" not in text  # strict CSP: nothing inline
    assert "style=" not in text
    assert 'id="kit-confirm"' not in text


async def test_failed_pages_show_a_reason_category_not_the_error(
    gw: httpx2.AsyncClient, demo: Demo, platform: Platform
) -> None:
    kit = await kit_job(
        platform,
        demo,
        JobStatus.FAILED,
        error_code="bad_dimensions",
        error_message="the image is 500x400 px at s3://internal-bucket/uploads/x",
    )
    page = (await gw.get(f"/j/{kit.job_id}")).text
    assert "The photo&#39;s size is outside the limits" in page
    assert "internal-bucket" not in page
    lead = Job(
        job_id=new_job_id(),
        tenant_id=demo.tenant_id,
        kind="lead_magnet",
        status=JobStatus.FAILED,
        error_code="provider_error",
        error_message="Traceback: secret-internal-detail",
    )
    await platform.jobs.create(lead)
    page = (await gw.get(f"/j/{lead.job_id}")).text
    assert "Something went wrong on our side" in page
    assert "secret-internal-detail" not in page


async def test_run_page_is_a_shell_with_the_pages_csp(gw: httpx2.AsyncClient) -> None:
    resp = await gw.get("/admin/runs/run_abc")
    assert resp.status_code == 200
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert 'data-run-id="run_abc"' in resp.text
    assert '<script src="/static/run.js" defer></script>' in resp.text
    hostile = await gw.get("/admin/runs/%3Cimg%20src%3Dx%3E")
    assert "<img src=x>" not in hostile.text


# ---- tier 2: in the browser ------------------------------------------------------------------


async def all_images_loaded(page: Page, selector: str) -> list[int]:
    """naturalWidth of every image under ``selector`` once each has finished loading."""
    await page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].every(i => i.complete)", arg=selector
    )
    widths: list[int] = await page.eval_on_selector_all(
        selector, "imgs => imgs.map(i => i.naturalWidth)"
    )
    return widths


async def start_kit(
    api: GatewayClient, demo: Demo, fake_llm: FakeLLMServer, name: str, tone: str
) -> str:
    """A kit of the three-block photo ``{name}-{marker}.png`` whose analysis (with the tone
    ``{tone}-{marker}``, which only its copy request carries) and copy the fake model answers:
    its job id."""
    marker = secrets.token_hex(5)
    filename = f"{name}-{marker}.png"
    tone = f"{tone}-{marker}"
    fake_llm.add_rule(
        match=filename,
        reply={"json": {**ANALYSIS, "branding": {**ANALYSIS["branding"], "tone": tone}}},
    )
    fake_llm.add_rule(match=tone, reply={"json": COPY})
    admin = KitClient(api, demo.api_key)
    return await admin.start(await admin.upload(three_block_photo(), filename=filename))


@browser_test
async def test_kit_confirmed_in_the_browser_shows_analysis_copy_gallery_and_zip(
    stack: ServiceStack,
    demo: Demo,
    api: GatewayClient,
    browser: Browser,
    fake_llm: FakeLLMServer,
    output_dir: Path,
) -> None:
    job_id = await start_kit(api, demo, fake_llm, "can", "up")

    context = await browser.new_context(
        viewport={"width": 1200, "height": 900}, accept_downloads=True
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.gateway_url)
    page = await context.new_page()
    dialogs = no_dialogs(page)
    await page.goto(f"{stack.gateway_url}/j/{job_id}")
    # Live: the page turns into the confirm step by itself when the analysis is ready.
    await expect(page.locator("#job-heading")).to_have_text(
        "Check the analysis, then confirm", timeout=60_000
    )
    swatches = page.locator("#swatches li")
    await expect(swatches).to_have_count(3)
    await expect(swatches.first).to_contain_text("#FF6B35")
    await expect(swatches.first).to_contain_text("60.0%")
    await expect(page.locator("#kit-analysis")).to_contain_text("modern-energetic")
    await expect(page.locator("#kit-analysis")).to_contain_text("young-professionals")
    await expect(page.locator("#analysis-confidence")).to_have_text("89%")
    assert await page.locator("#job-result").count() == 0
    assert await page.locator("a[href$='/assets.zip']").count() == 0
    await page.screenshot(path=str(output_dir / "kit-confirm.png"), full_page=True)

    await page.get_by_label("Playful").check()
    await page.get_by_label("Instagram").uncheck()
    await page.get_by_label("Language").select_option("en")
    await page.get_by_role("button", name="Confirm and generate").click()
    await expect(page.locator("#kit-confirm")).to_have_count(0, timeout=20_000)
    await expect(page.locator("#job-result")).to_be_visible(timeout=90_000)
    await expect(page.locator("#job-heading")).to_have_text("Your marketing kit is ready")
    await expect(page.locator("#progress")).to_have_attribute("aria-valuenow", "100")

    cards = page.locator(".copy-card")
    await expect(cards).to_have_count(9)
    headline = page.locator("#copy-adCopy-googleAdsHeadline")
    text = COPY["adCopy"]["googleAdsHeadline"]
    await expect(headline.locator(".count")).to_contain_text(f"{len(text)} / 30")
    await expect(headline.locator(".copy-text")).to_have_text(text)
    await headline.get_by_role("button").click()
    await expect(headline.get_by_role("button")).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == text
    await expect(page.locator(".chips li", has_text="#CoralCharge")).to_be_visible()

    thumbs = "#gallery img"
    await expect(page.locator(thumbs)).to_have_count(5)  # 3 packages + facebook + google ads
    widths = await all_images_loaded(page, thumbs)
    assert all(w > 0 for w in widths), widths
    await page.screenshot(path=str(output_dir / "kit-done.png"), full_page=True)
    await page.locator("a.gallery-link").first.click()
    await expect(page.locator("#lightbox")).to_be_visible()
    full = await all_images_loaded(page, "#lightbox-image")
    assert full
    assert full[0] > 320  # the full image, not the thumbnail
    await page.screenshot(path=str(output_dir / "kit-lightbox.png"))
    await page.get_by_role("button", name="Close").click()
    await expect(page.locator("#lightbox")).to_be_hidden()

    async with page.expect_download() as info:
        await page.locator("#download-all").click()
    download = await info.value
    path = output_dir / "kit.zip"
    await download.save_as(str(path))
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        content = json.loads(archive.read("content.json"))
    assert {
        "analysis.json",
        "content.json",
        "packages/modern-v1.png",
        "packages/bold-v2.png",
        "packages/premium-v3.png",
        "ads/facebook-1080x1080.png",
        "ads/google-1200x628.png",
    } <= names
    assert "thumbnails/modern-v1-thumb.webp" in names
    assert content["preferences"]["tone"] == "playful"
    assert dialogs == []

    # Without JavaScript the finished kit is complete too (server-rendered).
    static = await (await browser.new_context(java_script_enabled=False)).new_page()
    await static.goto(page.url)
    await expect(static.locator(".copy-card")).to_have_count(9)
    await expect(static.locator("#download-all")).to_be_visible()


@browser_test
async def test_kit_confirms_without_javascript(
    stack: ServiceStack,
    demo: Demo,
    api: GatewayClient,
    browser: Browser,
    fake_llm: FakeLLMServer,
    output_dir: Path,
) -> None:
    job_id = await start_kit(api, demo, fake_llm, "plain", "nj")
    await api.wait_job(job_id, ("awaiting_confirmation", "failed"))
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{stack.gateway_url}/j/{job_id}")
    for label in ("Online shop", "Facebook", "Instagram", "Google Ads"):
        await page.get_by_label(label).uncheck()
    await page.get_by_role("button", name="Confirm and generate").click()
    await expect(page.locator("#confirm-error")).to_have_text("Choose at least one platform.")
    await page.screenshot(path=str(output_dir / "kit-confirm-error.png"), full_page=True)
    await page.get_by_label("Online shop").check()
    await page.get_by_role("button", name="Confirm and generate").click()
    await page.wait_for_url(re.compile(rf"/j/{job_id}$"))  # 303 back to the page
    assert await page.locator("#kit-confirm").count() == 0
    job = await api.wait_job(job_id, within=90)
    assert job["status"] == "completed", job["error_message"]


async def artifact_png(platform: Platform, name: str, colour: tuple[int, int, int]) -> str:
    """An image the browser can load, standing in for a template's original image."""
    key = f"test-originals/{secrets.token_hex(4)}/{name}.png"
    await platform.artifacts.put_object(key, png(480, 270, colour), "image/png")
    return await platform.artifacts.url(key)


@browser_test
async def test_run_page_shows_funnels_side_by_side_images_cost_and_log(
    stack: ServiceStack,
    api: GatewayClient,
    platform: Platform,
    browser: Browser,
    fake_llm: FakeLLMServer,
    output_dir: Path,
) -> None:
    demo = await seed_demo(platform, slug=f"runs-{secrets.token_hex(4)}")
    admin = KitClient(api, demo.api_key)
    marker = secrets.token_hex(5)
    funnel = {
        "hero": {
            "headline": "Sleep better tonight",
            "subheadline": "The mattress topper that keeps you cool.",
            "hero_image_url": await artifact_png(platform, "hero", (29, 53, 87)),
        },
        "benefits": [
            {"title": "Cool", "text": "Breathable foam.", "icon_url": ""},
            {"title": "Soft", "text": "Memory foam that adapts.", "icon_url": ""},
        ],
        "cta": {"text": "Buy now", "cta_url": "https://shop.example/buy", "discount": 0.15},
        "opt_logo_url": await artifact_png(platform, "logo", (241, 250, 238)),
    }
    rewritten = json.loads(json.dumps(funnel))
    rewritten["hero"]["headline"] = "Wake up rested, every day"
    rewritten["hero"]["subheadline"] = "Dreamy Co's cooling topper for deep, calm sleep."
    rewritten["benefits"][1]["text"] = "Memory foam that remembers you."
    rewritten["cta"]["text"] = "Start sleeping better"
    fake_llm.add_rule(
        match=f"brief-{marker}",
        reply={
            "json": {"funnel": rewritten},
            "usage": {"input_tokens": 1200, "output_tokens": 600, "reasoning_tokens": 150},
        },
    )
    made = await admin.post(
        "/v1/templates",
        {
            "kind": "funnel",
            "name": "Sleep funnel",
            "brandGuideContent": "Calm, warm. Colours #1d3557 and #f1faee.",
            "templateFunnelJson": funnel,
            "publish": True,
        },
    )
    assert made.status_code == 201, made.text
    template_id = made.json()["templateId"]
    run = await admin.post(
        "/v1/runs",
        {"templateId": template_id, "input": {"input_as_text": f"Dreamy Co brief-{marker}"}},
    )
    assert run.status_code == 202, run.text
    run_id = run.json()["runId"]
    deadline = time.monotonic() + 60
    while (await admin.get(f"/v1/runs/{run_id}")).json()["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.3)
    done = (await admin.get(f"/v1/runs/{run_id}")).json()
    assert done["status"] == "completed", done["errorMessage"]

    page = await (await browser.new_context(viewport={"width": 1400, "height": 900})).new_page()
    dialogs = no_dialogs(page)
    await page.goto(f"{stack.gateway_url}/admin/runs/{run_id}")
    await expect(page.locator("#login")).to_be_visible()  # the key lives in the tab only
    await page.fill("#api-key", demo.api_key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#run")).to_be_visible()
    await expect(page.locator("#run-status")).to_have_text("completed")
    template_side = page.locator("#funnel-template")
    output_side = page.locator("#funnel-output")
    await expect(template_side).to_contain_text("Sleep better tonight")
    await expect(output_side).to_contain_text("Wake up rested, every day")
    marks = output_side.locator("mark")
    assert await marks.count() == 4
    await expect(marks.first).to_have_text("Wake up rested, every day")
    assert await template_side.locator("mark").count() == 0
    # side by side: the two columns start at the same height
    left, right = await template_side.bounding_box(), await output_side.bounding_box()
    assert left
    assert right
    assert abs(left["y"] - right["y"]) < 2
    assert left["x"] < right["x"]
    assert await output_side.locator(".fn-field.changed .fn-image").count() == 2
    assert all(w > 0 for w in await all_images_loaded(page, "#funnel-template img.fn-image"))
    assert all(w > 0 for w in await all_images_loaded(page, "#funnel-output img.fn-image"))
    await expect(page.locator("#run-images img")).to_have_count(2)
    assert all(w > 0 for w in await all_images_loaded(page, "#run-images img"))
    chart = page.locator("#cost-chart svg")
    await expect(chart.locator("rect.cost-bar")).to_have_count(2)
    await expect(chart).to_contain_text(f"${done['cost']['total']:.4f}")
    await expect(page.locator("#run-log tbody tr").first).to_be_visible()
    assert await page.locator("#run-log tbody tr").count() >= 4
    await expect(page.locator("#run-log")).to_contain_text("run.agent.started")
    await page.screenshot(path=str(output_dir / "run.png"), full_page=True)
    assert dialogs == []

    # The key stays in the tab: a reload needs no sign-in; another key's run is not found.
    await page.reload()
    await expect(page.locator("#run-status")).to_have_text("completed")
    other = await seed_demo(platform, slug=f"other-{secrets.token_hex(4)}")
    stranger = await browser.new_page()
    await stranger.goto(f"{stack.gateway_url}/admin/runs/{run_id}")
    await stranger.fill("#api-key", other.api_key)
    await stranger.get_by_role("button", name="Sign in").click()
    await expect(stranger.locator("#run-message")).to_have_text(
        "There is no such run for this API key."
    )


async def gated_demo(platform: Platform) -> Demo:
    demo = await seed_demo(platform, slug=f"gate-{secrets.token_hex(4)}")
    wf = await platform.workflows.get(demo.tenant_id, demo.workflow_id)
    assert wf is not None
    gate = CallbackGate(external_id_field="company", timeout_seconds=3600, calls=[])
    await platform.workflows.put(wf.model_copy(update={"await_callback": gate}))
    return demo


async def waiting_for_approval(
    stack: ServiceStack, api: GatewayClient, platform: Platform, browser: Browser, name: str
) -> tuple[Demo, str, Page]:
    """A gated job submitted by ``name``, its page open and showing the approval step: (the
    demo, the job's external id, the page)."""
    demo = await gated_demo(platform)
    story = f"STORY-{secrets.token_hex(4)}"
    email = f"{name.lower()}@example.com"
    fields = {"name": name, "email": email, "company": story, "goal": "gate"}
    resp = await api.submit(demo.slug, fields)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    page = await browser.new_page()
    await page.goto(f"{stack.gateway_url}/j/{job_id}")
    await expect(page.locator("#job-approval")).to_be_visible(timeout=60_000)
    return demo, story, page


async def decide(api: GatewayClient, demo: Demo, body: dict[str, Any]) -> None:
    """The tenant's callback on the gated job."""
    resp = await api.client.post(
        f"{api.base}/v1/callbacks", json=body, headers={"authorization": f"Bearer {demo.api_key}"}
    )
    assert resp.status_code == 200, resp.text


@browser_test
async def test_gated_job_waits_for_approval_then_shows_the_result(
    stack: ServiceStack,
    api: GatewayClient,
    platform: Platform,
    browser: Browser,
    output_dir: Path,
) -> None:
    demo, story, page = await waiting_for_approval(stack, api, platform, browser, "Ada")
    await expect(page.locator("#job-heading")).to_have_text("Your report is waiting for approval")
    await expect(page.locator("#job-stage")).to_have_text("Waiting for approval")
    assert await page.locator("#job-result").count() == 0
    assert await page.locator("#download, iframe, a[href*='/download']").count() == 0
    await page.screenshot(path=str(output_dir / "gate-waiting.png"), full_page=True)

    await decide(api, demo, {"external_id": story, "status": "success"})
    await expect(page.locator("#job-result")).to_be_visible(timeout=30_000)
    await expect(page.locator("#job-heading")).to_have_text("Your report is ready")
    assert await page.locator("#job-approval").count() == 0
    frame = page.frame_locator("#lead-magnet")
    await expect(frame.locator("header h1")).to_contain_text("Ada", timeout=20_000)
    await page.screenshot(path=str(output_dir / "gate-approved.png"), full_page=True)


@browser_test
async def test_gated_job_rejected_shows_a_reason_not_the_message(
    stack: ServiceStack,
    api: GatewayClient,
    platform: Platform,
    browser: Browser,
    output_dir: Path,
) -> None:
    demo, story, page = await waiting_for_approval(stack, api, platform, browser, "Bo")
    rejection = {"external_id": story, "status": "failure", "message": "legal: internal-note-42"}
    await decide(api, demo, rejection)
    await expect(page.locator("#job-failed")).to_be_visible(timeout=30_000)
    await expect(page.locator("#job-reason")).to_have_text("It was not approved")
    body = await page.locator("body").inner_text()
    assert "internal-note-42" not in body
    assert await page.locator("#download, iframe").count() == 0
    await page.screenshot(path=str(output_dir / "gate-rejected.png"), full_page=True)
