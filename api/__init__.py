"""The Flask gateway."""
