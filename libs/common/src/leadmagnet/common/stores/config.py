"""Workflows, forms and submissions."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..dynamo import (
    DynamoTable,
    batch_get,
    is_conditional_failure,
    parse_all_stored,
    parse_stored,
    values,
)
from ..errors import ConflictError
from ..models import Form, Submission, Workflow, utcnow
from ..singleflight import SingleFlight
from .documents import VersionedDocuments, pointer_key


class WorkflowStore:
    """pk tenant_id, sk workflow_id: a tenant can only ever address its own workflows."""

    CACHED = 1024  # workflows a process keeps by revision (a few KiB each)

    def __init__(self, aws: AwsClients, table: str) -> None:
        self.table = DynamoTable(aws, table)
        self._by_rev: OrderedDict[tuple[str, str], Workflow] = OrderedDict()
        self._rev_reads: SingleFlight[Workflow | None] = SingleFlight()

    async def at(self, tenant_id: str, workflow_id: str, rev: str | None) -> Workflow | None:
        """The workflow at revision ``rev`` (its ``updated_at``, as a job recorded it) from
        this process's cache, else read (and kept when it is that revision). Concurrent
        callers asking for the same revision share one read (a process's first jobs of a
        workflow all miss the cache at once): each wants the workflow as it was at ``rev``."""
        key = (tenant_id, workflow_id)
        cached = self._by_rev.get(key)
        if rev is not None and cached is not None and cached.updated_at.isoformat() == rev:
            self._by_rev.move_to_end(key)
            return cached
        if rev is None:
            return await self.get(tenant_id, workflow_id)
        workflow = await self._rev_reads.run(
            (tenant_id, workflow_id, rev), lambda: self.get(tenant_id, workflow_id)
        )
        if workflow is not None and workflow.updated_at.isoformat() == rev:
            self._by_rev[key] = workflow
            if len(self._by_rev) > self.CACHED:
                self._by_rev.popitem(last=False)
        return workflow

    async def put(self, wf: Workflow) -> Workflow:
        wf.updated_at = utcnow()
        await self.table.put(wf.model_dump(mode="json"))
        return wf

    async def get_raw(self, tenant_id: str, workflow_id: str) -> dict[str, Any] | None:
        """The stored item as it is, valid or not (a PATCH may repair an invalid one)."""
        return await self.table.get({"tenant_id": tenant_id, "workflow_id": workflow_id})

    async def get(self, tenant_id: str, workflow_id: str) -> Workflow | None:
        """None when missing, or stored invalid (logged; PATCH can repair it)."""
        item = await self.get_raw(tenant_id, workflow_id)
        return parse_stored(Workflow, item) if item else None

    async def list(self, tenant_id: str) -> list[Workflow]:
        """The tenant's valid workflows; invalid stored ones are skipped and logged."""
        items = await self.table.query(
            KeyConditionExpression="tenant_id = :t", ExpressionAttributeValues=values(t=tenant_id)
        )
        return parse_all_stored(Workflow, items)


class FormStart(NamedTuple):
    """What a submission to a form starts: the form, its workflow, and the newest published
    version of the workflow's template (None: none is recorded, or the workflow pins its own;
    the job is then not pinned and its renderer resolves the version)."""

    form: Form | None
    workflow: Workflow | None
    template_version: int | None = None


def _template_to_pin(workflow: Workflow | None) -> str | None:
    """The template whose newest published version a job of ``workflow`` is pinned to (none
    when the workflow pins a version itself, or renders no template)."""
    if workflow is None or workflow.template_version is not None:
        return None
    return workflow.template_id or None


