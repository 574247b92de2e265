"""One input file to one Parquet file: inputs and keys, reading, coercion, writing, the books."""
