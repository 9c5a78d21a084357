"""The keys of the advisory locks the schema takes, side by side so that they never collide."""

# the transaction-level lock that serialises migrations across processes
MIGRATION_LOCK_KEY = 0x7261675F636F7265  # "rag_core"
# the session-level lock of one concurrent HNSW rebuild at a time
REINDEX_LOCK_KEY = MIGRATION_LOCK_KEY + 1
