"""The job page per kind (issue 16) and the routes only the pages need.

- A **lead magnet** shows its report; behind an approval gate (``awaiting_callback``) it says it
  waits for approval and shows nothing else until the gate opens.
- A **product kit** shows the photo's analysis, a confirm step with the preferences while it
  awaits confirmation (``POST /j/{job_id}/confirm``: the job id is the capability, as for the
  page itself), then the copy per channel and the image gallery, and ``GET
  /j/{job_id}/assets.zip`` (every asset in one zip).
- A **funnel run** is an admin resource: ``GET /admin/runs/{run_id}`` is a shell whose script
  reads the run with the API key kept in the tab (as ``/admin`` does).

Every deliverable follows the platform's one rule (``stores.jobs.delivers``): only a completed
job shows output, copy, images or the zip. A failed job shows a reason category a person can act
on, never the error itself.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from leadmagnet.common.jobflow import completed_artifacts
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Job, JobStatus
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import (
    LIMITS,
    PLATFORMS,
    PRODUCT_KIND,
    ProductAnalysis,
    ProductPreferences,
)
from leadmagnet.common.stores.jobs import delivers
from leadmagnet.flows.kitflow import kit_assets

from ..api import ErrorDetail, HTTPError, error_response, loads_request_json, read_body
from ..progress import progress_of, steps_for
from ..routes.products import KitConfirm, confirm_kit_job
from .render import Branding, message_page, platform_of, render_page, tenant_branding

log = get_logger()
MAX_ID = 64

# ---- what a person may see of a failure ---------------------------------------------------------

PHOTO_RULES = (
    "Please use a JPEG, PNG or WebP photo of at most 10 MB, 800 to 4096 pixels on each side."
)
REASONS: dict[str, tuple[str, str]] = {
    # code: (category, what it means for the person)
    "bad_image": ("The photo could not be read", PHOTO_RULES),
    "bad_type": ("The photo's format is not supported", PHOTO_RULES),
    "type_mismatch": ("The photo's format is not supported", PHOTO_RULES),
    "too_big": ("The photo is too large", PHOTO_RULES),
    "bad_dimensions": ("The photo's size is outside the limits", PHOTO_RULES),
    "callback_failure": (
        "It was not approved",
        "The request was reviewed and not approved. Nothing is needed from you.",
    ),
    "callback_timeout": (
        "The approval did not arrive in time",
        "The review was not completed in time. Please try again later.",
    ),
    "callback_call_failed": (
        "A connected system could not be reached",
        "A system it depends on did not answer. Please try again later.",
    ),
    "provider_rejected": (
        "The AI service declined the request",
        "The AI service would not create this content. Try different wording.",
    ),
    "provider_refused": (
        "The AI service declined the request",
        "The AI service would not create this content. Try different wording.",
    ),
    "timeout": ("It took too long", "Creating it took longer than allowed. Please try again."),
    "provider_timeout": (
        "The AI service was too slow",
        "The AI service did not answer in time. Please try again later.",
    ),
    "provider_unreachable": (
        "The AI service was unavailable",
        "The AI service could not be reached. Please try again later.",
    ),
}
GENERIC_REASON = (
    "Something went wrong on our side",
    "Nothing is needed from you; please try again later.",
)


def failure_reason(job: Job) -> tuple[str, str]:
    """(category, explanation) for a failed job: fixed texts per error code, never the error
    message (it may carry internals: provider answers, URLs, stack details)."""
    return REASONS.get(job.error_code or "", GENERIC_REASON)


# ---- product kits -------------------------------------------------------------------------------

CHANNELS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Shop description",
        [
            ("ecDescription.short", "Short"),
            ("ecDescription.medium", "Medium"),
            ("ecDescription.long", "Long"),
        ],
    ),
    (
        "Social media",
        [
            ("socialMedia.facebook", "Facebook"),
            ("socialMedia.instagram", "Instagram"),
            ("socialMedia.linkedin", "LinkedIn"),
        ],
    ),
    (
        "Ads",
        [
            ("adCopy.googleAdsHeadline", "Google Ads headline"),
            ("adCopy.googleAdsDescription", "Google Ads description"),
            ("adCopy.facebookAd", "Facebook ad"),
        ],
    ),
]
SEO_LISTS = [
    ("primaryKeywords", "Primary keywords"),
    ("longTailKeywords", "Long-tail keywords"),
    ("hashtags", "Hashtags"),
]
PLATFORM_LABELS = {
    "ec": "Online shop",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "google-ads": "Google Ads",
}
LANGUAGES = [
    ("en", "English"),
    ("de", "German"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("it", "Italian"),
    ("nl", "Dutch"),
    ("pt", "Portuguese"),
    ("ja", "Japanese"),
]
TONES = ["professional", "casual", "playful"]
LENGTHS = ["short", "medium", "long"]


@dataclass(frozen=True)
class CopyCard:
    card_id: str
    label: str
    text: str
    count: int
    limit: int

    @property
    def over(self) -> bool:
        return self.count > self.limit


@dataclass(frozen=True)
class GalleryItem:
    asset_id: str
    label: str
    url: str
    thumb_url: str


def _analysis(job: Job) -> ProductAnalysis | None:
    raw = job.data.get("analysis")
    if not isinstance(raw, dict):
        return None
    try:
        return ProductAnalysis.model_validate(raw)
    except ValidationError:
        return None


def _preferences(job: Job) -> ProductPreferences:
    try:
        return ProductPreferences.model_validate(job.data.get("preferences") or {})
    except ValidationError:
        return ProductPreferences()


def copy_cards(content: dict[str, Any]) -> list[tuple[str, list[CopyCard]]]:
    groups = []
    for title, fields in CHANNELS:
        cards = []
        for path, label in fields:
            group, name = path.split(".")
            section = content.get(group)
            text = section.get(name) if isinstance(section, dict) else None
            if isinstance(text, str):
                cards.append(CopyCard(path.replace(".", "-"), label, text, len(text), LIMITS[path]))
        if cards:
            groups.append((title, cards))
    return groups


def seo_lists(content: dict[str, Any]) -> list[tuple[str, list[str]]]:
    seo = content.get("seo")
    if not isinstance(seo, dict):
        return []
    out = []
    for name, label in SEO_LISTS:
        items = seo.get(name)
        if isinstance(items, list) and items:
            out.append((label, [str(i) for i in items]))
    return out


def _asset_label(kind: str, asset_id: str) -> str:
    if kind == "package":
        return f"Package design · {asset_id.split('-')[0]}"
    name, _, size = asset_id.rpartition("-")
    platform = {"google": "Google Ads"}.get(name, name.capitalize())
    times = "\N{MULTIPLICATION SIGN}"
    return f"{platform} ad · {size.replace('x', times)}"


async def kit_context(platform: Platform, job: Job) -> dict[str, Any]:
    prefs = _preferences(job)
    context: dict[str, Any] = {
        "analysis": _analysis(job),
        "prefs": prefs,
        "languages": LANGUAGES
        if any(code == prefs.language for code, _ in LANGUAGES)
        else [*LANGUAGES, (prefs.language, prefs.language)],
        "tones": TONES,
        "lengths": LENGTHS,
        "platform_options": [(p, PLATFORM_LABELS[p]) for p in PLATFORMS],
        "awaiting_confirmation": job.status is JobStatus.AWAITING_CONFIRMATION,
        "copy_groups": [],
        "seo": [],
        "gallery": [],
        "zip_url": None,
    }
    if not delivers(job):  # the platform's one rule: nothing of the result before completion
        return context
    keys, urls = await kit_assets(platform, job)
    gallery = []
    for kind, group in (("package", "packages"), ("ad", "ads")):
        for key, url in zip(keys[group], urls[group], strict=True):
            asset_id = key.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            thumb = urls["thumbnails"].get(asset_id) or url
            gallery.append(GalleryItem(asset_id, _asset_label(kind, asset_id), url, thumb))
    content: dict[str, Any] = {}
    if keys["content"]:
        try:
            loaded = json.loads(await platform.artifacts.read(keys["content"]))
            content = loaded if isinstance(loaded, dict) else {}
        except Exception as e:  # a missing or broken copy file: show the rest of the kit
            log.warning("kit_page.content_unreadable", job_id=job.job_id, error=str(e))
    context.update(
        copy_groups=copy_cards(content),
        seo=seo_lists(content),
        gallery=gallery,
        zip_url=f"/j/{job.job_id}/assets.zip",
    )
    return context


# ---- headings per kind and state ----------------------------------------------------------------

HEADINGS: dict[str, dict[str, str]] = {
    "lead_magnet": {
        "completed": "Your report is ready",
        "failed": "We could not finish your report",
        "cancelled": "This report was cancelled",
        "awaiting_callback": "Your report is waiting for approval",
        "": "We are preparing your report",
    },
    PRODUCT_KIND: {
        "completed": "Your marketing kit is ready",
        "failed": "We could not finish your marketing kit",
        "cancelled": "This marketing kit was cancelled",
        "awaiting_confirmation": "Check the analysis, then confirm",
        "": "We are preparing your marketing kit",
    },
}


def heading(job: Job) -> str:
    texts = HEADINGS.get(job.kind, HEADINGS["lead_magnet"])
    return texts.get(job.status.value, texts[""])


async def page_context(platform: Platform, job: Job) -> dict[str, Any]:
    """What job.html needs beyond the progress: the kind's view of the job."""
    is_kit = job.kind == PRODUCT_KIND
    category, explanation = failure_reason(job) if job.status is JobStatus.FAILED else ("", "")
    return {
        "view": "kit" if is_kit else "report",
        "heading": heading(job),
        "awaiting_approval": job.status is JobStatus.AWAITING_CALLBACK,
        "reason": category,
        "reason_text": explanation,
        "kit": await kit_context(platform, job) if is_kit else None,
        "confirm_error": None,
        "posted_platforms": None,  # a refused form post shows what was sent
    }


