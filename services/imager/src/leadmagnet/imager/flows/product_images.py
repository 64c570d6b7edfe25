"""Product kits, imager branch (seed 002: package designs and ad creatives, in parallel with the
reporter's copy).

``product.confirmed`` -> three package designs (modern, bold, premium) and an ad creative per
chosen platform in its size (1080x1080, 1200x628...), at most ``RUN_IMAGE_CONCURRENCY`` at once,
each with a WebP thumbnail -> the branch joins. The image model draws at its nearest supported
size and the result is cropped to the platform size. A provider that makes variations of a photo
(Bedrock's Nova Canvas) gets the uploaded photo too. Assets stored by an earlier delivery are
kept, so a retry only makes what is missing.

With the offline provider the creatives are composed from the uploaded photo (``creatives``): the
product cut out onto a canvas in the analysis colours, per style and size, with the headline of
the copy — the stored ``content.json`` when the reporter's branch has already written it, else the
same headline the offline copy derives from the analysis (the branches run in parallel and
neither waits for the other) — and a small "offline draft" label. All Pillow work runs in a thread;
an asset and its thumbnail come from one composition (no PNG decoded again), and assets of the
same layout and size (Facebook's and Instagram's squares) are composed once.

The work's files are recorded in one batch and registered on the job, with the images' costs
and the per-asset log lines, in the run's own final write (``stage_files``).
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from PIL import Image, ImageOps

from leadmagnet.common import creatives
from leadmagnet.common.events.products import ProductConfirmed
from leadmagnet.common.jobflow import completed_artifacts
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Job, TimelineEvent
from leadmagnet.common.offline_copy import MARKER, draft_copy
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import (
    AD_FORMATS,
    PACKAGE_STYLES,
    THUMBNAIL_SIDE,
    ProductAnalysis,
    ProductPreferences,
    generated_key,
    open_photo,
    thumbnail_key,
)
from leadmagnet.common.providers.base import ImageInput, ImageRequest
from leadmagnet.common.providers.offline import image_cost
from leadmagnet.common.stages import StageCall
from leadmagnet.common.stores.artifacts import ArtifactBatch
from leadmagnet.common.tenant_limits import within_model_slot
from leadmagnet.flows.kitflow import branch_stage, report_progress

from .stage_files import charge, put_file

log = get_logger()

BRANCH = "images"
SOURCE_SIDE = 1024  # longest side of the photo given to a variation model


def model_size(width: int, height: int) -> str:
    """The image model's nearest supported canvas for a target aspect ratio."""
    ratio = width / height
    if ratio > 1.2:
        return "1536x1024"
    if ratio < 0.83:
        return "1024x1536"
    return "1024x1024"


def fit(data: bytes, width: int, height: int) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        fitted = ImageOps.fit(im.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    fitted.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def thumbnail(png: bytes) -> bytes:
    with Image.open(io.BytesIO(png)) as im:
        return thumbnail_of(im)


def thumbnail_of(image: Image.Image) -> bytes:
    small = image.convert("RGB")
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buf = io.BytesIO()
    small.save(buf, format="WEBP", quality=80)
    return buf.getvalue()


def source_photo(data: bytes) -> ImageInput:
    rgb = open_photo(data)
    rgb.thumbnail((SOURCE_SIDE, SOURCE_SIDE))
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=90)
    return ImageInput(data=buf.getvalue(), media_type="image/jpeg")


async def read_upload(platform: Platform, job: Job) -> bytes | None:
    s3_key = job.kit_data().s3_key
    if not s3_key:
        return None
    obj = await platform.aws.s3.get_object(Bucket=platform.resources.bucket("uploads"), Key=s3_key)
    async with obj["Body"] as stream:
        data: bytes = await stream.read()
    return data


async def uploaded_photo(platform: Platform, job: Job) -> list[ImageInput]:
    """The kit's photo, for providers that draw variations of it (none else: no extra read)."""
    if not getattr(platform.providers.image, "uses_source_images", False):
        return []
    data = await read_upload(platform, job)
    return [await asyncio.to_thread(source_photo, data)] if data else []


