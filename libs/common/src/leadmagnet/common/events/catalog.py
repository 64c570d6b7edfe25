"""Published contracts generated from the code: one JSON Schema per event type and version, an
AsyncAPI 3.0 document, and a Markdown catalogue. Who emits an event comes from the services'
declared stages (``stages.ServicePlan``), who consumes it from the topology's subscriptions.

``leadmagnet events export`` writes them to ``docs/events/``; a test fails when the committed
files drift from the code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..topology import Topology, load_topology
from .envelope import SCHEMA_BASE, CloudEvent, EventSpec, registry

REF = "#/components/schemas/{model}"

Producers = Mapping[str, Sequence[str]]  # event type -> services that publish it


def project_events() -> list[EventSpec]:
    """Registered event types of the project (test-only types are left out)."""
    return sorted(
        (s for s in registry().values() if s.model.__module__.startswith("leadmagnet.")),
        key=lambda s: s.name,
    )


def consumers_of(topology: Topology) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, queue in topology.queues.items():
        for t in queue.event_types:
            out.setdefault(t, []).append(f"{queue.consumer} (queue {name})")
    return out


def envelope_schema(spec: EventSpec) -> dict[str, Any]:
    schema = CloudEvent[spec.model].model_json_schema()  # type: ignore[name-defined]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = spec.dataschema
    schema["title"] = f"{spec.type} v{spec.version}"
    schema["description"] = spec.description
    schema["properties"]["type"] = {"const": spec.type, "type": "string"}
    schema["properties"]["dataschema"] = {"const": spec.dataschema, "type": "string"}
    return schema


def asyncapi(topology: Topology, producers: Producers) -> dict[str, Any]:
    specs = project_events()
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in specs:
        model_schema = CloudEvent[spec.model].model_json_schema(ref_template=REF)  # type: ignore[name-defined]
        defs = model_schema.pop("$defs", {})
        schemas.update(defs)
        key = spec.name.replace(".", "_")
        schemas[f"{key}_envelope"] = model_schema
        messages[key] = {
            "name": spec.type,
            "title": f"{spec.name} v{spec.version}",
            "summary": spec.description,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{key}_envelope"},
            "headers": {
                "type": "object",
                "description": "SNS/SQS message attributes mirroring the envelope.",
                "properties": {
                    "type": {"const": spec.type},
                    "tenant_id": {"type": "string"},
                    "subject": {"type": "string"},
                    "event_id": {"type": "string"},
                    "correlation_id": {"type": "string"},
                },
                "required": ["type", "event_id"],
            },
            "x-public": spec.public,
            "x-producers": list(producers.get(spec.type, ())),
        }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, t in topology.topics.items():
        channels[topic] = {
            "address": "{prefix}-" + topic,
            "description": t.description,
            "parameters": {"prefix": {"description": "RESOURCE_PREFIX of the deployment"}},
            "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in messages},
        }
        for service in sorted({p for ps in producers.values() for p in ps}):
            sent = [s.name.replace(".", "_") for s in specs if service in producers.get(s.type, ())]
            operations[f"{service}_publishes_{topic}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{topic}"},
                "summary": f"{service} publishes these events (its declared stages).",
                "messages": [{"$ref": f"#/channels/{topic}/messages/{k}"} for k in sent],
            }
    for name, q in topology.queues.items():
        keys = [s.name.replace(".", "_") for s in specs if s.type in q.event_types]
        channels[name] = {
            "address": "{prefix}-" + name,
            "description": q.description,
            "parameters": {"prefix": {"description": "RESOURCE_PREFIX of the deployment"}},
            "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in keys},
            "bindings": {
                "sqs": {
                    "queue": {
                        "name": "{prefix}-" + name,
                        "visibilityTimeout": q.visibility_timeout_seconds,
                        "receiveMessageWaitTime": q.receive_wait_time_seconds,
                        "messageRetentionPeriod": q.message_retention_seconds,
                        "deadLetterQueue": {"name": "{prefix}-" + name + "-dlq"},
                    }
                }
            },
        }
        operations[f"consume_{name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"{q.consumer} consumes {name} (SNS filter on the 'type' attribute).",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "leadmagnet events",
            "version": "1",
            "description": "CloudEvents 1.0 (structured JSON) on one SNS topic, fanned out to "
            "SQS queues with raw delivery and filter policies on message attributes.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def catalogue_markdown(topology: Topology, producers: Producers, stages: Sequence[str] = ()) -> str:
    consumers = consumers_of(topology)
    lines = [
        "# Event catalogue",
        "",
        "Generated by `leadmagnet events export` from the event registry, the services' declared"
        " stages (emitted by) and `topology.json` (consumed by); do not edit by hand.",
        "",
        "Every message is a CloudEvents 1.0 envelope in structured JSON mode. SNS message"
        " attributes `type`, `tenant_id`, `subject` (the job id), `event_id` and"
        " `correlation_id` mirror the envelope, so subscribers filter without parsing bodies"
        " (subscribe your SQS queue with raw delivery and a filter policy such as"
        ' `{"type": ["io.leadmagnet.job.completed"]}`). `source` + `id` is the deduplication'
        " key; `job.completed` and `job.failed` carry ids that are stable per job.",
        "",
        "Versioning: a type's payload is versioned through `dataschema`"
        f" (`{SCHEMA_BASE}/<name>/v<N>.json`). Additive, optional fields keep the version"
        " (readers ignore unknown fields); a breaking change is published as a new type.",
        "",
        "| type | version | public | emitted by | consumed by | description | schema |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in project_events():
        lines.append(
            f"| `{spec.type}` | {spec.version} | {'yes' if spec.public else 'no'} | "
            f"{', '.join(producers.get(spec.type, ())) or '—'} | "
            f"{', '.join(consumers.get(spec.type, [])) or '—'} | "
            f"{spec.description} | [json](./{spec.name}.v{spec.version}.json) |"
        )
    if stages:
        lines += [
            "",
            "## Stages",
            "",
            "What each service's declared stages consume, emit and may fail with (the error"
            " codes they raise themselves; any stage can also fail with the platform's codes).",
            "",
            "| service | stage | consumes | emits | fails with |",
            "|---|---|---|---|---|",
            *stages,
        ]
    lines += ["", "Machine-readable: [asyncapi.json](./asyncapi.json).", ""]
    return "\n".join(lines)


def render_all(
    topology: Topology | None = None,
    producers: Producers | None = None,
    stages: Sequence[str] = (),
) -> dict[str, str]:
    """Every contract file. ``producers`` and the ``stages`` table default to the services'
    declared plans (``stages.ServicePlan``)."""
    topo = topology or load_topology()
    if producers is None:
        from ..stages import load_plans, producers_of, stage_table  # the declarations

        plans = load_plans(topo)
        producers, stages = producers_of(plans), stage_table(plans)
    files = {
        f"{s.name}.v{s.version}.json": json.dumps(envelope_schema(s), indent=2) + "\n"
        for s in project_events()
    }
    files["asyncapi.json"] = json.dumps(asyncapi(topo, producers), indent=2) + "\n"
    files["README.md"] = catalogue_markdown(topo, producers, stages)
    return files


def export(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