# ---- POST /j/{job_id}/confirm -------------------------------------------------------------------

NOT_CONFIRMABLE = {
    "already_completed": "This kit was already confirmed and is ready.",
    "already_confirmed": "This kit was already confirmed: it is being generated.",
    "kit_failed": "This kit could not be finished, so it cannot be confirmed.",
    "not_ready": "The photo is still being analysed: confirm once the analysis is shown.",
}


def _wants_json(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == "application/json" or "application/json" in request.headers.get("accept", "")


def _form_preferences(raw: bytes) -> dict[str, Any]:
    pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    prefs: dict[str, Any] = {"platforms": []}
    for name, value in pairs:
        if name == "platforms":
            prefs["platforms"].append(value)
        elif name in ("language", "tone", "targetLength"):
            prefs[name] = value
    return prefs


async def _confirm_body(request: Request, platform: Platform) -> KitConfirm:
    raw = await read_body(request, platform.settings.max_body_bytes)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if ctype == "application/json":
            return KitConfirm.model_validate(loads_request_json(raw) if raw else {})
        if ctype == "application/x-www-form-urlencoded":
            prefs = _form_preferences(raw)
            request.state.posted_platforms = prefs["platforms"]
            return KitConfirm.model_validate({"preferences": prefs})
    except ValueError as e:  # pydantic's ValidationError, or too many form fields
        details = (
            [
                ErrorDetail(loc=".".join(["body", *map(str, i["loc"])]), message=i["msg"])
                for i in e.errors(include_url=False)
            ]
            if isinstance(e, ValidationError)
            else []
        )
        raise HTTPError(422, "validation_error", "the preferences are invalid", details) from None
    raise HTTPError(415, "unsupported_media_type", "send the preferences as JSON or as a form post")


def _friendly(e: HTTPError) -> str:
    if e.code in NOT_CONFIRMABLE:
        return NOT_CONFIRMABLE[e.code]
    if e.code == "validation_error":
        platforms = any(d.loc.startswith("body.preferences.platforms") for d in e.details)
        return (
            "Choose at least one platform."
            if platforms
            else "Some preferences are invalid: please check them."
        )
    return e.message


async def confirm_page(request: Request) -> Response:
    """The job page's confirm step: the same confirm as ``POST /v1/jobs/{id}/confirm`` with the
    job id as the capability. JSON in or ``Accept: application/json`` → JSON out (202 or the
    API's error body); a plain form post → 303 back to the page, or the page with the reason."""
    platform: Platform = request.app.state.platform
    json_out = _wants_json(request)
    job_id = request.path_params["job_id"]
    job = await platform.jobs.get(job_id) if len(job_id) <= MAX_ID else None
    if job is None or job.kind != PRODUCT_KIND:
        if json_out:
            return error_response(HTTPError(404, "job_not_found", "no such kit"))
        return message_page(404, "Not found", "We cannot find this page. Check the link you used.")
    try:
        body = await _confirm_body(request, platform)
        accepted = await confirm_kit_job(platform, job, body.preferences)
    except HTTPError as e:
        if json_out:
            return error_response(HTTPError(e.status, e.code, _friendly(e), e.details, e.headers))
        posted = getattr(request.state, "posted_platforms", None)
        return await render_job_page(
            request, job, status=e.status, confirm_error=_friendly(e), posted_platforms=posted
        )
    if json_out:
        return JSONResponse(accepted.model_dump(mode="json"), status_code=202)
    return RedirectResponse(f"/j/{job.job_id}", status_code=303)


# ---- GET /j/{job_id}/assets.zip -----------------------------------------------------------------


def _zip_name(job: Job, key: str) -> str | None:
    for prefix in (f"generated/{job.job_id}/", f"thumbnails/{job.job_id}/"):
        if key.startswith(prefix):
            rest = key.removeprefix(prefix)
            return rest if prefix.startswith("generated/") else f"thumbnails/{rest}"
    return None


async def _zip_stream(
    platform: Platform, job: Job, keys: list[tuple[str, str]]
) -> AsyncIterator[bytes]:
    """A zip written file by file (memory: one asset at a time); images are stored as they are
    (PNG/WebP are compressed already), JSON is deflated."""

    class Sink:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []
            self.size = 0

        def write(self, data: bytes) -> int:
            self.chunks.append(bytes(data))
            self.size += len(data)
            return len(data)

        def tell(self) -> int:
            return self.size

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

        def drain(self) -> bytes:
            out = b"".join(self.chunks)
            self.chunks.clear()
            return out

    sink = Sink()
    with zipfile.ZipFile(sink, "w") as archive:
        for key, name in keys:
            data = await platform.artifacts.read(key)
            method = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
            archive.writestr(name, data, compress_type=method)
            yield sink.drain()
    yield sink.drain()


async def kit_zip(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    job_id = request.path_params["job_id"]
    job = await platform.jobs.get(job_id) if len(job_id) <= MAX_ID else None
    if job is None or job.kind != PRODUCT_KIND:
        return message_page(404, "Not found", "We cannot find this page. Check the link you used.")
    if not delivers(job):
        return message_page(409, "Not ready", "The kit is not finished yet: nothing to download.")
    artifacts = await completed_artifacts(platform, job)
    keys = sorted(
        (a.s3_key, name) for a in artifacts if (name := _zip_name(job, a.s3_key)) is not None
    )
    filename = f"marketing-kit-{job.job_id[-12:]}.zip"
    return StreamingResponse(
        _zip_stream(platform, job, keys),
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )


# ---- GET /admin/runs/{run_id} -------------------------------------------------------------------


async def run_page(request: Request) -> Response:
    """A shell: the run is an admin resource, read by run.js with the tab's API key."""
    run_id = request.path_params["run_id"][:MAX_ID]
    return render_page("run.html", brand=Branding(name="leadmagnet admin"), run_id=run_id)


async def render_job_page(
    request: Request, job: Job, *, status: int = 200, **overrides: Any
) -> Response:
    """The job page of any kind (``kinds.page_context`` adds the kind's view; ``overrides``
    replace parts of it, e.g. the confirm step's error after a refused post)."""
    platform = platform_of(request)
    progress = progress_of(await platform.jobs.timeline(job.job_id))
    done = delivers(job) and job.output_key is not None  # the platform's one rule
    context = await page_context(platform, job)
    return render_page(
        "job.html",
        status=status,
        **{**context, **overrides},
        brand=await tenant_branding(platform, job.tenant_id, job.workflow_id),
        job_id=job.job_id,
        job_status=job.status.value,
        finished=job.status.terminal,
        progress=progress.percent,
        stage_text=progress.label,
        steps=steps_for(job.kind, progress.percent),
        output_url=await platform.artifacts.url(job.output_key)
        if done and job.output_key
        else None,
        retry_url=f"/f/{job.form_slug}" if job.form_slug else None,
    )
