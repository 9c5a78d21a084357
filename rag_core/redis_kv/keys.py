"""Redis and cache keys: the one module that spells the ``rag:`` key format.

A cache key reads ``rag:<layer>:u:<user hash>:v<notes version>:<hash of the parts>`` so that one
user's entries share a prefix (``clear --user``) and a new notes version makes old keys
unreachable at once: an edit, add or delete of a note invalidates that user's answers only.
``cache_key`` builds every cache key; the helpers below name what changes an answer. The other
keys of the service (cost ledger, breaker state) are spelled here too.

Keys that a Lua script or a MULTI touches together carry one hash tag (``{...}``), so that they
live in one slot of a Redis Cluster.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from rag_core.config import ANSWER_SECTIONS, Embedding, Retrieval, Settings, fixed
from rag_core.embedding import vector_numerics
from rag_core.store.filters import NO_FILTERS, Filters

_SPACES = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s?!.,;:]+$")


def _h(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def normalize_query(text: str) -> str:
    """NFKC, case-folded, single spaces, no trailing punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _TRAILING.sub("", _SPACES.sub(" ", text).strip())


ROOT = "rag"


def layer_prefix(layer: str) -> str:
    """The prefix of every key of one layer (``rag:query:``)."""
    return f"{ROOT}:{layer}:"


def layer_index(layer: str) -> str:
    """The sorted set that indexes one Redis layer's keys by expiry time (its size). Its hash
    tag puts the layer's other index keys (``user_index``, ``layer_users``) in its slot."""
    return f"{ROOT}:index:{{{layer}}}"


def user_index(layer: str, user_id: str | None) -> str:
    """The sorted set of one user's keys of a layer (``key_owner`` names the user)."""
    return f"{layer_index(layer)}:u:{_h(user_id) if user_id is not None else '-'}"


def layer_users(layer: str) -> str:
    """The sorted set of the users of a layer, scored by how many entries each holds."""
    return f"{layer_index(layer)}:users"


def key_owner(key: str) -> str:
    """The user part of a cache key (``-`` for a key of no user); the write script reads it
    the same way (``redis_kv.writes``)."""
    parts = key.split(":", 4)
    return parts[3] if len(parts) == 5 and parts[2] == "u" else "-"


def cache_counters_key() -> str:
    """The one hash of every process's cache counts (``cache.counters``)."""
    return f"{ROOT}:stats:cache"


def conversation_index(user_id: str) -> str:
    """The sorted set of one user's conversations, scored by their last turn's time
    (``conversations.store``). Not a cache layer's prefix: ``cache clear`` keeps it; the user's
    hash as a hash tag puts every key of theirs in one Cluster slot, and as a part of the name
    lets the erasure's sweep find it."""
    return f"{ROOT}:conv:{{{_h(user_id)}}}"


def conversation_key(user_id: str, conversation_id: str) -> str:
    """One conversation's list of turns, oldest first (``conversations.store``)."""
    return f"{conversation_index(user_id)}:{conversation_id}"


def user_prefix(layer: str, user_id: str | None) -> str:
    return layer_prefix(layer) + (f"u:{_h(user_id)}:" if user_id is not None else "")


def rename_layer(key: str, old: str, new: str) -> str:
    """The same key in another layer (a query key's stale twin)."""
    if not key.startswith(layer_prefix(old)):
        raise ValueError(f"{key!r} is not a key of layer {old!r}")
    return layer_prefix(new) + key[len(layer_prefix(old)):]


def cache_key(layer: str, *, user_id: str | None, notes_version: int | None,
              parts: Mapping[str, object]) -> str:
    """The only function that makes a cache key."""
    if notes_version is not None:
        return version_slot(layer, user_id, parts).key(notes_version)
    return f"{user_prefix(layer, user_id)}{_parts_hash(parts)}"


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _parts_hash(parts: Mapping[str, object]) -> str:
    return _h(_json(parts), 32)


