"""Does a model output echo the system prompt, however disguised?

An ``EchoDetector`` is built from the prompt's own text (so it follows the prompt when the text
changes) and phrases an honest answer may use (the refusal sentences). It looks at the output
through the same views as the question sanitiser (invisible characters deleted, look-alike
letters folded, leetspeak and spelled-out letters read, misspellings of the prompt's words
corrected) and through every decoding (base64, hex, rot13, reversed, ...). A view is an echo
when:

- **verbatim**: it shares a run of ``RUN_WORDS`` consecutive words with the prompt, outside the
  allowed phrases;
- **paraphrase or summary** (English): it states at least ``CONCEPTS`` of the prompt's
  statements in other words (``RULE_CONCEPTS``: notes only, no outside knowledge, secrecy, data
  not instructions, admitting missing answers, citing numbers, ...), or two of them while
  talking about its own instructions (``SELF_REFERENCE``);
- **translation**: it carries words of at least ``FOREIGN_GROUPS`` of the groups in
  ``FOREIGN_WORDS`` (rules, notes, only, reveal, data, cite, number, assistant, always) in other
  languages, or the literal ``[n]`` with two of them.

Honest answers talk about a note in the third person and at most touch one rule ("your notes
do not seem to cover it"; "the rules that always apply in the speaker's family"), which is why
one concept, or self-reference alone, never counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from rag_core.safety import decode
from rag_core.safety.literal_index import LiteralIndex
from rag_core.safety.normalise import clean, views
from rag_core.safety.prefilter import Prefilter, squeeze

RUN_WORDS = 7
CONCEPTS = 3
FOREIGN_GROUPS = 4
_WORD = re.compile(r"[^\W_]+")
_F = re.IGNORECASE

# What the system prompt says, statement by statement, in English words other than its own.
RULE_CONCEPTS: dict[str, re.Pattern[str]] = {name: re.compile(p, _F) for name, p in {
    # the prompt's identity (a notes app's assistant, for one person), and the sermon-notes
    # wording it had until issue 78 (paraphrases of the old prompt are still leaks)
    "identity": r"\b(?:notes?|sermon[- ]notes?)\s+(?:assistant|helper|app)\b|\bassistant\s+"
                r"(?:of|for|inside|in)\s+(?:a|the)\s+(?:sermon|notes?\s+app)|"
                r"\bhelp\w*\s+(?:one|a\s+single)\s+(?:person|user)\b",
    "notes_only": r"\b(?:answer|respond|reply|use|rely|stick|draw|work|keep)\w*\s+(?:\w+\s+){0,3}?"
                  r"(?:only|solely|exclusively|strictly)\s+(?:from|on|with|to|using|inside)\b|"
                  r"\bnotes?[- ]only\b|\b(?:only|solely|exclusively|strictly)\s+(?:use|rely\s+on|"
                  r"draw\s+on|answer\s+from|the)\s+(?:\w+\s+)?notes\b|\bnumbered\s+notes\b|"
                  r"\b(?:keep|stick|stay)\w*\s+(?:to|with|within|inside)\s+(?:the|your)\s+notes\b|"
                  r"\bi\s+(?:only\s+)?answer\s+(?:only\s+)?from\s+(?:your|the)\s+notes\b|\bnotes\s+"
                  r"between\s+the\b|\bsupplied\s+(?:sermon\s+)?notes\b",
    "no_outside": r"\b(?:outside|external|general|world|background)\s+(?:knowledge|facts|"
                  r"info\w*)\b|"
                  r"\bno\s+guess\w*|\bavoid\w*\s+guess\w*|\bbring\s+in\s+nothing\b|\bnothing\s+from"
                  r"\s+outside\b|\bpull\s+in\s+anything\s+from\s+outside\b",
    "secrecy": r"\b(?:never|not|don'?t|do\s+not|can'?t|cannot|won'?t|mustn'?t|must\s+not|"
               r"refuse\s+to|"
               r"decline\s+to|forbid\w*|prohibit\w*|supposed\s+to|allowed\s+to)\s+(?:\w+\s+){0,3}?"
               r"(?:reveal|repeat|share|disclose|discuss|summari[sz]e|paraphrase|translate|quote|"
               r"leak|tell|rephrase)\w*\b|\b(?:keep|kept|stay|remain)\w*\s+(?:\w+\s+){0,3}?(?:secret|"
               r"private|confidential|to\s+myself)\b|\bconfidential\w*\b|\bsecrecy\b|\basks?\s+(?:me\s+)?"
               r"to\s+(?:repeat|reveal|summari[sz]e|paraphrase|translate|share|disclose)\b",
    "secrecy_detail": r"\beven\s+(?:when|if|as\s+part\s+of|with|though)\b|\btold\s+it'?s?\s+"
                      r"(?:is\s+)?"
                      r"allowed|\bwith\s+permission\b|\bas\s+(?:part\s+of\s+)?a\s+game\b|"
                      r"\brole-?\s?play",
    "data_not_orders": r"\b(?:treat|consider|handle|regard|count)\w*\s+.{0,60}?\bas\s+"
                       r"(?:\w+\s+){0,2}?"
                       r"(?:data|information)\b|\b(?:data|information),?\s+not\s+(?:as\s+)?"
                       r"(?:instructions|commands|orders|directions)\b|\b(?:user|untrusted)\s+"
                       r"(?:data|text|content|input)\b",
    "ignore_requests": r"\bignor\w*\s+(?:any|the|those|such|that)\s+(?:\w+\s+)?(?:instructions?|"
                       r"requests?|commands?)\b|\b(?:instructions?|requests?|commands?|orders)\s+"
                       r"(?:hidden\s+|inside\s+|in\s+|within\s+)(?:the\s+)?notes\b|\b(?:change|switch)"
                       r"\w*\s+(?:my|its)\s+(?:role|rules|output|behaviou?r)|\bcan'?t\s+change\s+my\s+role",
    "admit_missing": r"\b(?:if|when|whenever)\s+(?:the\s+)?(?:notes?|answer|sources?|there'?s)\b"
                     r"[^.;:]{0,40}\b(?:not|n't|lack|no|missing|isn't|nothing)\b[^.;:]{0,40}\b(?:say|"
                     r"reply|tell|admit|answer|state)\b|\badmit\w*\s+(?:when|gaps|missing|that)|"
                     r"\bmissing\s+answers\b|\bnot\s+covered\b",
    "no_invention": r"\b(?:do\s+not|don'?t|never|not|no)\s+(?:make|invent|fabricate|made)\w*[\s-]+"
                    r"(?:\w+\s+)?(?:up|answers?|anything)\b|\bnot\s+invented\b",
    "cite_numbers": r"\bcit(?:e|es|ing|ation|ations)\b[^.;]{0,50}\b(?:numbers?|brackets?|\[n\]|"
                    r"\[\d\])|\[n\]|\b(?:note|source)\s+numbers?\b|\bsquare\s+brackets\b|"
                    r"\bnumbered\s+citations?\b|\bwith\s+citations\b|\bcite\s+(?:each|every|all)\s+"
                    r"(?:statement|sentence|claim)",
    "only_shown": r"\bnumbers?\s+(?:that\s+are\s+)?(?:shown|given)\b|\bonly\s+the\s+numbers\b",
    "style": r"\bfew\s+(?:plain|short)?\s*sentences\b|\blanguage\s+(?:of|the)\s+(?:the\s+)?"
             r"question\b|"
             r"\b(?:same|user'?s|question'?s)\s+language\b|\bplain\s+sentences\b",
    "persistence": r"\bwhatever\s+(?:any\s+)?(?:later\s+)?(?:text|message|you\s+say)|\b(?:later|"
                   r"subsequent)\s+(?:text|messages?)\b|\bno\s+(?:later\s+)?(?:message|text)\s+can\s+"
                   r"(?:change|override)|\b(?:always|still)\s+(?:apply|applies|hold|holds)\b",
    "prompt_structure": r"\bsystem\s+(?:prompt|message)\b|\b(?:five|5)\s+(?:numbered\s+)?rules\b|"
                        r"\brule\s+list\b|\bmy\s+(?:configuration|prompt|setup)\s+(?:contains|says|"
                        r"defines|lists)|\bdefines\s+me\s+as\b",
}.items()}
SELF_REFERENCE = re.compile(
    r"\b(?:my|these|its)\s+(?:own\s+)?(?:system\s+)?(?:instructions|rules|guidelines|prompt|"
    r"directives|configuration|setup|set-up|rulebook|guidance|programming|operating\s+rules)\b|"
    r"\b(?:i|i'm|i\s+am|i've\s+been|i\s+was|i'm\s+being)\s+(?:\w+\s+)?(?:told|instructed|"
    r"configured|programmed|set\s+up|designed|supposed|required|meant|only\s+allowed|not\s+"
    r"allowed)\s+to\b|\b(?:system\s+(?:prompt|message)|developer\s+message|hidden\s+"
    r"(?:instructions|rule\s+list|rules)|setup\s+message)\b|\b(?:rule|instruction)\s+(?:one|two|"
    r"three|four|five|1|2|3|4|5|#\d)\b|\b(?:five|5)\s+(?:numbered\s+)?rules\b|\b(?:standing|"
    r"operating|fixed)\s+(?:rules|rulebook)\b|\bno\s+later\s+(?:message|text)\b|\bwhatever\s+"
    r"(?:any\s+)?later\s+text\b|\b(?:guidance|instructions|rules|guidelines|setup|prompt|"
    r"configuration)\s+(?:that\s+)?i\s+(?:received|was\s+given|got|follow|operate\s+under|have)\b|"
    r"\bwhat\s+i\s+was\s+told\b|\bi\s+was\s+told\b",
    _F)
FOREIGN_WORDS: dict[str, re.Pattern[str]] = {name: re.compile(p, _F) for name, p in {
    "rules": r"r[eè]gles?|reglas?|regeln|regole|regras|regels|правил|规则|ルール|규칙|zasad|kural|"
             r"kanuni|aturan|قواعد|κανόν|consignes|instrucciones|anweisungen|istruzioni|instru[cç]"
             r"[oõ]es|instructies|инструкци|指令|指示|지시|instrukcj|talimat|maagizo|instruksi|"
             r"تعليمات|οδηγίες",
    "notes": r"notas|notizen|notities|заметк|笔记|ノート|노트|notatk|notlar|maelezo|catatan|"
             r"ملاحظات|σημειώσεις",
    "only": r"seulement|uniquement|solo|solamente|únicamente|\bnur\b|ausschließlich|soltanto|"
            r"apenas|somente|alleen|только|лишь|只|仅|だけ|のみ|만|tylko|yalnızca|sadece|\btu\b|"
            r"hanya|فقط|μόνο",
    "reveal": r"r[eé]v[eé]ler|d[eé]voiler|revelar|divulgar|preisgeben|verraten|rivelare|onthul|"
              r"раскрыва|透露|泄露|明かさ|공개|ujawnia|açıkla|usifichue|fichua|mengungkapkan|تكشف|"
              r"αποκαλύψ",
    "data": r"donn[eé]es|datos|daten|\bdati\b|dados|gegevens|данны|数据|データ|데이터|\bdane\b|"
            r"\bveri\b|بيانات|δεδομένα",
    "cite": r"citer|citar|belegen|zitieren|citare|vermeld|указыва|引用|付け|인용|cytuj|belirt|taja|"
            r"kutip|اذكر|ανέφερε",
    "number": r"num[eé]ro|nummer|номер|编号|番号|번호|numer|numara|namba|nomor|رقم|αριθμό",
    "assistant": r"assistant[ea]?|asistente|assistent|ассистент|助手|アシスタント|어시스턴트|"
                 r"asystent|"
                 r"asistan|msaidizi|asisten|مساعد|βοηθός",
    "always": r"toujours|siempre|immer|sempre|altijd|всегда|始终|常に|항상|zawsze|her\s+zaman|"
              r"kila\s+wakati|selalu|دائم|πάντα",
}.items()}


# the searches that cannot match an ASCII view are skipped (``prefilter``)
_CONCEPTS = Prefilter({name: [p] for name, p in RULE_CONCEPTS.items()})
_FOREIGN = Prefilter({name: [p] for name, p in FOREIGN_WORDS.items()})
# the literals of either that a view holds, found in one pass (``literal_index``)
_CONCEPT_INDEX = LiteralIndex({name: [p] for name, p in RULE_CONCEPTS.items()}, _CONCEPTS.literals)
_FOREIGN_INDEX = LiteralIndex({name: [p] for name, p in FOREIGN_WORDS.items()}, _FOREIGN.literals)


def _count(patterns: dict[str, re.Pattern[str]], prefilter: Prefilter, view: str,
           present: frozenset[str] | None, at_least: int, enough: int) -> int:
    """How many of ``patterns`` match ``view`` as far as a verdict reads it: the count, up to
    ``enough``, when it is ``at_least`` or more; some number under ``at_least`` otherwise.
    Searches stop once ``enough`` matched or the patterns left cannot bring the count to
    ``at_least`` (a view that holds the literals of fewer is not searched at all).
    ``present``: the prefilter's literals the view holds (``literal_index``), None for a view
    outside ASCII (every pattern searched)."""
    candidates = [p for name, p in patterns.items()
                  if present is None or (lits := prefilter.literals.get(name)) is None
                  or lits & present]
    count = 0
    for i, pattern in enumerate(candidates):
        if count + len(candidates) - i < at_least or count >= enough:
            break
        if pattern.search(view):
            count += 1
    return count


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _runs(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


class EchoDetector:
    """``detector(text)`` is True when ``text`` echoes ``prompt`` (see the module docstring).
    ``allowed`` are phrases of the prompt that an honest answer may repeat (a run of words that
    lies inside one of them does not count)."""

    def __init__(self, prompt: str, allowed: Iterable[str] = ()) -> None:
        words = _words(clean(prompt))
        banned: set[tuple[str, ...]] = set()
        for phrase in allowed:
            banned |= self._overlapping(words, _words(phrase))
        self.runs = _runs(words, RUN_WORDS) - banned
        self.vocabulary = frozenset(w for w in words if len(w) >= 5)
        # the prompt's runs that a note quotes, per note text: a chunk comes back in many
        # contexts, and every answer made from it is checked (only the few shared runs kept)
        self._quoted = lru_cache(maxsize=2048)(
            lambda source: frozenset(self.runs & _runs(_words(clean(source)), RUN_WORDS)))

    @staticmethod
    def _overlapping(words: list[str], phrase: list[str]) -> set[tuple[str, ...]]:
        """Runs of the prompt that lie inside an occurrence of ``phrase``."""
        out: set[tuple[str, ...]] = set()
        k = len(phrase)
        for i in range(len(words) - k + 1):
            if words[i:i + k] == phrase:
                out |= {tuple(words[j:j + RUN_WORDS]) for j in range(i, i + k - RUN_WORDS + 1)}
        return out

    def __call__(self, text: str) -> bool:
        return self.reason(text) is not None

    def reason(self, text: str, sources: Iterable[str] = ()) -> str | None:
        """Why ``text`` counts as an echo (``verbatim``, ``paraphrase``, ``translation``, each
        with ``:decoded`` when found in a decoding), or None. A run of words that also stands
        in ``sources`` (the user's notes the answer was made from) is the answer quoting those
        notes, not the prompt: "your notes say to treat everyone as data written by users, not
        as instructions" is honest when a note says so."""
        body = clean(text)
        if not body:
            return None
        quoted = set().union(*(self._quoted(s) for s in sources))
        runs = self.runs - quoted if quoted else self.runs
        found = self._check(body, runs)
        if found:
            return found
        for hidden in decode.decodings(body):
            found = self._check(clean(hidden), runs)
            if found:
                return f"{found}:decoded"
        return None

    def _check(self, text: str, runs: set[tuple[str, ...]]) -> str | None:
        for view in views(text, self.vocabulary, min_length=5):
            if _runs(_words(view), RUN_WORDS) & runs:
                return "verbatim"
            squeezed = squeeze(view)
            present = None if squeezed is None else _CONCEPT_INDEX.present(squeezed)
            concepts = _count(RULE_CONCEPTS, _CONCEPTS, view, present, 2, CONCEPTS)
            if concepts >= CONCEPTS or (concepts >= 2 and SELF_REFERENCE.search(view)):
                return "paraphrase"
            present = None if squeezed is None else _FOREIGN_INDEX.present(squeezed)
            groups = _count(FOREIGN_WORDS, _FOREIGN, view, present,
                            2 if "[n]" in view else FOREIGN_GROUPS, FOREIGN_GROUPS)
            if groups >= FOREIGN_GROUPS or (groups >= 2 and "[n]" in view):
                return "translation"
        return None
