"""Versioned documents per tenant (HTML templates now; funnel templates reuse it).

Table key: pk ``tenant_id``, sk ``{doc_id}#v{version:08d}`` — every lookup is scoped to the
tenant, and one Query (newest first) finds the newest version or the newest published one.

Versions are append-only, and a published one never changes again: a process keeps the published
versions it read. Beside the versions, ``{doc_id}#published`` points at the newest published one
(``version``): publishing moves it forward only, so a job can be pinned to the version published
when it was submitted (read in the same call as the form and its workflow) and its renderer needs
no read at all. A document last published before the pointer existed has none until its next
publish: its jobs are not pinned, and resolve the newest published version when they render.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..dynamo import DynamoTable, is_conditional_failure, parse_all_stored, parse_stored, values
from ..errors import ConflictError, NotFoundError
from ..models import DocumentVersion, utcnow
from ..singleflight import SingleFlight

PUBLISHED = "#published"  # the sk suffix of a document's newest-published pointer


def _sk(doc_id: str, version: int) -> str:
    return f"{doc_id}#v{version:08d}"


def pointer_key(tenant_id: str, doc_id: str) -> dict[str, str]:
    """The key of the item naming a document's newest published version."""
    return {"tenant_id": tenant_id, "sk": f"{doc_id}{PUBLISHED}"}


