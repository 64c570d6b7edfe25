"""Funnel rewrite runs, imager stage (seed 001: LoadTemplate, ProcessImagesBatch,
ProcessImagesMap with MaxConcurrency 3, AggregateImageResults).

``run.requested`` -> every image element regenerated in the brand's style, at most
``RUN_IMAGE_CONCURRENCY`` (3) at once per run -> ``run.images_processed``.

The whole stage runs under the (stage, run) idempotency lease, so a duplicate delivery waits
instead of doubling the concurrency; images stored by an earlier delivery are reused (their
artifact is registered on the job), so a retry redoes only what failed.

Writes are gathered: the images' records go in one batch, their registrations and costs with the
run's result, and the per-image log lines with the aggregate (one UpdateItem).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from typing import Any

from leadmagnet.common.errors import Deferred, LeadmagnetError, PermanentError, TransientError
from leadmagnet.common.events.runs import ImageElementResult, RunImagesProcessed, RunRequested
from leadmagnet.common.jobflow import completed_artifacts
from leadmagnet.common.models import Job, JobStatus, TimelineEvent
from leadmagnet.common.providers.base import CallCost, ImageRequest, Usage
from leadmagnet.common.stages import JobStage, Output, StageCall
from leadmagnet.common.stores.artifacts import ArtifactBatch
from leadmagnet.common.tenant_limits import within_model_slot
from leadmagnet.flows.funnels import (
    MAX_IMAGE_ELEMENTS,
    RUN_KIND,
    ImageElement,
    PendingEntries,
    RunSpec,
    find_image_elements,
    load_run_spec,
)

from .stage_files import charge, put_file

STAGE = "images"
_HEX = re.compile(r"#[0-9a-fA-F]{6}\b")
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def image_prompt(spec: RunSpec, element: ImageElement) -> str:
    return (
        f"Create the '{element.element_id}' image of a marketing funnel for the brand described "
        "below. Follow its colours, typography and mood; no text except the brand name.\n"
        f"The image it replaces: {element.url}\n\n"
        f"Brand guide (excerpt):\n{spec.brand_guide[:3000]}\n\n"
        f"Campaign brief:\n{spec.input_text[:1500]}"
    )


def element_key(job: Job, element: ImageElement, extension: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", element.element_id)[:80]
    digest = hashlib.sha256(element.element_id.encode()).hexdigest()[:8]
    return f"{job.tenant_id}/runs/{job.job_id}/images/{slug}-{digest}.{extension}"


class _ImageBatch:
    """One run's image elements, processed with bounded concurrency (the delivery's call stores
    each image on the job)."""

    def __init__(self, call: StageCall[RunRequested], spec: RunSpec, notes: PendingEntries) -> None:
        self.call = call
        self.platform = call.platform
        self.job = call.job
        self.spec = spec
        self.notes = notes
        self.attempt = call.attempt
        self.limit = asyncio.Semaphore(call.platform.settings.run_image_concurrency)

    async def run(self, elements: list[ImageElement]) -> list[tuple[ImageElementResult, bool]]:
        # What earlier deliveries stored and registered (the job as the claim read it).
        stored = {a.s3_key: a for a in await completed_artifacts(self.platform, self.job)}
        async with self.platform.artifacts.batch() as batch:
            return await asyncio.gather(*(self.one(e, stored, batch) for e in elements))

    async def one(
        self, element: ImageElement, stored: dict[str, Any], batch: ArtifactBatch
    ) -> tuple[ImageElementResult, bool]:
        """(result, transient failure?)"""
        platform, job = self.platform, self.job
        for extension in _EXTENSIONS.values():
            earlier = stored.get(element_key(job, element, extension))
            if earlier is not None:
                return self._ok(
                    element, earlier.artifact_id, await self._url(earlier.s3_key)
                ), False
        async with self.limit:
            started = time.monotonic()
            provider = platform.providers.image
            request = ImageRequest(
                prompt=image_prompt(self.spec, element),
                size=self.spec.settings.image_size,
                quality=self.spec.settings.image_quality,
                stage=STAGE,
                palette=_HEX.findall(self.spec.brand_guide)[:5],
                label=element.element_id,
            )
            try:
                image = await within_model_slot(
                    platform, job.tenant_id, provider, lambda: provider.generate_image(request)
                )
            except Deferred:
                raise  # the tenant's model slots are taken: the run waits, no image failed
            except LeadmagnetError as e:
                await charge(self.call, self._failed_call(provider.name, e))
                self.notes.log(
                    f"image {element.element_id} failed: {e.message}",
                    level="warn",
                    data={"elementId": element.element_id, "error": e.message, "code": e.code},
                )
                failed = ImageElementResult(
                    element_id=element.element_id,
                    status="failed",
                    original_url=element.url,
                    error=e.message,
                    attempts=self.attempt,
                )
                return failed, isinstance(e, TransientError)
            await charge(self.call, image.cost)
            key = element_key(job, element, _EXTENSIONS[image.media_type])
            artifact = await put_file(
                self.call,
                batch,
                kind="funnel_image",
                key=key,
                body=image.data,
                content_type=image.media_type,
            )
            duration_ms = round((time.monotonic() - started) * 1000)
            self.notes.log(
                f"image {element.element_id} processed",
                log_type="metric",
                data={
                    "elementId": element.element_id,
                    "duration_ms": duration_ms,
                    "cost_micros": image.cost.cost_micros,
                    "size": f"{image.width}x{image.height}",
                },
            )
        result = self._ok(element, artifact.artifact_id, await self._url(key))
        return result.model_copy(update={"cost_micros": image.cost.cost_micros}), False

    def _ok(self, element: ImageElement, artifact_id: str, url: str) -> ImageElementResult:
        return ImageElementResult(
            element_id=element.element_id,
            status="ok",
            original_url=element.url,
            new_url=url,
            artifact_id=artifact_id,
            attempts=self.attempt,
        )

    async def _url(self, key: str) -> str:
        return await self.platform.artifacts.url(key)

    def _failed_call(self, provider: str, error: LeadmagnetError) -> CallCost:
        spent = getattr(error, "cost", None)
        if isinstance(spent, CallCost):
            return spent
        # A failed attempt is still a call: counted, priced at what it cost (nothing).
        return CallCost(
            provider=provider,
            model=self.platform.settings.openai_image_model if provider == "openai" else provider,
            operation="image",
            stage=STAGE,
            usage=Usage(images=0, image_quality=self.spec.settings.image_quality),
            cost_micros=0,
            price_version="failed-call",
        )


async def process_images(call: StageCall[RunRequested]) -> dict[str, Any]:
    """The once-per-run work: every image element, then the aggregate on the job."""
    platform, job, attempt = call.platform, call.job, call.attempt
    spec = await load_run_spec(platform, job)
    try:
        elements = find_image_elements(spec.funnel, spec.settings)
    except (KeyError, ValueError) as e:
        raise PermanentError(f"imageFields: {e}", code="bad_template") from None
    if len(elements) > MAX_IMAGE_ELEMENTS:
        raise PermanentError(
            f"the funnel has {len(elements)} image elements; the limit is {MAX_IMAGE_ELEMENTS}",
            code="too_many_images",
        )
    await platform.jobs.record(
        job.job_id,
        TimelineEvent.RUN_IMAGES_STARTED,
        f"template {spec.template_id} v{spec.template_version} loaded; "
        f"processing {len(elements)} image element(s)",
        status=JobStatus.PROCESSING,
        stage=STAGE,
        data={"elements": [e.element_id for e in elements], "attempt": attempt},
    )
    notes = PendingEntries(platform, job.job_id, STAGE)
    try:
        outcomes = await _ImageBatch(call, spec, notes).run(elements)
    except BaseException:
        await notes.write_before_failing()  # the lines of the images that were made
        raise
    transient = [r for r, retry in outcomes if retry]
    if transient and attempt < platform.settings.run_image_attempts:
        await notes.write_before_failing()
        raise TransientError(
            f"{len(transient)} image(s) failed transiently; retrying: "
            + "; ".join(f"{r.element_id}: {r.error}" for r in transient[:3]),
            code="image_retry",
        )
    results = [r for r, _ in outcomes]
    failed = [r for r in results if r.status == "failed"]
    if failed and spec.settings.on_image_failure == "keep_original":
        results = [
            r.model_copy(update={"status": "kept_original", "new_url": r.original_url})
            if r.status == "failed"
            else r
            for r in results
        ]
    summary = [r.model_dump(mode="json") for r in results]
    notes.log(
        f"{len(results) - len(failed)} of {len(results)} image(s) processed",
        event_type=TimelineEvent.RUN_IMAGES_AGGREGATED,
        level="warn" if failed else "info",
        data={"ok": len(results) - len(failed), "failed": len(failed)},
    )
    await notes.write({"data.image_results": summary})  # with the per-image lines
    if failed and spec.settings.on_image_failure == "fail":
        raise PermanentError(
            f"{len(failed)} of {len(results)} image(s) failed: "
            + "; ".join(f"{r.element_id}: {r.error}" for r in failed[:5]),
            code="image_failed",
        )
    return {
        "template_id": spec.template_id,
        "template_version": spec.template_version,
        "results": summary,
    }


async def images_processed(call: StageCall[RunRequested], result: dict[str, Any]) -> list[Output]:
    job = call.job
    return [
        RunImagesProcessed(
            job_id=job.job_id,
            tenant_id=job.tenant_id,
            template_id=result["template_id"],
            template_version=result["template_version"],
            results=[ImageElementResult.model_validate(r) for r in result["results"]],
        )
    ]


IMAGES = JobStage(
    name=STAGE,
    consumes=(RunRequested,),
    kinds=frozenset({RUN_KIND}),
    work=process_images,
    then=images_processed,
    emits=(RunImagesProcessed,),
    # the first two from load_run_spec (the pinned template version, the run's settings)
    fails_with=(
        "template_unavailable",
        "bad_run",
        "bad_template",
        "too_many_images",
        "image_retry",
        "image_failed",
    ),
)