def prepare_photo(data: bytes) -> creatives.Product:
    return creatives.prepare_product(open_photo(data))


def _unmarked(text: str) -> str:
    for marker in MARKER.values():
        text = text.removeprefix(marker)
    return text.strip()


def creative_words(
    analysis: ProductAnalysis, prefs: ProductPreferences, content: dict[str, Any] | None
) -> creatives.Words:
    """What the offline creatives say: the written copy's ad headline and short description when
    the copy branch has stored it, else the offline copy's (derived from the analysis alone).
    English stands in where no installed font can draw the language."""
    english = draft_copy(analysis, prefs.model_copy(update={"language": "en"}))
    own = draft_copy(analysis, prefs)
    headline, subline = own.adCopy.googleAdsHeadline, own.ecDescription.short
    if content:
        try:
            headline = _unmarked(str(content["adCopy"]["googleAdsHeadline"])) or headline
            subline = _unmarked(str(content["ecDescription"]["short"])) or subline
        except (KeyError, TypeError):
            pass
    ja = prefs.language.lower().startswith("ja")
    return creatives.Words(
        headline=headline,
        subline=subline,
        cta="今すぐチェック" if ja else "Shop now",
        badge="新登場" if ja else "NEW",
        headline_fallback=english.adCopy.googleAdsHeadline,
        subline_fallback=english.ecDescription.short,
    )


async def stored_copy(platform: Platform, job: Job, stored: set[str]) -> dict[str, Any] | None:
    key = generated_key(job.job_id, "content.json")
    if key not in stored:
        return None
    try:
        content = json.loads(await platform.artifacts.read(key))
    except Exception as e:  # the copy is optional here: the analysis stands in
        log.warning("kit copy unreadable for creatives", job_id=job.job_id, error=str(e))
        return None
    return content if isinstance(content, dict) else None


def layout_of(asset_id: str, folder: str) -> str:
    if folder == "ads":
        return "ad"
    return asset_id.split("-", 1)[0] if asset_id.split("-", 1)[0] in creatives.LAYOUTS else "modern"


def compose_png(
    product: creatives.Product,
    layout: str,
    width: int,
    height: int,
    palette: list[str],
    words: creatives.Words,
) -> bytes:
    return compose_pictures(product, layout, width, height, palette, words)[0]


def compose_pictures(
    product: creatives.Product,
    layout: str,
    width: int,
    height: int,
    palette: list[str],
    words: creatives.Words,
) -> tuple[bytes, bytes]:
    """(PNG, WebP thumbnail) of one creative, both from the same composed image."""
    composition = creatives.compose(
        product, layout=layout, width=width, height=height, colours=palette, words=words
    )
    return creatives.to_png(composition.image), thumbnail_of(composition.image)


def base_prompt(a: ProductAnalysis) -> str:
    colours = ", ".join(c.name for c in a.visual.dominantColors)
    return (
        f"Professional product packaging design for {a.product.category} ({a.product.type}). "
        f"Style: {a.visual.style}. Colours: {colours}. Mood: {a.visual.mood}. Target audience: "
        f"{', '.join(a.branding.targetAudience.demographics) or 'general'}. Finish: "
        f"{a.features.finish}. High-quality commercial photography style, clean background, "
        "professional lighting, product-focused composition, marketing-ready."
    )


def plan(prefs: ProductPreferences) -> list[tuple[str, str, int, int, str]]:
    """(asset id, folder, width, height, prompt suffix) for every asset of the kit."""
    assets = [(name, "packages", 1024, 1024, text) for name, text in PACKAGE_STYLES]
    for platform_name in prefs.platforms:
        for name, width, height in AD_FORMATS.get(platform_name, []):
            assets.append((name, "ads", width, height, f"Ad creative for {platform_name}"))
    return assets


