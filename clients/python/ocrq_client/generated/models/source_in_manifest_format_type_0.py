from typing import Literal

SourceInManifestFormatType0 = Literal['csv', 'jsonl']

SOURCE_IN_MANIFEST_FORMAT_TYPE_0_VALUES: set[SourceInManifestFormatType0] = { 'csv', 'jsonl',  }

def check_source_in_manifest_format_type_0(value: str) -> SourceInManifestFormatType0:
    if value in SOURCE_IN_MANIFEST_FORMAT_TYPE_0_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {SOURCE_IN_MANIFEST_FORMAT_TYPE_0_VALUES!r}")
