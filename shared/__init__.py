"""Common code of ocrq: settings, the job model and store, blob stores, image safety, schemas."""