class EncodedParts(dict[str, object]):
    """Parts of a key, each value also kept as its JSON: the settings part of every answer key,
    encoded once per Settings and params rather than per question (``answer_parts``)."""

    def __init__(self, parts: Mapping[str, object]) -> None:
        super().__init__(parts)
        self.encoded = {name: _json(value) for name, value in parts.items()}

    def hash_with(self, more: Mapping[str, object]) -> str:
        """``_parts_hash({**self, **more})``, the same text hashed, without encoding ``self``
        again (the JSON of a dict with sorted keys, spelled out here)."""
        encoded = {**self.encoded, **{name: _json(value) for name, value in more.items()}}
        return _h("{" + ",".join(f"{json.dumps(name)}:{encoded[name]}"
                                 for name in sorted(encoded)) + "}", 32)


@dataclass(frozen=True)
class VersionSlot:
    """A key with its notes version left open: ``head + str(version) + tail``. A Lua script
    that reads the version first fills it in on the server (one round trip for both)."""

    head: str
    tail: str

    def key(self, notes_version: int) -> str:
        return f"{self.head}{notes_version}{self.tail}"


def version_slot(layer: str, user_id: str | None, parts: Mapping[str, object]) -> VersionSlot:
    """The hash of the parts is the key's hash tag: an L1 key and its stale twin (the same key
    in another layer) share a slot of a Redis Cluster, so that one script reads both."""
    return _slot(layer, user_id, _parts_hash(parts))


def _slot(layer: str, user_id: str | None, parts_hash: str) -> VersionSlot:
    return VersionSlot(f"{user_prefix(layer, user_id)}v", f":{{{parts_hash}}}")


def answer_shape(settings: Settings) -> Mapping[str, object]:
    """What names every answer of ``settings``: each section of Settings that shapes an answer,
    whole (``ANSWER_SECTIONS``: a field added to one of them is in the key without a change
    here) but retrieval, which the search that was run stands for (``answer_parts``); the fixed
    values that shape an answer; the embedding model and its numerics. Prices, money budgets,
    timeouts, URLs and secrets live in other sections and never change a key. The cache layers
    keep this, not the Settings it came from."""
    sections = {name: getattr(settings, name).model_dump(mode="json")
                for name in ANSWER_SECTIONS if name != "retrieval"}
    return {"sections": sections,
            "fixed": {name: fixed.value(name) for name in fixed.SHAPES_ANSWERS},
            "embedding": embedding_shape(settings.embedding)}


def answer_parts(shape: Mapping[str, object], params: Retrieval,
                 prompt: str) -> Mapping[str, object]:
    """What names an answer besides the user, the notes version, the question and top_k: the
    ``answer_shape`` of its settings, with the search that was run (``params``, the object the
    store received) as the retrieval section, and the prompt's fingerprint. The same for every
    question of one Settings and params (a caller may keep it)."""
    sections = shape["sections"]
    assert isinstance(sections, Mapping)
    return EncodedParts({**shape, "sections": {**sections,
                                               "retrieval": params.model_dump(mode="json")},
                         "prompt": prompt})


def embedding_shape(embedding: Embedding) -> dict[str, object]:
    """The answer key's part of the vectors: the model, and the numerics of the runtime in use
    (``embedding.vector_numerics``: a runtime that fell back changes it)."""
    return {"model": embedding.embedding_model, **_numerics(embedding)}


def _numerics(embedding: Embedding) -> dict[str, object]:
    """The vectors' numerics when they differ from f32 beyond noise (f32 keys stay as they were)."""
    numerics = vector_numerics(embedding)
    return {} if numerics == "f32" else {"numerics": numerics}


def query_key(settings: Settings, params: Retrieval, user_id: str, notes_version: int,
              normalized_query: str, top_k: int, *, prompt: str) -> str:
    return query_slot(answer_parts(answer_shape(settings), params, prompt), user_id,
                      normalized_query, top_k).key(notes_version)


def query_slot(answer_parts: Mapping[str, object], user_id: str, normalized_query: str,
               top_k: int, filters: Filters = NO_FILTERS) -> VersionSlot:
    """The L1 key of a question with its notes version left open (``query_key``); the
    question's filters name it too (nothing without filters: those keys are unchanged)."""
    more = {"top_k": top_k, "q": normalized_query, **filters.key()}
    if isinstance(answer_parts, EncodedParts):  # the settings' part encoded once
        return _slot("query", user_id, answer_parts.hash_with(more))
    return version_slot("query", user_id, {**answer_parts, **more})


