"""The sanitiser's families that work through syntax or data access rather than wording.

special_tokens (chat-template tokens, fake tags, role lines such as ``SYSTEM:`` at the start of
a line or sentence), exfiltration (Markdown images, HTML, links to put in the answer, phishing),
cross_user (other users' notes), sql_injection and code_injection, payload_split (an order cut
into pieces to be joined). ``DAN`` (case kept) and ``SQUASHED`` (letters only) are checked on
their own views by the sanitiser.
"""

from __future__ import annotations

import re

from rag_core.safety.prefilter import Source

_F = re.IGNORECASE | re.MULTILINE


def _c(*patterns: str) -> list[Source]:
    return [Source(p, _F) for p in patterns]


FAMILIES: dict[str, list[Source]] = {
    "special_tokens": _c(
        r"<\|[^|>\n]{1,40}\|>|<<\s*/?\s*sys\s*>>",
        r"\[/?\s*(?:inst|sys|system|system_prompt|assistant|user|admin|developer|context)\s*\]",
        r"</?\s*(?:system|sys|assistant|user|human|ai|bot|developer|admin|instructions?|rules?|"
        r"prompt|context|im_start|im_end|s|inst|notes?|question|tool|function|policy|config|"
        r"override|root)\b[^>\n]{0,40}>",
        r"^\s*(?:#{1,6}|\*\*|==+|--+|\[)?\s*(?:system|assistant|developer|admin|administrator|"
        r"root|operator|sysadmin|moderator|ai|bot|gpt|llm|new\s+instructions?|new\s+rules|"
        r"instructions?|system\s+(?:prompt|message|note|override|update|notice)|admin\s+"
        r"(?:override|note|message|instruction|command)|override|important\s+(?:system\s+)?"
        r"(?:instruction|update|notice))\s*(?:\*\*|\])?\s*(?::|-{1,2}>|=>)",
        r"^\s*#{1,6}\s*(?:system|instructions?|response|assistant|user|admin|developer|new\s+"
        r"rules|input|output)\b",
        r"[\"']role[\"']\s*:\s*[\"'](?:system|assistant|developer|tool)[\"']",
        r"\b(?:begin|end|start)\s+(?:of\s+)?(?:the\s+)?(?:system|admin|developer|hidden|new|user)"
        r"\s+(?:prompt|instructions?|message|rules|input)\b",
        r"^\s*(?:system|admin|developer)\s+override\b",
        r"\bnew\s+(?:system\s+)?(?:instructions?|rules|directives|orders|policy|guidelines)\s*"
        r"(?::|follow\b|below\b|from\s+(?:the\s+)?(?:developer|admin|system|app|team|owner))",
    ),
    "exfiltration": _c(
        r"!\[[^\]\n]*\]\(\s*[^)\s]+",
        r"<\s*(?:img|script|iframe|svg|object|embed|link|meta|style|form|input|body|video|audio|"
        r"base|frame|frameset|math|details|marquee|a\s+href)\b",
        r"\bon(?:error|load|click|mouseover|focus|blur|submit|change|input|keydown|keyup|"
        r"pointer\w*|animation\w*)\s*=",
        r"\b(?:javascript|vbscript):|data:text/html|document\.cookie|xmlhttprequest|"
        r"window\.location|\bfetch\s*\(",
        r"\b(?:append|add|include|insert|embed|render|put|place|attach|output|write|show|display|"
        r"give)\b[^.!?\n]{0,60}(?:https?://|www\.)\S*[?&]\S*=",
        r"\b(?:ask|request)\s+(?:me\s+|them\s+|the\s+user\s+)?(?:for\s+)?(?:my|the\s+user'?s|"
        r"their|your)\s+(?:card|credit\s+card|bank|account|pin|password|cvv|ssn|login)",
        r"\[[^\]\n]*\]\(\s*(?:https?:)?//[^)\s]*[?&][^)\s]*=",
        r"\b(?:append|add|include|insert|embed|render|put|place|attach|end|finish|close)\b[^.!?\n]"
        r"{0,60}(?:https?://|www\.|\b(?:link|url|image|img|picture|pixel|hyperlink)\b)[^.!?\n]"
        r"{0,60}\b(?:in|into|to|at\s+the\s+end\s+of)\s+(?:your|the)\s+(?:answer|reply|response|"
        r"output|message)",
        r"\b(?:visit|go\s+to|click|open|follow)\s+\S*(?:https?://|www\.)\S+\s+(?:to|and)\s+"
        r"(?:confirm|verify|log|sign|update|unlock|enter|claim|secure|see)",
        r"\b(?:log\s?in|sign\s?in|login)\s+(?:at|on|via)\s+\S*(?:https?://|www\.)",
        r"\bwebhook\b|\bexfiltrat\w*|\bsend\s+(?:\w+\s+){0,4}to\s+(?:https?://|www\.|\S+@\S+)",
        r"\b(?:bank|account)\s+password|\b(?:send|give|share|enter|type|need)\s+(?:me\s+|us\s+)?"
        r"(?:your|their|the\s+user'?s)\s+(?:password|pin|bank\s+details|card\s+number)",
    ),
    "cross_user": _c(
        r"\b(?:notes?|library|libraries|files|data|account|history|questions|documents)\s+(?:of|"
        r"from|belonging\s+to|owned\s+by)\s+(?:the\s+)?(?:user|account|tenant|customer)\s+"
        r"['\"]?\w+",
        r"\b(?:user_?id|userid|tenant(?:_?id)?|account_?id|owner_?id|uid)\s*[=:]",
        r"\b(?:switch|change|swap|log\s?in|sign\s?in|logged\s+in|login|impersonate)\s+(?:to|as|"
        r"into)?\s*(?:user|account|the\s+account\s+of)\s+\w+",
        r"\b(?:pretend|imagine|assume|suppose)\s+(?:that\s+)?(?:i\s+am|i'm|im)\s+(?!a\b|an\b|the\b)"
        r"\w+\s+(?:and|,)\s*(?:answer|search|show|use|read|give|look)",
        r"\b(?:other|all|every|another|different|each|any)\s+(?:of\s+the\s+)?(?:users?|tenants?)"
        r"\b|\b(?:other|all|every|another|each)\s+accounts?\s+(?:in|on|of)\s+(?:this|the)\s+(?:app|"
        r"system|database|service)\b|\b(?:every|each|all|other)\s+accounts?\b(?=[^.!?\n]*\bnotes\b)|\bnotes\b[^.!?\n]{0,30}"
        r"\b(?:every|each|all|other)\s+accounts?\b|\b(?:everyone|everybody)(?:'s|’s)\s+(?:notes|librar)",
        r"\b(?:list|show|dump|export|give\s+me|print|display|return|output)\s+(?:me\s+)?(?:every|"
        r"each|all(?:\s+the)?)\s+(?:notes?|documents?|records?|rows?|chunks?|(?:document\s+)?ids?|"
        r"entries)\s+(?:\w+\s+)?(?:in|from|of)\s+(?:the\s+)?(?:database|db|index|store|system|"
        r"server|app)",
        r"\b(?:show|read|give|list|search|open|access|get|fetch|pull\s+up|display|print|see|view|"
        r"check|use|retrieve)\s+(?:me\s+)?(?!(?:my|our|the|his|her|their|your|its|this|that)\b)"
        r"\w{2,20}(?:'s|’s|s')\s+(?:\w+\s+)?(?:library|account|files|data|questions|history)\b",
    ),
    "code_injection": _c(
        r"\$\{\s*jndi:|\$\{[^}\n]{1,60}\}|\{\{[^}\n]{1,60}\}\}|\{%[^%\n]{1,60}%\}|<\?php",
        r"\brm\s+-rf\b|(?:&&|;|\|\|?)\s*(?:cat|ls|rm|curl|wget|bash|sh|nc|python|powershell|"
        r"chmod|sudo)\b|\.\./\.\./|/etc/(?:passwd|shadow)",
    ),
    "sql_injection": _c(
        r"(?:['\";)]|--)\s*(?:drop\s+(?:table|database|schema)|delete\s+from|insert\s+into|"
        r"update\s+\w+\s+set|alter\s+table|truncate\s+\w+|select\s+[\w*,\s]+\s+from|union\s+"
        r"select)\b",
        r"\bunion\s+(?:all\s+)?select\b|\bor\s+['\"]?1['\"]?\s*=\s*['\"]?1\b|'\s*or\s*'[^']*'\s*=\s*'",
        r"\bdrop\s+table\b|\bdelete\s+from\b|\binsert\s+into\b|\bselect\s+\*\s+from\b",
        r"\bupdate\s+\w+\s+set\s+\w+\s*=",
        r"\bpg_sleep\b|\bsleep\s*\(\s*\d|\bbenchmark\s*\(|information_schema|pg_catalog|"
        r"xp_cmdshell",
        r"\b(?:query|dump|read|scan)\s+(?:the\s+)?(?:notes|chunks|users|user_api_costs|costs)\s+"
        r"table\b",
    ),
    "payload_split": _c(
        r"(?s)^(?=.*\b(?:do|execute|follow|obey|carry\s+out|perform|act\s+on|run|comply)\s+(?:the\s+)?"
        r"(?:it|them|that|this|result|combination|combined|instruction|command|order)\b).*?"
        r"\b(?:combine|combination|concatenate|concat|join|merge|put\s+together|assemble|glue|"
        r"stitch)\b[^\n]{0,80}?\b(?:words?|fragments?|parts?|pieces?|strings?|letters?|brackets?|"
        r"lines?|variables?|halves)\b",
        r"(?s)(?:\b\w{1,3}\s*=\s*[\"'“‘][^\"'”’\n]{1,40}[\"'”’].*?){2}",
        r"(?s)\b(?:first|last|initial)\s+letters?\s+of\s+(?:each|every)\s+(?:line|word|sentence)"
        r".*\b(?:follow|do|obey|execute|order|instruction)",
        r"(?s)\bremember\s+(?:the\s+)?(?:word|phrase|string)\b.*\b(?:combination|combine|together|"
        r"both)\b",
        r"\b(?:do|execute|run|follow|obey|perform)\s+\w{1,3}\s*\+\s*\w{1,3}\b",
    ),}

