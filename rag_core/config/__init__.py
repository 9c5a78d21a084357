"""Settings: a profile and one section per concern, each field under its flat name
(``rag_core.config.settings``); the sections themselves (``answer_sections``,
``service_sections``); values that are no longer settings (``fixed``); the generated
reference docs/configuration.md (``python -m rag_core.config.docs``)."""

from rag_core.config.answer_sections import (
    FUSED_MODES,
    MODES,
    DecisionSettings,
    FusionMethod,
    GenerationSettings,
    LexicalRanker,
    Retrieval,
    RetrievalMode,
    TokenSettings,
)
from rag_core.config.service_sections import (
    DEFAULT_JWT_SECRET,
    Auth,
    Caches,
    Embedding,
    Index,
    Limits,
    ModelCalls,
    Money,
    Observability,
    Services,
)
from rag_core.config.settings import (
    ANSWER_SECTIONS,
    FIELDS,
    PROFILE_DEFAULTS,
    SECTIONS,
    Profile,
    Settings,
    env_names,
    flat_names,
)

__all__ = [
    "ANSWER_SECTIONS", "DEFAULT_JWT_SECRET", "FIELDS", "FUSED_MODES", "MODES",
    "PROFILE_DEFAULTS", "SECTIONS", "Auth", "Caches", "DecisionSettings", "Embedding",
    "FusionMethod", "GenerationSettings", "Index", "LexicalRanker", "Limits", "ModelCalls",
    "Money", "Observability", "Profile", "Retrieval", "RetrievalMode", "Services", "Settings",
    "TokenSettings", "env_names", "flat_names",
]
