"""Pure decisions: (spec, observed state, now) -> plan. No clock, no I/O, no kopf."""
