"""OCR engines behind one protocol (see models.base)."""
