"""What goes out: the result model, and the formats a result is rendered in (the registry and its renderers)."""
