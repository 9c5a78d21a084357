"""Notes in, chunks and vectors out: parsing, chunking and the ingest run."""
