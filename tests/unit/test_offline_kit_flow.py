"""The imager's kit flows with the offline provider, in process (a stand-in platform records what
the flow stores): the creatives are composed from the uploaded photo, every asset gets a WebP
thumbnail, and the Pillow work runs off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from PIL import Image, ImageDraw

from leadmagnet.common.models import Job
from leadmagnet.common.products import PRODUCT_KIND, ProductPreferences, basic_cv_analysis
from leadmagnet.common.providers import OfflineProvider
from leadmagnet.common.stages import Charges
from leadmagnet.common.stores.artifacts import ArtifactBatch, JobFile
from leadmagnet.imager.flows import product_analysis, product_images

MARKER = (0, 200, 90)


def photo(side: int = 1600) -> bytes:
    im = Image.new("RGB", (side, side), (243, 234, 215))
    d = ImageDraw.Draw(im)
    d.rounded_rectangle(
        (side * 0.35, side * 0.1, side * 0.65, side * 0.9), side // 20, (200, 35, 45)
    )
    d.rectangle((side * 0.35, side * 0.4, side * 0.65, side * 0.6), fill=(30, 70, 160))
    d.rectangle((side * 0.45, side * 0.45, side * 0.55, side * 0.55), fill=MARKER)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


class Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aenter__(self) -> Body:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        return self.data


def fake_platform(upload: bytes, files: dict[str, bytes]) -> Any:
    async def record(*args: Any, **kwargs: Any) -> None:
        return None

    async def put(tenant_id: str, job_id: str, file: JobFile) -> Any:
        files[str(file.key)] = file.body
        return SimpleNamespace(artifact_id=f"art_{len(files)}", s3_key=file.key)

    async def list_for_job(job_id: str, registered: Any = ()) -> list[Any]:
        return [SimpleNamespace(s3_key=k) for k in files]

    async def read(key: str) -> bytes:
        return files[key]

    async def get_object(**kw: Any) -> dict[str, Any]:
        return {"Body": Body(upload), "ContentType": "image/jpeg"}

    @contextlib.asynccontextmanager
    async def batch() -> AsyncIterator[ArtifactBatch]:
        pending = ArtifactBatch(SimpleNamespace(store=put, record_many=record))
        yield pending
        await pending.flush()

    return SimpleNamespace(
        jobs=SimpleNamespace(record=record, add_cost=record, add_artifact=record, log=record),
        bus=SimpleNamespace(publish=record, event=lambda *a, **k: None),
        artifacts=SimpleNamespace(put=put, list_for_job=list_for_job, read=read, batch=batch),
        aws=SimpleNamespace(s3=SimpleNamespace(get_object=get_object)),
        resources=SimpleNamespace(bucket=lambda name: name),
        settings=SimpleNamespace(run_image_concurrency=3),
        providers=SimpleNamespace(image=OfflineProvider(), vision=OfflineProvider()),
    )


async def ticking(work: Any) -> tuple[Any, int]:
    """Run ``work`` while a ticker counts how often the event loop got to run it."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    try:
        result = await work
    finally:
        done.set()
        await task
    return result, ticks


async def test_offline_kit_creatives_are_composed_from_the_photo_off_the_loop() -> None:
    upload = photo()
    analysis = basic_cv_analysis(upload, "offline")
    files: dict[str, bytes] = {}
    platform = fake_platform(upload, files)
    job = Job(
        job_id="job_offline",
        tenant_id="ten_x",
        kind=PRODUCT_KIND,
        data={"s3_key": "uploads/ten_x/p.jpg", "analysis": analysis.model_dump(mode="json")},
    )
    prefs = ProductPreferences(platforms=["facebook", "google-ads"])
    started = time.monotonic()
    notes: list[Any] = []

    async def note(*args: Any) -> None:
        notes.append(args)

    call = SimpleNamespace(platform=platform, job=job, charges=Charges(), note=note)
    result, ticks = await ticking(product_images.make_images(call, prefs))
    elapsed = time.monotonic() - started
    assert result == {
        "assets": ["modern-v1", "bold-v2", "premium-v3", "facebook-1080x1080", "google-1200x628"]
    }
    assert ticks >= elapsed / 0.005 * 0.3  # the loop kept running while Pillow worked
    sizes = {
        "generated/job_offline/packages/modern-v1.png": (1024, 1024),
        "generated/job_offline/ads/facebook-1080x1080.png": (1080, 1080),
        "generated/job_offline/ads/google-1200x628.png": (1200, 628),
    }
    for key, size in sizes.items():
        with Image.open(io.BytesIO(files[key])) as im:
            assert im.size == size
            rgb = im.convert("RGB")
        data = rgb.tobytes()
        green = sum(
            1
            for i in range(0, len(data), 3 * 7)
            if abs(data[i] - MARKER[0]) + abs(data[i + 1] - MARKER[1]) + abs(data[i + 2] - 90) < 30
        )
        assert green > 20, key  # the uploaded product is in the picture
    thumbs = [k for k in files if k.startswith("thumbnails/job_offline/")]
    assert len(thumbs) == 5
    # registered, charged and logged with the run's result
    assert len(call.charges.artifacts) == 10
    assert len(call.charges.costs) == 5
    assert len(notes) == 5
    for key in thumbs:
        assert files[key][:4] == b"RIFF"


async def test_the_stored_copy_gives_the_creatives_their_headline() -> None:
    upload = photo(1000)
    analysis = basic_cv_analysis(upload, "offline")
    content = {
        "adCopy": {"googleAdsHeadline": "Written Headline"},
        "ecDescription": {"short": "Written short text."},
    }
    files = {"generated/job_c/content.json": json.dumps(content).encode()}
    platform = fake_platform(upload, files)
    job = Job(
        job_id="job_c",
        tenant_id="ten_x",
        kind=PRODUCT_KIND,
        data={"s3_key": "k", "analysis": analysis.model_dump(mode="json")},
    )
    stored = {"generated/job_c/content.json"}
    words = product_images.creative_words(
        analysis, ProductPreferences(), await product_images.stored_copy(platform, job, stored)
    )
    assert words.headline == "Written Headline"


async def test_the_offline_analysis_runs_off_the_loop() -> None:
    upload = photo(3000)
    platform = fake_platform(upload, {})
    job = Job(job_id="job_a", tenant_id="ten_x", kind=PRODUCT_KIND)
    started = time.monotonic()
    analysis, ticks = await ticking(product_analysis.analyse(platform, job, upload))
    elapsed = time.monotonic() - started
    assert analysis.method == "basic-cv"
    assert ticks >= elapsed / 0.005 * 0.3
