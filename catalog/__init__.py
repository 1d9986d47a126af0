"""The catalog (资源登记): dataset schemas, ingest of raw files, and desensitization.

A raw file and its schema go in; a registered `Dataset`, a desensitized Parquet
file in the domain store and a keyed identifier index come out. A licence's row
filter (行范围) is checked here and applied to a filtered copy of the store file.
A synthetic twin (合成孪生数据) is made from a schema alone, for local development.
"""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from catalog.desensitize import desensitize, mask, pseudonym, pseudonymize
    from catalog.filtered import filtered_file
    from catalog.identifiers import (
        build_identifier_index,
        contains_combination,
        contains_identifier,
        load_index,
        save_index,
    )
    from catalog.ingest import get_dataset, ingest, list_datasets, read_source
    from catalog.records import Dataset, schema_document
    from catalog.schema import ColumnSpec, DatasetSchema, load_schema, parse_schema
    from catalog.storage import arrow_schema, duckdb_types, pandas_dtype
    from catalog.synthetic import (
        generate_enterprises,
        generate_social_security,
        is_valid_credit_code,
        write_demo_files,
        write_social_security_files,
    )
    from catalog.twin import TwinFiles, data_dictionary, issue_twin, synthesize, twin

__getattr__ = lazy_exports(__name__, __file__, shared=("desensitize", "ingest", "twin"))

__all__ = [
    "ColumnSpec",
    "Dataset",
    "DatasetSchema",
    "TwinFiles",
    "arrow_schema",
    "build_identifier_index",
    "contains_combination",
    "contains_identifier",
    "data_dictionary",
    "desensitize",
    "duckdb_types",
    "filtered_file",
    "generate_enterprises",
    "generate_social_security",
    "get_dataset",
    "ingest",
    "is_valid_credit_code",
    "issue_twin",
    "list_datasets",
    "load_index",
    "load_schema",
    "mask",
    "pandas_dtype",
    "parse_schema",
    "pseudonym",
    "pseudonymize",
    "read_source",
    "save_index",
    "schema_document",
    "synthesize",
    "twin",
    "write_demo_files",
    "write_social_security_files",
]