def context_key(params: Retrieval, user_id: str, notes_version: int, normalized_query: str,
                top_k: int, filters: Filters = NO_FILTERS, *, numerics: str = "f32") -> str:
    """The chunks of one search: its params, the query vector's numerics, top_k, the text and
    the filters (nothing without filters)."""
    parts = {"search": params.model_dump(mode="json"), "top_k": top_k, "q": normalized_query,
             **({} if numerics == "f32" else {"numerics": numerics}), **filters.key()}
    return cache_key("context", user_id=user_id, notes_version=notes_version, parts=parts)


def embedding_key(embedding: Embedding, user_id: str, normalized_text: str) -> str:
    """Per user: a shared entry would tell one user that another asked the same words. The
    text, the model and its numerics name the vector (PyTorch and ONNX Runtime, both f32,
    share keys; bf16 vectors have their own: :func:`rag_core.embedding.vector_numerics`)."""
    parts = {"model": embedding.embedding_model, "dim": embedding.embedding_dim,
             **_numerics(embedding), "t": normalized_text}
    return cache_key("embedding", user_id=user_id, notes_version=None, parts=parts)


def semantic_line_key(scope: str) -> str:
    """The hash beside a semantic scope's entries that holds their index lines (vectors and
    times only); the write script (``redis_kv.writes``) spells the same suffix."""
    return f"{scope}:idx"


def version_pattern() -> str:
    """A SCAN pattern that matches every user's notes version key."""
    return f"{user_prefix('version', None)}*"


def notes_version_key(user_id: str) -> str:
    """Where Redis keeps a user's notes version (PostgreSQL is the truth)."""
    return f"{user_prefix('version', user_id)}notes"


# --- keys that are not cache layers ---------------------------------------------------------


def cost_user_key(day: str, user_id: str) -> str:
    """The ledger of one user on a day."""
    return f"{ROOT}:cost:{{{day}}}:u:{user_id}"


def cost_global_key(day: str) -> str:
    """The global ledger of a day, in the slot of every user's ledger of that day."""
    return f"{ROOT}:cost:{{{day}}}:global"


def cost_keys(day: str, user_id: str) -> tuple[str, str]:
    """The ledger of one user and the global ledger of a day, in one hash slot."""
    return cost_user_key(day, user_id), cost_global_key(day)


def cost_user_pattern(day: str) -> str:
    """A SCAN pattern that matches every user's ledger of a day."""
    return cost_user_key(day, "*")


def cost_user_of(key: str) -> str:
    return key.split(":u:", 1)[1]


def cost_day_of(key: str) -> str:
    """The day of a ledger key (``cost_user_key``, ``cost_global_key``)."""
    return key[len(f"{ROOT}:cost:{{"):].split("}", 1)[0]


def breaker_prefix(name: str) -> str:
    """The prefix of a circuit breaker's shared state (``rag:breaker:hf``)."""
    return f"{ROOT}:breaker:{name}"


# --- request limits (rag_core/limits) -----------------------------------------------------
# Every limit key shares one hash tag: one script checks and counts a question's windows and
# its places in flight at once, in one slot of a Redis Cluster.
LIMITS_TAG = f"{ROOT}:limits:{{limits}}"


def limit_in_flight(user_id: str | None) -> str:
    """The sorted set of the questions in flight (one user's; None: everyone's), scored by the
    time their lease ends."""
    return f"{LIMITS_TAG}:f:" + (f"u:{_h(user_id)}" if user_id is not None else "all")


def limit_window(user_id: str | None, window: str, number: int) -> str:
    """The count of one fixed window (``number``: its start over its size) of a user's (None:
    everyone's) questions."""
    who = f"u:{_h(user_id)}" if user_id is not None else "all"
    return f"{LIMITS_TAG}:w:{who}:{window}:{number}"
