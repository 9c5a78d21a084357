"""The command line: `rag-core` and its subcommands."""
