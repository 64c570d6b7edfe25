"""A small async client for the gateway, used by tests and benchmarks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx2


@dataclass
class GatewayClient:
    base: str
    client: httpx2.AsyncClient

    async def submit(self, slug: str, fields: dict[str, Any]) -> httpx2.Response:
        return await self.client.post(f"{self.base}/v1/forms/{slug}/submit", json=fields)

    async def job(self, job_id: str) -> dict[str, Any]:
        resp = await self.client.get(f"{self.base}/v1/jobs/{job_id}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def wait_job(
        self,
        job_id: str,
        statuses: tuple[str, ...] = ("completed", "failed"),
        within: float = 60,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            job = await self.job(job_id)
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} stuck in {job['status']}: {job['timeline']}")
            await asyncio.sleep(0.2)