async def make_images(
    call: StageCall[ProductConfirmed], prefs: ProductPreferences
) -> dict[str, Any]:
    platform, job = call.platform, call.job
    analysis = ProductAnalysis.model_validate(job.kit_data().analysis or {})
    assets = plan(prefs)
    await report_progress(
        platform,
        job.job_id,
        job.tenant_id,
        TimelineEvent.JOB_GENERATING,
        f"making {len(assets)} images",
        progress=55,
        stage=BRANCH,
        payload={"stage": BRANCH, "total": len(assets)},
    )
    # What earlier deliveries stored and registered (the job as the claim read it).
    stored = {a.s3_key for a in await completed_artifacts(platform, job)}
    limit = asyncio.Semaphore(platform.settings.run_image_concurrency)
    palette = [c.hex for c in analysis.visual.dominantColors]
    missing = [
        a
        for a in assets
        if {generated_key(job.job_id, f"{a[1]}/{a[0]}.png"), thumbnail_key(job.job_id, a[0])}
        - stored
    ]
    sources = await uploaded_photo(platform, job) if missing else []
    product: creatives.Product | None = None
    words: creatives.Words | None = None
    if missing and platform.providers.image.name == "offline":
        upload = await read_upload(platform, job)
        if upload:
            product = await asyncio.to_thread(prepare_photo, upload)
            words = creative_words(analysis, prefs, await stored_copy(platform, job, stored))
    # Offline creatives of the same layout and size are the same picture: composed once.
    composed: dict[tuple[str, int, int], asyncio.Task[tuple[bytes, bytes]]] = {}

    async def generated(asset_id: str, width: int, height: int, suffix: str) -> tuple[bytes, bytes]:
        """The image model's picture at its nearest size, cropped to the platform's."""
        provider = platform.providers.image
        request = ImageRequest(
            prompt=f"{base_prompt(analysis)} {suffix}.",
            size=model_size(width, height),
            stage=BRANCH,
            palette=palette,
            label=f"{asset_id} placeholder",
            source_images=sources,
        )
        image = await within_model_slot(
            platform, job.tenant_id, provider, lambda: provider.generate_image(request)
        )
        await charge(call, image.cost)
        png = await asyncio.to_thread(fit, image.data, width, height)
        return png, await asyncio.to_thread(thumbnail, png)

    async def offline(
        product: creatives.Product, words: creatives.Words, layout: str, width: int, height: int
    ) -> tuple[bytes, bytes]:
        shape = (layout, width, height)
        if shape not in composed:
            composed[shape] = asyncio.ensure_future(
                asyncio.to_thread(compose_pictures, product, layout, width, height, palette, words)
            )
        pictures = await composed[shape]
        await charge(call, image_cost(BRANCH, f"{width}x{height}", "standard"))
        return pictures

    async def one(
        batch: ArtifactBatch, asset_id: str, folder: str, width: int, height: int, suffix: str
    ) -> None:
        key = generated_key(job.job_id, f"{folder}/{asset_id}.png")
        if key in stored and thumbnail_key(job.job_id, asset_id) in stored:
            return
        async with limit:
            if product is not None and words is not None:
                layout = layout_of(asset_id, folder)
                png, thumb = await offline(product, words, layout, width, height)
            else:
                png, thumb = await generated(asset_id, width, height, suffix)
        kind = "package_design" if folder == "packages" else "ad_creative"
        await asyncio.gather(
            put_file(call, batch, kind=kind, key=key, body=png, content_type="image/png"),
            put_file(
                call,
                batch,
                kind="thumbnail",
                key=thumbnail_key(job.job_id, asset_id),
                body=thumb,
                content_type="image/webp",
            ),
        )
        await call.note(
            TimelineEvent.LOG,
            f"{folder}/{asset_id} ready ({width}x{height}"
            + (", an offline draft composed from the photo)" if product else ")"),
            {"asset": asset_id, "width": width, "height": height},
        )

    async with platform.artifacts.batch() as batch:
        await asyncio.gather(*(one(batch, *a) for a in assets))
    return {"assets": [a[0] for a in assets]}


IMAGES = branch_stage(BRANCH, make_images)
