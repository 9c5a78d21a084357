"""rag_core: a production RAG service over each user's own notes.

The public API is small on purpose; everything else is an implementation detail.
"""

from rag_core.answer import Answer
from rag_core.config import Settings
from rag_core.errors import RagError
from rag_core.types import Chunk, Citation, Note, TokenUsage

__all__ = ["Answer", "Chunk", "Citation", "Note", "RagError", "Settings", "TokenUsage",
           "__version__"]

__version__ = "0.1.0"