class FormStore:
    """pk slug (public URLs carry only the slug); GSI by_tenant for listing."""

    REMEMBERED = 4096  # forms whose workflow a process remembers (a few dozen bytes each)

    def __init__(self, aws: AwsClients, table: str) -> None:
        self.table = DynamoTable(aws, table)
        # slug -> (tenant, the workflow it starts, the template that workflow renders)
        self._workflow_of: OrderedDict[str, tuple[str, str, str | None]] = OrderedDict()
        self._first_reads: SingleFlight[FormStart] = SingleFlight()

    async def with_workflow(
        self, slug: str, workflows: WorkflowStore, templates: VersionedDocuments | None = None
    ) -> FormStart:
        """The form and the workflow it starts, as they are now; with ``templates``, the
        newest published version of the workflow's template too.

        One BatchGetItem for all three once this process has read the form: which workflow a
        form starts, and which template that renders, are remembered and checked against the
        items read with them (a form moved to another workflow since gets that one read after;
        a workflow now rendering another template gets no version). Else a read of each."""
        guess = self._workflow_of.get(slug)
        if guess is None:
            # Concurrent first submits of a form share these reads (the form's is eventually
            # consistent anyway).
            return await self._first_reads.run(
                (slug, templates is not None), lambda: self._first_read(slug, workflows, templates)
            )
        tenant_id, workflow_id, template_id = guess
        gets: list[tuple[str, Mapping[str, Any], bool]] = [
            (self.table.name, {"slug": slug}, False),
            (workflows.table.name, {"tenant_id": tenant_id, "workflow_id": workflow_id}, True),
        ]
        if templates is not None and template_id:
            gets.append((templates.table.name, pointer_key(tenant_id, template_id), True))
        form_item, workflow_item, *pointer = await batch_get(self.table.client, gets)
        form = parse_stored(Form, form_item) if form_item else None
        if form is None:
            self._workflow_of.pop(slug, None)
            return FormStart(None, None)
        if (form.tenant_id, form.workflow_id) != (tenant_id, workflow_id):
            workflow = await workflows.get(form.tenant_id, form.workflow_id)
            self._remember(form, workflow)
            return FormStart(form, workflow)
        workflow = parse_stored(Workflow, workflow_item) if workflow_item else None
        self._remember(form, workflow)
        version = None
        if pointer and pointer[0] and template_id and _template_to_pin(workflow) == template_id:
            version = int(pointer[0]["version"])
        return FormStart(form, workflow, version)

    async def _first_read(
        self, slug: str, workflows: WorkflowStore, templates: VersionedDocuments | None
    ) -> FormStart:
        form = await self.get(slug)
        if form is None:
            return FormStart(None, None)
        workflow = await workflows.get(form.tenant_id, form.workflow_id)
        self._remember(form, workflow)
        template_id = _template_to_pin(workflow)
        if templates is None or template_id is None:
            return FormStart(form, workflow)
        return FormStart(
            form, workflow, await templates.published_version(form.tenant_id, template_id)
        )

    def _remember(self, form: Form, workflow: Workflow | None) -> None:
        self._workflow_of[form.slug] = (
            form.tenant_id,
            form.workflow_id,
            _template_to_pin(workflow),
        )
        self._workflow_of.move_to_end(form.slug)
        if len(self._workflow_of) > self.REMEMBERED:
            self._workflow_of.popitem(last=False)

    async def create(self, form: Form) -> Form:
        try:
            await self.table.put(
                form.model_dump(mode="json"), ConditionExpression="attribute_not_exists(slug)"
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            raise ConflictError(f"form slug {form.slug!r} is taken") from None
        return form

    async def replace(self, form: Form) -> Form:
        """Update a form the tenant owns (the condition stops slug hijacking)."""
        try:
            await self.table.put(
                form.model_dump(mode="json"),
                ConditionExpression="tenant_id = :t",
                ExpressionAttributeValues=values(t=form.tenant_id),
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            raise ConflictError(f"form slug {form.slug!r} belongs to another tenant") from None
        return form

    async def get(self, slug: str) -> Form | None:
        item = await self.table.get({"slug": slug}, consistent=False)
        return parse_stored(Form, item) if item else None

    async def list(self, tenant_id: str) -> list[Form]:
        items = await self.table.query(
            IndexName="by_tenant",
            KeyConditionExpression="tenant_id = :t",
            ExpressionAttributeValues=values(t=tenant_id),
        )
        return parse_all_stored(Form, items)


class SubmissionStore:
    def __init__(self, aws: AwsClients, table: str) -> None:
        self.table = DynamoTable(aws, table)

    async def put(self, sub: Submission) -> Submission:
        await self.table.put(sub.model_dump(mode="json"))
        return sub

    def item(self, sub: Submission) -> tuple[str, dict[str, Any]]:
        """(table, item): for a write batched with its job (``JobStore.create``)."""
        return self.table.name, sub.model_dump(mode="json")

    async def fields_of(
        self, submission_id: str | None, carried: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The fields an event carried, else the stored submission's."""
        return dict(carried) if carried is not None else await self.fields(submission_id)

    async def get(self, submission_id: str) -> Submission | None:
        item = await self.table.get({"submission_id": submission_id})
        return Submission.model_validate(item) if item else None

    async def fields(self, submission_id: str | None) -> dict[str, Any]:
        if not submission_id:
            return {}
        sub = await self.get(submission_id)
        return dict(sub.fields) if sub else {}
