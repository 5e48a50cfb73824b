"""The `ocrq` command."""
