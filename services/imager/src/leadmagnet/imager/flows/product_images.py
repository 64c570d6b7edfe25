"""Product kits, imager branch (seed 002: package designs and ad creatives, in parallel with the
reporter's copy).

``product.confirmed`` -> three package designs (modern, bold, premium) and an ad creative per
chosen platform in its size (1080x1080, 1200x628...), at most ``RUN_IMAGE_CONCURRENCY`` at once,
each with a WebP thumbnail -> the branch joins. The image model draws at its nearest supported
size and the result is cropped to the platform size. A provider that makes variations of a photo
(Bedrock's Nova Canvas) gets the uploaded photo too. Assets stored by an earlier delivery are
kept, so a retry only makes what is missing.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from PIL import Image, ImageOps

from leadmagnet.common.consumer import Routes
from leadmagnet.common.events import spec_of
from leadmagnet.common.events.products import ProductConfirmed
from leadmagnet.common.kitflow import branch_route, report_progress
from leadmagnet.common.models import Job
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import (
    AD_FORMATS,
    PACKAGE_STYLES,
    THUMBNAIL_SIDE,
    ProductAnalysis,
    ProductPreferences,
    generated_key,
    thumbnail_key,
)
from leadmagnet.common.providers.base import ImageInput, ImageRequest

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
        small = im.convert("RGB")
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buf = io.BytesIO()
    small.save(buf, format="WEBP", quality=80)
    return buf.getvalue()


def source_photo(data: bytes) -> ImageInput:
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
    rgb.thumbnail((SOURCE_SIDE, SOURCE_SIDE))
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=90)
    return ImageInput(data=buf.getvalue(), media_type="image/jpeg")


async def uploaded_photo(platform: Platform, job: Job) -> list[ImageInput]:
    """The kit's photo, for providers that draw variations of it (none else: no extra read)."""
    s3_key = job.data.get("s3_key")
    if not s3_key or not getattr(platform.providers.image, "uses_source_images", False):
        return []
    obj = await platform.aws.s3.get_object(Bucket=platform.resources.bucket("uploads"), Key=s3_key)
    async with obj["Body"] as stream:
        data: bytes = await stream.read()
    return [await asyncio.to_thread(source_photo, data)]


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


async def make_images(platform: Platform, job: Job, prefs: ProductPreferences) -> dict[str, Any]:
    analysis = ProductAnalysis.model_validate(job.data.get("analysis") or {})
    assets = plan(prefs)
    await report_progress(
        platform,
        job.job_id,
        job.tenant_id,
        "job.generating",
        f"making {len(assets)} images",
        progress=55,
        stage=BRANCH,
        payload={"stage": BRANCH, "total": len(assets)},
    )
    stored = {a.s3_key for a in await platform.artifacts.list_for_job(job.job_id)}
    limit = asyncio.Semaphore(platform.settings.run_image_concurrency)
    palette = [c.hex for c in analysis.visual.dominantColors]
    missing = [
        a
        for a in assets
        if {generated_key(job.job_id, f"{a[1]}/{a[0]}.png"), thumbnail_key(job.job_id, a[0])}
        - stored
    ]
    sources = await uploaded_photo(platform, job) if missing else []

    async def one(asset_id: str, folder: str, width: int, height: int, suffix: str) -> None:
        key = generated_key(job.job_id, f"{folder}/{asset_id}.png")
        if key in stored and thumbnail_key(job.job_id, asset_id) in stored:
            return
        async with limit:
            image = await platform.providers.image.generate_image(
                ImageRequest(
                    prompt=f"{base_prompt(analysis)} {suffix}.",
                    size=model_size(width, height),
                    stage=BRANCH,
                    palette=palette,
                    label=f"{asset_id} placeholder",
                    source_images=sources,
                )
            )
            await platform.jobs.add_cost(job.job_id, image.cost)
            png = await asyncio.to_thread(fit, image.data, width, height)
            thumb = await asyncio.to_thread(thumbnail, png)
        for kind, k, body, ctype in (
            ("package_design" if folder == "packages" else "ad_creative", key, png, "image/png"),
            ("thumbnail", thumbnail_key(job.job_id, asset_id), thumb, "image/webp"),
        ):
            artifact = await platform.artifacts.put(
                tenant_id=job.tenant_id,
                job_id=job.job_id,
                kind=kind,
                filename=k.rsplit("/", 1)[-1],
                body=body,
                content_type=ctype,
                public=True,
                key=k,
            )
            await platform.jobs.add_artifact(job.job_id, artifact.artifact_id)
        await platform.jobs.log(
            job.job_id,
            f"{folder}/{asset_id} ready ({width}x{height})",
            stage=BRANCH,
            data={"asset": asset_id, "width": width, "height": height},
        )

    await asyncio.gather(*(one(*a) for a in assets))
    return {"assets": [a[0] for a in assets]}


def routes(platform: Platform) -> Routes:
    return {spec_of(ProductConfirmed).type: branch_route(platform, BRANCH, make_images)}
