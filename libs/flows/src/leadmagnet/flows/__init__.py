"""The flows' domains, one place per flow, over the runtime in ``leadmagnet.common``:

- ``funnels``: seed 001's funnel-rewrite runs (spec, prompts, merge, costs);
- ``kitflow``: seed 002's product kits (progress messages, the join of the parallel branches);
- ``gates``: seed 004's approval gates (tokens, outbound calls, deadlines) and ``jobfiles``
  (a job's result and logs in S3);
- ``leads``: seed 003's chat-lead hand-off (transcripts, contact rules, gates' reasons).

The lead magnet itself has no domain module: its two stages live in the reporter and renderer.
"""
