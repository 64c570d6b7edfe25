"""Chat-lead hand-off (seed 003): one complete, idempotent lead e-mail per chat thread."""