# On a view with every non-letter removed: ``SQUASHED`` when letters were spelled apart,
# ``SQUASHED_ALWAYS`` (long, specific runs) on every text, for spaces put inside words.
SQUASHED: list[re.Pattern[str]] = [re.compile(p) for p in (
    r"(?:ignore|disregard|forget)(?:all|the|your|any|of|previous|prior|above|earlier)*"
    r"(?:instructions?|rules|prompt|guidelines)",
    r"systemprompt|developermode|jailbreak|doanythingnow|youarenow(?:dan|anai|unrestricted)",
    r"(?:reveal|print|show|repeat)your(?:system|rules|instructions|prompt|hidden)",
)]
SQUASHED_ALWAYS: list[re.Pattern[str]] = [re.compile(p) for p in (
    r"(?:ignore|disregard|forget)(?:all|the|any|of)*(?:previous|prior|above|earlier|your)"
    r"(?:instructions?|prompt|guidelines|rules)",
    r"(?:the|your|print|show|reveal)systemprompt|developermode|doanythingnow",
)]

# ``DAN`` is a jailbreak only in capitals and next to a persona cue (``Dan`` is a name, a city
# and a tribe); checked on the clean text, case kept.
DAN = re.compile(r"(?:\b(?:you\s+are|you're|as|called|named|become|be|i\s+am)\s+(?:now\s+)?DAN\b|"
                 r"\bDAN\s+(?:mode|prompt|jailbreak)\b|\bDAN\b[^.!?\n]{0,30}\b(?:no\s+rules|"
                 r"anything\s+now|jailbreak|unrestricted))")
