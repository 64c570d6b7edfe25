"""Chat-lead flow, notifier stage: ``lead.ready`` -> send lease -> one SES e-mail -> ``lead.sent``.

The send lease (a conditional write on the thread's lead item) makes concurrent and repeated
triggers send exactly once. A failed send records the error and a cool-down; a later trigger
may then take the lease again. Attachments are read from our own bucket by id (never fetched
from URLs), and must belong to the same tenant.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from botocore.exceptions import ClientError

from leadmagnet.common.consumer import FailedMessage, FailureHook, MessageContext
from leadmagnet.common.events.leads import LeadReady, LeadSent
from leadmagnet.common.logging import get_logger, mask_email
from leadmagnet.common.models import utcnow
from leadmagnet.common.platform import Platform
from leadmagnet.common.stages import EventStage, Output
from leadmagnet.flows.leads.contact import enforce_customer_contact
from leadmagnet.flows.leads.models import LeadSummary, Transcript, safe_filename

from .lead_mime import Attachment, build_lead_email

log = get_logger()


async def load_attachments(
    platform: Platform, tenant_id: str, ids: list[str], names: dict[str, str] | None = None
) -> list[Attachment]:
    """``names``: the customer's file names from the transcript (by id); else the name given at
    upload, else ``{id}.{ext}``. Every name goes through ``safe_filename``."""
    s3 = platform.aws.s3
    bucket = platform.resources.bucket("uploads")
    base = platform.settings.gateway_public_url.rstrip("/")
    limit = platform.settings.lead_inline_attachment_max_bytes
    found: list[Attachment] = []
    for attachment_id in ids:
        listing = await s3.list_objects_v2(
            Bucket=bucket, Prefix=f"chatkit-attachments/{attachment_id}.", MaxKeys=1
        )
        if not listing.get("Contents"):
            continue
        key = listing["Contents"][0]["Key"]
        head = await s3.head_object(Bucket=bucket, Key=key)
        if head.get("Metadata", {}).get("tenant-id") != tenant_id:
            log.warning("lead.foreign_attachment", attachment_id=attachment_id)
            continue
        size = int(head["ContentLength"])
        media = head.get("ContentType", "application/octet-stream")
        uploaded = unquote(head.get("Metadata", {}).get("filename", ""))
        stored = key.rsplit("/", 1)[-1]
        attachment = Attachment(
            id=attachment_id,
            name=safe_filename((names or {}).get(attachment_id) or uploaded, stored),
            content_type=media,
            size=size,
            url=f"{base}/v1/attachments/{attachment_id}",
        )
        if media.startswith("image/") and size <= limit:
            try:
                obj = await s3.get_object(Bucket=bucket, Key=key)
                async with obj["Body"] as stream:
                    attachment.data = await stream.read()
            except ClientError as e:  # a photo we cannot read stays a link
                log.warning("lead.attachment_unreadable", attachment_id=attachment_id, error=str(e))
        found.append(attachment)
    return found


async def send_lead(platform: Platform, ctx: MessageContext, data: LeadReady) -> list[Output]:
    """The send lease, not an idempotency record, makes this once per thread (see above)."""
    leads = platform.leads
    lease = await leads.acquire_lease(data.tenant_id, data.thread_id, data.channel)
    if not lease.acquired:
        status = lease.state.status if lease.state else "unknown"
        reason = {"sent": "already_sent", "error": "cooling_down"}.get(status, "send_in_progress")
        await leads.note(data.tenant_id, data.thread_id, data.channel, reason)
        log.info("lead.not_sending", thread_id=data.thread_id, reason=reason)
        return []
    assert lease.owner is not None
    channel = await leads.channel(data.channel)
    if channel is None:
        await leads.mark_error(data.tenant_id, data.thread_id, lease.owner, "channel deleted")
        return []
    transcript = Transcript.model_validate(
        json.loads(await platform.artifacts.read(data.transcript_key))
    )
    summary = LeadSummary.model_validate(data.summary.model_dump())
    # The reporter applied the contact rule already; applied again here (it is idempotent) so
    # nothing the customer did not write reaches the owner or an SMS link, whatever produced
    # the event.
    enforce_customer_contact(summary, transcript)
    if not (summary.email or summary.phone):
        await leads.mark_error(data.tenant_id, data.thread_id, lease.owner, "no customer contact")
        return []
    base = platform.settings.gateway_public_url.rstrip("/")
    sms_url = None
    if summary.phone:
        greeting = f"Hi {summary.name}" if summary.name else "Hi"
        thanks = f"{greeting}, thanks for contacting {channel.business_name}!"
        reply = summary.suggested_reply or thanks
        token = await leads.create_sms_token(
            summary.phone, reply, tenant_id=data.tenant_id, thread_id=data.thread_id
        )
        sms_url = f"{base}/s/{token}"
    attachments = await load_attachments(
        platform, data.tenant_id, transcript.attachment_ids(), transcript.attachment_names()
    )
    email = build_lead_email(
        sender=platform.settings.lead_email_sender,
        to=channel.owner_email,
        business=channel.business_name,
        summary=summary,
        transcript=transcript,
        attachments=attachments,
        sms_url=sms_url,
        max_bytes=platform.settings.lead_email_max_bytes,
    )
    try:
        config_set = platform.settings.ses_configuration_set
        resp = await platform.aws.ses.send_raw_email(
            Source=platform.settings.lead_email_sender,
            Destinations=[channel.owner_email],
            RawMessage={"Data": email.raw},
            **({"ConfigurationSetName": config_set} if config_set else {}),
        )
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "Error")
        await leads.mark_error(data.tenant_id, data.thread_id, lease.owner, f"SES {code}")
        log.warning("lead.send_failed", thread_id=data.thread_id, code=code)
        return []
    message_id = resp["MessageId"]
    await leads.mark_sent(data.tenant_id, data.thread_id, lease.owner, message_id)
    previous = await leads.attribution_of(data.tenant_id, data.thread_id) or {}
    await leads.put_attribution(
        data.tenant_id,
        data.thread_id,
        {
            "channel": data.channel,
            "params": previous.get("params", {}),
            "ses_message_id": message_id,
            "sent_at": utcnow().isoformat(),
            "reason": data.reason,
        },
    )
    log.info(
        "lead.sent",
        thread_id=data.thread_id,
        to=mask_email(channel.owner_email),
        bytes=len(email.raw),
        inline=len(email.inlined),
    )
    return [
        LeadSent(
            tenant_id=data.tenant_id,
            channel=data.channel,
            thread_id=data.thread_id,
            ses_message_id=message_id,
            inline_images=len(email.inlined),
            linked_attachments=len(email.linked),
            sent_at=utcnow(),
        )
    ]


def lead_failure_hook(platform: Platform) -> FailureHook:
    """A send that can no longer succeed is noted on the thread's lead (there is no job)."""

    async def hook(failed: FailedMessage) -> None:
        if failed.event is not None:
            data: LeadReady = failed.event.data
            await platform.leads.note(
                data.tenant_id, data.thread_id, data.channel, f"error: {failed.error.code}"
            )

    return hook


# lead.sent keeps its id: stable_id("evt", tenant_id, thread_id, "lead.sent"), one per thread.
LEAD_EMAIL: EventStage[LeadReady] = EventStage(
    name="lead_email",
    consumes=(LeadReady,),
    handle=send_lead,
    identity=lambda data: (data.tenant_id, data.thread_id),
    emits=(LeadSent,),
    on_failure=lead_failure_hook,
)