class VersionedDocuments:
    CACHED = 256  # published versions a process keeps (templates: a few KiB each)

    def __init__(self, aws: AwsClients, table: str, *, label: str = "document") -> None:
        self.table = DynamoTable(aws, table)
        self.label = label
        self._published: OrderedDict[tuple[str, str, int], DocumentVersion] = OrderedDict()
        self._reads: SingleFlight[DocumentVersion | None] = SingleFlight()

    def _keep(self, doc: DocumentVersion) -> DocumentVersion:
        """Remember a published version (it never changes again)."""
        if doc.status == "published":
            self._published[(doc.tenant_id, doc.doc_id, doc.version)] = doc
            self._published.move_to_end((doc.tenant_id, doc.doc_id, doc.version))
            if len(self._published) > self.CACHED:
                self._published.popitem(last=False)
        return doc

    async def published_version(self, tenant_id: str, doc_id: str) -> int | None:
        """The newest published version as the pointer names it (None: no pointer yet)."""
        item = await self.table.get(pointer_key(tenant_id, doc_id))
        return int(item["version"]) if item else None

    async def _advance_pointer(self, doc: DocumentVersion) -> None:
        """Point at ``doc`` as the newest published version, unless a newer one is named."""
        try:
            await self.table.update(
                pointer_key(doc.tenant_id, doc.doc_id),
                UpdateExpression="SET version = :v",
                ConditionExpression="attribute_not_exists(version) OR version < :v",
                ExpressionAttributeValues=values(v=doc.version),
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise

    def _item(self, doc: DocumentVersion) -> dict[str, Any]:
        return {"sk": _sk(doc.doc_id, doc.version), **doc.model_dump(mode="json")}

    async def create_version(
        self, tenant_id: str, doc_id: str, body: dict[str, Any], *, publish: bool = False
    ) -> DocumentVersion:
        """Append the next version (conditional put; retried if two writers race)."""
        for _ in range(5):
            latest = await self.latest(tenant_id, doc_id)
            version = (latest.version + 1) if latest else 1
            doc = DocumentVersion(
                tenant_id=tenant_id,
                doc_id=doc_id,
                version=version,
                body=body,
                status="published" if publish else "draft",
                published_at=utcnow() if publish else None,
            )
            try:
                await self.table.put(
                    self._item(doc), ConditionExpression="attribute_not_exists(sk)"
                )
                if publish:
                    await self._advance_pointer(doc)
                return doc
            except ClientError as e:
                if not is_conditional_failure(e):
                    raise
        raise ConflictError(f"too many concurrent writers on {self.label} {doc_id}")

    async def get(self, tenant_id: str, doc_id: str, version: int) -> DocumentVersion | None:
        kept = self._published.get((tenant_id, doc_id, version))
        if kept is not None:
            return kept

        async def read() -> DocumentVersion | None:
            item = await self.table.get({"tenant_id": tenant_id, "sk": _sk(doc_id, version)})
            return self._keep(DocumentVersion.model_validate(item)) if item else None

        # A version only ever goes from draft to published: any in-flight read answers.
        return await self._reads.run((tenant_id, doc_id, version), read)

    async def versions(self, tenant_id: str, doc_id: str) -> list[DocumentVersion]:
        items = await self.table.query(
            KeyConditionExpression="tenant_id = :t AND begins_with(sk, :p)",
            ExpressionAttributeValues=values(t=tenant_id, p=f"{doc_id}#v"),
            ScanIndexForward=False,
        )
        return parse_all_stored(DocumentVersion, items)

    async def latest(self, tenant_id: str, doc_id: str) -> DocumentVersion | None:
        items = await self.table.query(
            limit=1,
            KeyConditionExpression="tenant_id = :t AND begins_with(sk, :p)",
            ExpressionAttributeValues=values(t=tenant_id, p=f"{doc_id}#v"),
            ScanIndexForward=False,
        )
        return DocumentVersion.model_validate(items[0]) if items else None

    async def latest_published(self, tenant_id: str, doc_id: str) -> DocumentVersion | None:
        for doc in await self.versions(tenant_id, doc_id):
            if doc.status == "published":
                return self._keep(doc)
        return None

    async def resolve(
        self, tenant_id: str, doc_id: str, version: int | str | None
    ) -> DocumentVersion:
        """A pinned version, or the newest published one for None/'latest'/'published'."""
        if version in (None, "latest", "published"):
            doc = await self.latest_published(tenant_id, doc_id)
            if doc is None:
                if await self.latest(tenant_id, doc_id) is None:
                    raise NotFoundError(f"{self.label} {doc_id} not found")
                raise NotFoundError(f"{self.label} {doc_id} has no published version")
            return doc
        try:
            number = int(version)
        except ValueError:
            raise NotFoundError(f"{self.label} version {version!r} is not a number") from None
        pinned = await self.get(tenant_id, doc_id, number)
        if pinned is None:
            raise NotFoundError(f"{self.label} {doc_id} v{number} not found")
        return pinned

    async def publish(self, tenant_id: str, doc_id: str, version: int) -> DocumentVersion:
        try:
            item = await self.table.update(
                {"tenant_id": tenant_id, "sk": _sk(doc_id, version)},
                UpdateExpression="SET #s = :p, published_at = :at",
                ConditionExpression="attribute_exists(sk)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values(p="published", at=utcnow().isoformat()),
                ReturnValues="ALL_NEW",
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            raise NotFoundError(f"{self.label} {doc_id} v{version} not found") from None
        doc = DocumentVersion.model_validate(item)
        # After the version is published: a crash in between leaves the pointer behind (jobs
        # keep the previous version) until the publish is repeated, never ahead of it.
        await self._advance_pointer(doc)
        return doc

    async def list_latest(self, tenant_id: str) -> list[DocumentVersion]:
        """The newest version of every document of the tenant."""
        newest: dict[str, DocumentVersion] = {}
        async for item in self.table.iter_query(
            KeyConditionExpression="tenant_id = :t", ExpressionAttributeValues=values(t=tenant_id)
        ):
            if str(item.get("sk", "")).endswith(PUBLISHED):
                continue  # a pointer, not a version
            doc = parse_stored(DocumentVersion, item)
            if doc is None:
                continue
            if doc.doc_id not in newest or doc.version > newest[doc.doc_id].version:
                newest[doc.doc_id] = doc
        return sorted(newest.values(), key=lambda d: d.created_at, reverse=True)
