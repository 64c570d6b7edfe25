"""The demo tenant ``make run`` seeds: a published template, a workflow, the form ``demo``, the
chat channel ``demo-chat`` and the funnel template ``demo-funnel`` for runs."""

from __future__ import annotations

from dataclasses import dataclass

from leadmagnet.common.ids import random_id
from leadmagnet.common.models import Form, FormField, Workflow
from leadmagnet.common.platform import Platform
from leadmagnet.common.webhooks import new_secret
from leadmagnet.flows.leads.models import ChatChannel

DEMO_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Growth plan for {{ company or name }}</title>
<style>
  body { font: 17px/1.6 Georgia, serif; color: #1d2433; margin: 0; background: #f6f4ef; }
  header { background: #1d3557; color: #fff; padding: 3rem 1.5rem 2rem; }
  header h1 { margin: 0 0 .25rem; font: 700 2rem/1.2 system-ui, sans-serif; }
  header p { margin: 0; opacity: .85; }
  main { max-width: 46rem; margin: -1.5rem auto 3rem; background: #fff; padding: 2rem 2.5rem;
         border-radius: 10px; box-shadow: 0 6px 24px rgba(0,0,0,.08); }
  h2, h3 { font-family: system-ui, sans-serif; color: #1d3557; }
  footer { text-align: center; color: #667; font-size: .85rem; padding-bottom: 2rem; }
</style>
</head>
<body>
<header>
  <h1>Your growth plan, {{ name }}</h1>
  <p>Prepared for {{ company or "your business" }} &middot; {{ DATE }}</p>
</header>
<main>
{{ REPORT_CONTENT }}
</main>
<footer>Goal you told us: &ldquo;{{ goal }}&rdquo;</footer>
</body>
</html>
"""

DEMO_INSTRUCTIONS = (
    "Write a one-page growth plan for this lead: a short diagnosis of where they are, three "
    "concrete actions for the next 30 days tied to their stated goal, and one metric to watch."
)

DEMO_FIELDS = [
    FormField(name="name", label="Your name", required=True, max_length=100),
    FormField(name="email", label="Work email", type="email", required=True, max_length=200),
    FormField(name="company", label="Company", max_length=200),
    FormField(
        name="goal",
        label="What do you want to achieve?",
        type="textarea",
        required=True,
        max_length=1000,
    ),
]


DEMO_FUNNEL_ID = "demo-funnel"
DEMO_FUNNEL = {
    "name": "Sleep course opt-in",
    "description": "Demo funnel for runs (seed 001)",
    "brandGuideContent": (
        "Brand: Nightfall. Voice: calm, warm, short sentences, no hype. "
        "Colours: midnight #1d3557, moon #f1faee, dusk #457b9d. Audience: busy parents."
    ),
    "templateFunnelJson": {
        "opt_logo_url": "https://assets.example.com/funnels/logo.png",
        "hero": {
            "headline": "Sleep through the night in 7 days",
            "subheadline": "A free email course for tired people",
            "hero_image_url": "https://assets.example.com/funnels/hero.jpg",
            "cta_text": "Send me day 1",
            "cta_url": "https://example.com/signup",
        },
        "bullets": ["Fall asleep faster", "Wake up less", "Feel rested"],
        "testimonial": {
            "quote": "I finally sleep.",
            "author": "Sam",
            "avatar_url": "https://assets.example.com/funnels/sam.jpg",
        },
    },
    "metadata": {"onImageFailure": "keep_original"},
}


@dataclass(frozen=True)
class Demo:
    tenant_id: str
    api_key: str
    template_id: str
    workflow_id: str
    slug: str
    webhook_secret: str | None
    funnel_template_id: str = DEMO_FUNNEL_ID


async def seed_demo(
    platform: Platform,
    *,
    slug: str = "demo",
    tenant_name: str = "Demo Co",
    webhook_url: str | None = None,
    template_html: str = DEMO_TEMPLATE,
    publish: bool = True,
    instructions: str = DEMO_INSTRUCTIONS,
) -> Demo:
    tenant = await platform.tenants.create(tenant_name)
    api_key = await platform.tenants.issue_key(tenant.tenant_id, label="demo-admin")
    template_id = random_id("tpl", 12)
    await platform.templates.create_version(
        tenant.tenant_id,
        template_id,
        {"name": "Growth plan", "description": "Demo lead magnet", "html": template_html},
        publish=publish,
    )
    await platform.templates.create_version(
        tenant.tenant_id, DEMO_FUNNEL_ID, {"kind": "funnel", **DEMO_FUNNEL}, publish=True
    )
    await platform.leads.create_channel(
        ChatChannel(
            slug=f"{slug}-chat",
            tenant_id=tenant.tenant_id,
            business_name=tenant_name,
            owner_email="owner@example.com",
            instructions="A phone number or e-mail address and what the customer needs.",
        )
    )
    secret = new_secret() if webhook_url else None
    workflow = await platform.workflows.put(
        Workflow(
            workflow_id=random_id("wf", 12),
            tenant_id=tenant.tenant_id,
            name="Growth plan lead magnet",
            instructions=instructions,
            template_id=template_id,
            webhook_url=webhook_url,
            webhook_secret=secret,
        )
    )
    await platform.forms.create(
        Form(
            slug=slug,
            tenant_id=tenant.tenant_id,
            workflow_id=workflow.workflow_id,
            name="Get your free growth plan",
            fields=DEMO_FIELDS,
        )
    )
    return Demo(tenant.tenant_id, api_key, template_id, workflow.workflow_id, slug, secret)
