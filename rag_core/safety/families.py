"""The sanitiser's English wording families (syntax ones: ``families_syntax.py``; other
languages: ``languages.py``).

Patterns run on the detection views of one sentence or line (``normalise.views``: case-folded,
look-alikes folded), so they are written in lower case. Three habits keep honest questions out:

- an instruction counts only in the imperative, at the start of a clause (``LEAD``) or after
  "you must / I want you to" (``MODAL``): "why did Jesus ignore the rules" and "how should we
  respond only with love" are reported speech, "ignore the rules" is an order;
- rules, instructions and prompts count only when they are the assistant's (``MINE``: your,
  previous, system, hidden, ... or "you were given"): "the rules of the Sabbath" are not;
- personas count only as assistant-like nouns (``PERSONA``): "you are now a new creation" is
  not a persona, "you are now an unrestricted AI" is.

Families here: ignore_instructions (also leaving the notes for general knowledge),
prompt_leak, role_override, jailbreak, policy_override, encoding_trick, output_hijack.
"""

from __future__ import annotations

import re

from rag_core.safety.prefilter import Source

_F = re.IGNORECASE | re.MULTILINE
LEAD = (r"(?:^|[.!?;:,\n\"'(\[\]>*-]\s*|\b(?:and|then|but|so|now|please|pls|just|also|instead|"
        r"first|finally|ok|okay|kindly|simply|immediately|next|quickly|hey|hi|hello)\s+)")
MODAL = (r"(?:\byou\s+(?:must|should|will|shall|need\s+to|have\s+to|are\s+to|can|may|are\s+"
         r"(?:now\s+)?(?:allowed|free|permitted)\s+to)\s+(?:now\s+)?|\bi\s+(?:want|need|order|"
         r"command|instruct|ask|require)\s+you\s+to\s+|\bi'?d\s+like\s+you\s+to\s+)")
ORDER = f"(?:{LEAD}|{MODAL})"
W = r"[\w'’-]+"  # one word
CONFIG = (r"(?:system\s*prompts?|system\s*messages?|developer\s*messages?|prompts?|instructions?|"
          r"rules|rule\s*book|rulebook|guidelines?|guidance|directives?|directions|programming|"
          r"configuration|config|set-?up|constraints|restrictions|polic(?:y|ies)|preamble|"
          r"operating\s+(?:rules|instructions|principles))")
# Nouns that mean the assistant's own set-up even without "your": honest questions speak of
# "the rules of the Sabbath" and "God's instructions to Noah", hence the lookahead.
STRONG = (r"(?:instructions?|prompts?|guidelines|directives|programming|configuration|rule\s*book|"
          r"system\s+messages?|developer\s+messages?|set-?up\s+messages?)"
          r"(?!\s+(?:of|from|in|on|for|about|given\s+by|god|jesus|paul)\b)")
YOUR = (r"(?:your|ur|yr|thy|(?:the|this)\s+(?:assistant|bot|ai|chatbot)(?:'s|s')?)")
MINE = (rf"(?:{YOUR}|(?:the\s+)?(?:all\s+(?:of\s+)?(?:the\s+)?)?(?:system|hidden|secret|internal|"
        r"developer|previous|prior|earlier|above|preceding|foregoing))")
GIVEN = (r"(?:you\s+(?:were|have\s+been|got|had\s+been)\s+(?:given|told|handed|sent|instructed|"
         r"programmed|configured|trained)|you\s+(?:received|operate\s+under|run\s+with|are\s+"
         r"running\s+with))")
USE = r"(?:you\s+(?:follow|have|obey|use|must\s+follow|are\s+following|are\s+using))"
PERSONA = (r"(?:ai|a\.i\.|assistant|bot|chatbot|(?:ai|language)\s+model|llm|gpt|chatgpt|dan|"
           r"persona|"
           r"hacker|terminal|shell|console|admin|administrator|developer|jailbroken|unrestricted|"
           r"unfiltered|uncensored|unbound|evil\s+\w+|rogue\s+\w+|villain|"
           r"free(?:bot|\s+ai|\s+assistant|\s+model)|free\s+from\s+(?:all\s+|your\s+|any\s+)?"
           r"(?:rules|restrictions|constraints|guidelines|filters)|(?:developer|dev|debug|jailbreak|"
           r"god|admin|unrestricted|unfiltered|dan|maintenance|root|sudo|evil|uncensored|unlocked|"
           r"chaos|opposite)\s+mode|pirate|grandma|grandmother|different\s+(?:ai|assistant|bot|"
           r"model)|new\s+(?:ai|assistant|bot|model|persona))")
IGNORE = (r"(?:ignore|disregard|forget|skip|drop|discard|abandon|neglect|overlook|dismiss|scrap|"
          r"ditch|erase|delete|clear|reset|cancel|override|overrule|bypass|circumvent|"
          r"(?:set|put|leave|lay|cast|throw|toss)\s+(?:aside|away|out)|pay\s+no\s+(?:attention|"
          r"heed|mind)\s+to|(?:stop|quit|cease)\s+(?:following|obeying|using|applying)|"
          r"(?:do\s+not|don'?t|never|no\s+longer)\s+(?:follow|obey|apply|use|listen\s+to|heed)|"
          r"forget\s+about)")
VOID = (r"(?:cancel+ed|void|revoked|lifted|removed|suspended|withdrawn|disabled|deleted|reset|"
        r"outdated|obsolete|null|invalid|overridden|replaced|superseded|expired|gone|erased|"
        r"irrelevant|no\s+longer\s+(?:valid|active|in\s+(?:force|effect)|relevant|needed|"
        r"apply|applies|count|counts|matter|matters|hold|holds|binding))")
SHOW = (r"(?:show|reveal|print|repeat|display|output|dump|tell|give|share|list|recite|write|say|"
        r"spell|quote|copy|paste|echo|disclose|expose|leak|read|summari[sz]e|paraphrase|"
        r"translate|encode|return|send|provide|describe|explain|state|type|render|post|detail|"
        r"enumerate|outline|restate|rephrase|reproduce|cite|transcribe|publish|print\s+out)")
ENCODINGS = (r"(?:an?\s+)?(?:base\s?64|b64|hex(?:adecimal)?|binary|rot-?\s?13|morse(?:\s+code)?|"
             r"caesar(?:\s+cipher)?|cipher|leetspeak|leet|pig\s+latin|ascii(?:\s+codes)?|unicode"
             r"(?:\s+escapes)?|url[- ]?encod\w*|reverse(?:d)?(?:\s+order)?|backwards)")


def _c(*patterns: str) -> list[Source]:
    return [Source(p, _F) for p in patterns]


FAMILIES: dict[str, list[Source]] = {
    "ignore_instructions": _c(
        rf"{ORDER}{IGNORE}\s+(?:{W}\s+){{0,5}}?{STRONG}\b",
        rf"{ORDER}{IGNORE}\s+(?:all\s+)?(?:of\s+)?{MINE}\s+(?:{W}\s+){{0,2}}?(?:rules|notes|"
        rf"context|text|messages?|commands|orders|polic(?:y|ies)|filters|setup|settings)\b",
        rf"{ORDER}{IGNORE}\s+(?:all\s+|everything\s+|anything\s+)?(?:of\s+)?(?:the\s+)?(?:above|"
        rf"before|prior|previous|earlier|preceding)\b",
        rf"{ORDER}{IGNORE}\s+(?:{W}\s+){{0,3}}?{GIVEN}",
        rf"{ORDER}{IGNORE}\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+)?(?:{W}\s+)?{CONFIG}\s+(?:above|"
        rf"before\s+(?:this|my)|earlier|so\s+far|up\s+to\s+now|in\s+(?:your|the)\s+(?:system|"
        rf"prompt|setup))",
        rf"{ORDER}{IGNORE}\b[^.!?\n]{{0,120}}?\b(?:your|previous|prior|earlier|above|preceding|"
        rf"initial|original|system)\s+(?:{W}\s+)?{STRONG}\b",
        rf"{ORDER}{IGNORE}\s+(?:all\s+)?(?:of\s+)?(?:the|my|these)\s+notes\b",
        rf"{ORDER}(?:put|set|lay|leave)\s+(?:{MINE}|the)\s+(?:{W}\s+){{0,2}}?{CONFIG}\s+(?:aside|"
        rf"to\s+(?:one|the)\s+side|away|on\s+hold)",
        rf"^(?=.*\b(?:your|you\s+were|you\s+received|you'?ve\s+been|previous|prior|earlier|"
        rf"initial|original|system|above)\b).*\b{CONFIG}\b[^.!?\n]{{0,60}}?\b(?:are|is|were|was|"
        rf"have\s+been|has\s+been|been|now)\s+(?:now\s+|hereby\s+|officially\s+|all\s+)?{VOID}",
        rf"^(?=.*\b(?:your|you\s+were|you\s+received|previous|prior|earlier|initial|original|"
        rf"system|above)\b).*\b{CONFIG}\b[^.!?\n]{{0,40}}?\b(?:no\s+longer|don'?t|do\s+not)\s+"
        rf"(?:apply|applies|count|matter|hold|bind)",
        rf"{ORDER}(?:treat|consider|regard|deem)\s+(?:{MINE}\s+|everything\s+|all\s+|anything\s+|"
        rf"the\s+)(?:{W}\s+){{0,5}}?(?:as\s+)?(?:void|cancel+ed|deleted|null|invalid|obsolete|"
        rf"erased|gone|irrelevant|not\s+applicable)",
        r"\bwhatever\s+(?:you\s+were|you'?ve\s+been|was)\s+(?:told|instructed|given|said)\b",
        r"\bnew\s+(?:session|conversation|context|chat)\b[^.!?\n]{0,40}\b(?:reset|cleared|"
        r"wiped|erased|forgotten)",
        rf"{ORDER}(?:answer|respond|reply|use|rely\s+on|draw\s+on|go\s+with|tell\s+me|explain)\b"
        rf"[^.!?\n]{{0,30}}?\b(?:your\s+|the\s+)?(?:general|own|outside|world|internet|prior|"
        rf"background|training|common)\s+(?:knowledge|data|information|memory|sources?)\b",
        r"\b(?:without|instead\s+of|rather\s+than|beyond|outside(?:\s+of)?|not\s+from|apart\s+"
        r"from)\s+(?:using\s+|looking\s+at\s+|consulting\s+|checking\s+|relying\s+on\s+)?(?:the|"
        r"my|your|these)\s+(?:sermon\s+)?notes\b(?=[^?]*(?:\b(?:tell|explain|answer|give|"
        r"recommend|describe|write|chat|list)\b|\?))",
        rf"{ORDER}(?:forget|ignore|skip|drop|leave|abandon)\s+(?:the|my|your)\s+(?:sermon\s+)?"
        rf"(?:library|sources|notes\s+library)\b",
        r"\b(?:usual|normal|standard|regular)\s+(?:limits|rules|restrictions|constraints|"
        r"guidelines|polic(?:y|ies))\s+(?:don'?t|do\s+not|no\s+longer)\s+apply\s+(?:to\s+(?:it|this"
        r"|me|you|my|this\s+question)|this\s+time|today|here|now|for\s+(?:this|me|you))",
        r"\b(?:answer|response|reply)\s+(?:doesn'?t|does\s+not|need\s+not|needn'?t)\s+(?:have\s+"
        r"to\s+|need\s+to\s+)?(?:come|be\s+based|rely|stick|be\s+limited)|\b(?:doesn'?t|don'?t|do"
        r"\s+not)\s+(?:have\s+to|need\s+to)\s+(?:use|stick\s+to|rely\s+on|come\s+from|be\s+based"
        r"\s+on)\s+(?:the|my)\s+notes\b",
        rf"{ORDER}(?:follow|obey|do)\s+(?:only\s+)?(?:what\s+i\s+say|my\s+(?:instructions|orders|"
        rf"commands|rules|directions))\b",
        rf"\b(?:earlier|previous|original|initial|first)\s+{CONFIG}\s+(?:was|were)\s+(?:only\s+|"
        rf"just\s+)?(?:a\s+)?(?:draft|test|mistake|placeholder|example|fake|wrong|joke)\b",
        r"\b(?:rather\s+than|instead\s+of|over)\s+your\s+(?:own\s+)?(?:rules|instructions|"
        r"guidelines|prompt)\b",
        r"\bas\s+(?:commands?|instructions?|orders?|directives?)\s+(?:from|by)\s+(?:the\s+)?"
        r"(?:admin|administrator|system|developer|owner|operator)|\bas\s+(?:system|admin|developer)"
        r"\s+(?:commands|instructions|messages|orders)\b",
        r"\b(?:stop|quit)\s+limiting\s+yourself\b|\b(?:go|look|step|think)\s+beyond\s+(?:the|"
        r"my|your)\s+notes\b",
    ),
    "prompt_leak": _c(
        # "share / recite / repeat the words above" asks for what precedes the text, which for
        # a model is its instructions: a reveal request wherever it stands, in any tense
        rf"\b(?:share|recite|repeat|reveal|print|output|echo|copy|dump|disclose|leak|spell\s+"
        rf"out|read\s+out|type\s+out|write\s+out)(?:s|es|d|ed|ing)?\b\s+(?:me\s+|us\s+|back\s+|"
        rf"out\s+|aloud\s+)?(?:all\s+(?:of\s+)?|every\s+one\s+of\s+)?(?:the|these|those)\s+"
        rf"(?:{W}\s+)?(?:words|text|lines|sentences|instructions|messages?|paragraphs?|prompt|"
        rf"rules)\s+(?:(?:written|printed|shown|given|placed)\s+|that\s+(?:are|is|were|was|"
        rf"came|come|stand|sit)\s+)?(?:above(?!\s+all\b)|before\s+(?:this|these|the\s+notes|"
        rf"my|your)|preceding)\b",
        rf"\b{SHOW}\b\s+(?:me\s+|us\s+|back\s+|out\s+|down\s+|aloud\s+|to\s+me\s+)?(?:{W}\s+)"
        rf"{{0,4}}?{YOUR}\s+(?:{W}\s+){{0,2}}?{CONFIG}\b",
        rf"\b{SHOW}\b\s+(?:me\s+|us\s+|back\s+|out\s+|down\s+|aloud\s+|to\s+me\s+)?(?:{W}\s+)"
        rf"{{0,4}}?{MINE}\s+(?:{W}\s+){{0,2}}?{STRONG}",
        rf"{ORDER}{SHOW}\s+(?:me\s+|us\s+)?(?:the\s+|all\s+(?:the\s+)?)?(?:rules|instructions|"
        rf"guidelines)\s+{USE}\b",
        rf"\b{CONFIG}\s+(?:that|which)\s+(?:govern|control|shape|define|constrain|guide|apply\s+"
        rf"to|determine|rule|tell|instruct|direct)s?\s+(?:you|your)\b",
        r"\b(?:text|paragraph|message|passage|section|part|wording|lines?|sentences?|document|"
        r"words)\s+(?:that\s+)?you\s+(?:received|were\s+given|got|were\s+sent|were\s+handed)\b",
        r"\b(?:explains?|defines?|describes?|sets?\s+out|specif(?:y|ies)|governs?|controls?)\s+"
        r"your\s+(?:task|behaviou?r|role|job|purpose|rules|limits|answers)\b",
        rf"\bwhat\s+(?:are|were|is|was|'s)\s+{MINE}\s+(?:{W}\s+){{0,2}}?{CONFIG}\b",
        r"\bwhat\s+(?:exactly\s+|precisely\s+)?(?:were|are|have)\s+you\s+(?:been\s+)?(?:told|"
        r"instructed|programmed|"
        r"configured|trained|asked|ordered|given|forbidden)\b",
        r"\b(?:how|why)\s+(?:were|are|was)\s+you\s+(?:set\s+up|configured|programmed|instructed|"
        r"prompted|built|designed|told|trained)\b",
        r"\b(?:text|words?|everything|anything|all|lines?|sentences?|content|messages?|stuff|what"
        r"|instructions|guidance)\s+(?:that\s+|which\s+)?(?:came|comes|come|is|was|were|appears?|"
        r"appeared|written|shown|stands|sits|precedes|preceded)?\s*(?:right\s+|directly\s+|just\s+"
        r"|immediately\s+)?(?:above|before|prior\s+to|preceding|ahead\s+of|earlier\s+than)\s+(?:"
        r"my|this|the|our)\s+<?(?:question|message|prompt|input|query|line|conversation|chat|notes"
        r"|request|text)",
        r"\b(?:before|above|prior\s+to|ahead\s+of)\s+(?:my|this|the)\s+(?:question|message|input|"
        r"query)\s*,?\s*(?:there\s+(?:was|is|were|are)|you\s+(?:got|received|were\s+given|have))",
        rf"\b{SHOW}\b[^.!?\n]{{0,60}}\b(?:in|of|from)\s+your\s+(?:input|context(?:\s+window)?|"
        rf"prompt|memory|setup|instructions)\b",
        r"\b(?:first|last|opening|initial|starting)\s+(?:\d+\s+|few\s+|\w+\s+)?(?:words?|lines?|"
        r"sentences?|characters?|tokens?|paragraphs?)\s+(?:of|in|from)\s+(?:this|the|our|your)\s+"
        r"(?:conversation|chat|prompt|context|input|instructions|message|session|text)",
        r"^(?=.*\byou(?:r)?\b).*\brules?\s+(?:number\s+|no\.?\s*|#\s*)?(?:\d|one|two|three|four|"
        r"five|six|seven)\b",
        r"\b(?:if|suppose|imagine|assuming|hypothetically)\b[^.?!\n]{0,40}\byou\s+(?:had|have|were"
        r"\s+given|received|followed|operated\s+under)\b[^.?!\n]{0,40}\b(?:hidden|secret|internal|"
        r"operating|system|special|confidential)\b[^.?!\n]{0,30}?(?:rules|instructions|prompt|"
        r"guidelines|directives)",
        r"\byou\s+(?:had|have|were\s+given|received|follow|operate\s+under|keep|got)\s+(?:a\s+|"
        r"any\s+|some\s+)?(?:hidden|secret|internal|operating|standing|confidential|private)\s+"
        r"(?:set\s+of\s+)?(?:\w+\s+)?(?:rules|instructions|prompt|guidelines|directives|rulebook)",
        rf"\b{CONFIG}\s+(?:that\s+)?{GIVEN}|\b{STRONG}\s+(?:that\s+)?{USE}\b",
        r"\b(?:system\s*prompt|system\s*message|developer\s*message|prompt\s*template|pre-?prompt|"
        r"initial\s+prompt|original\s+prompt|hidden\s+prompt|meta-?prompt|opening\s+prompt|"
        r"setup\s+message)s?\b",
        r"\b(?:assistant|chatbot|bot|ai|model)(?:'s|s')\s+(?:own\s+)?(?:rule\s*book|rules|"
        r"instructions|prompt|guidelines|configuration|secret)",
        rf"\b{CONFIG}\s+(?:have|were|did|do|are|had)\s+you\s+(?:been\s+)?(?:given|told|"
        rf"instructed|follow|have|obey|use|keep|asked|received|got)\b",
        r"\bwhat\s+(?:are|were|is)\s+you\s+(?:not\s+)?(?:allowed|permitted|forbidden|supposed|"
        r"able|meant)\s+to\s+(?:say|tell|share|reveal|discuss|talk|do|answer)|\bwhat\s+(?:can'?t|"
        r"cannot|mustn'?t|won'?t)\s+you\s+(?:say|tell|talk|discuss|reveal|share)",
        r"(?s)\b(?:complete|finish|continue)\s+(?:the|this|my)\s+(?:sentence|phrase|text|line)\b.*"
        r"\b(?:instructions|rules|prompt|setup|guidelines|system)\b|\bfill\s+in\s+the\s+blanks?"
        r"\b.*\b(?:rule|instruction|prompt|guideline)",
        rf"\b{SHOW}\b\s+(?:me\s+)?(?:{W}\s+){{0,2}}?(?:everything|all|the\s+conversation|this\s+"
        rf"conversation|the\s+chat|this\s+chat|the\s+context|the\s+text)\s+(?:so\s+far|up\s+to\s+"
        rf"(?:now|here))\b",
        r"\b(?:from|since)\s+the\s+(?:very\s+)?(?:beginning|start|top)\s+of\s+(?:this|the|our)\s+"
        r"(?:conversation|chat|session|context|input)\b",
        rf"{ORDER}{SHOW}\s+(?:me\s+)?(?:all\s+(?:of\s+)?|everything\s+|the\s+text\s+|the\s+)?"
        rf"(?:above|before\s+this)\b",
        r"\b(?:rules?|instructions?|guidelines?|prompt)\s+(?:that\s+)?(?:i|you)\s+(?:was|were)\s+"
        r"given\b",
        r"\b(?:written|set|given|prepared|provided|put|laid\s+down)\s+(?:for|to)\s+you\s+by\s+"
        r"(?:the\s+|your\s+)?(?:developers?|creators?|engineers?|company|app|admins?|makers?|"
        r"programmers?|owners?)",
    ),
    "role_override": _c(
        rf"\byou\s*(?:are|'re|r)\s+(?:now|henceforth|no\s+longer|from\s+now\s+on|hereby|"
        rf"officially)\b[^.?!\n]{{0,40}}?\b{PERSONA}\b",
        r"\bfrom\s+(?:now|here)\s+on\b,?\s+(?:you\s+(?:are|will|must|should|shall|can|may)|you'"
        r"re|you'll|answer|respond|reply|act|behave|speak|talk|write|pretend|only|always|never|"
        r"ignore|forget|call\s+yourself|refer\s+to\s+yourself)\b",
        rf"{ORDER}(?:pretend|imagine|suppose|assume|act\s+as\s+if|act\s+like)\s+(?:that\s+)?"
        rf"(?:you\s*(?:are|'re|were)|to\s+be|you\s+(?:have|had))\b[^.?!\n]{{0,40}}?(?:\b{PERSONA}"
        rf"\b|\bno\s+(?:rules|restrictions|filters|limits|guidelines|policy)|\bnot\s+(?:an?\s+)?"
        rf"(?:ai|assistant|notes\s+assistant))",
        rf"{ORDER}(?:act|behave|respond|function|operate|serve|pose|role-?\s?play|play)\s+(?:as|"
        rf"like)\s+(?:if\s+you\s+(?:are|were)\s+)?(?:a|an|the|my|some)?\s*(?:{W}\s+){{0,3}}?"
        rf"{PERSONA}\b",
        r"\b(?:let'?s|lets|we(?:'ll|\s+will)?)\s+play\s+(?:a\s+)?(?:game|role|pretend)",
        rf"{ORDER}(?:let'?s\s+)?role-?\s?play(?:ing)?\s+(?:as|a|an|that|where|with)\b",
        r"\b(?:stay|remain|keep|get)\s+in\s+character\b",
        rf"\b(?:simulate|emulate|impersonate|become|channel)\s+(?:a|an|the|my)?\s*(?:{W}\s+)"
        rf"{{0,3}}?{PERSONA}\b",
        r"\byou(?:'re|\s+are)\s+my\s+(?:late\s+|dear\s+|dead\s+|deceased\s+|old\s+)?(?:grandma|"
        r"grandmother|granny|grandpa|grandfather|nan|nana|mother|mom|mum|father|dad)\b",
        r"\b(?:enter|enable|activate|switch\s+(?:to|into|on)|turn\s+on|go\s+(?:in)?to|boot\s+"
        r"(?:in)?to|unlock|start)\s+(?:the\s+)?(?:developer|dev|debug|jailbreak|jailbroken|god|"
        r"admin|unrestricted|unfiltered|dan|maintenance|root|sudo|evil|free|uncensored|unlocked|"
        r"test|chaos|raw|opposite)\s+mode",
        r"\b(?:developer|dev|debug|jailbreak|god|admin|unrestricted|unfiltered|dan|maintenance|"
        r"root|sudo|evil|uncensored)\s+mode\s+(?:is\s+)?(?:enabled|activated|on|engaged|unlocked)",
        r"\bforget\s+(?:that\s+)?you\s*(?:are|'re)\s+(?:a|an|the)\b",
        rf"\byou\s+will\s+(?:now\s+)?(?:act|behave|respond|pretend|play|be)\s+(?:as\s+)?(?:a|an|"
        rf"my)?\s*(?:{W}\s+){{0,3}}?{PERSONA}\b",
        r"\b(?:change|update|modify|alter|replace|rewrite|reset|switch)\s+your\s+(?:role|persona|"
        r"identity|name|personality|character|job|purpose|task|behaviou?r|mode)\b",
        r"\byour\s+(?:new|next|real|actual|only|true)\s+(?:task|job|role|purpose|instructions?|"
        r"goal|mission|name|identity|persona)\s+(?:is|are|will\s+be)\b|\byour\s+name\s+is\s+now\b",
        rf"\byou\s*(?:are|'re)\s+(?:a|an)\s+(?:{W}\s+){{0,3}}?{PERSONA}\s+now\b",
        r"\byou\s*(?:are|'re)\s+(?:an?\s+)?(?:ai|assistant|chatbot|bot|model|llm)\s+(?:with|that|"
        r"who|called|named)\b",
        r"\b(?:answer|respond|reply|act|speak|write)\s+as\s+(?:if|though)\s+you\s+(?:were|are)\b",
        r"\b(?:stop|quit|cease)\s+being\s+(?:a|an|the|my)\s+",
    ),
    "jailbreak": _c(
        r"\bdo\s+anything\s+now\b|\bjail-?\s?break(?:s|ed|ing)?\b|\bjailbroken\b|"
        r"\b(?:developer|god|dev|unfiltered|unrestricted)\s+mode\b",
        r"\b(?:an?|the)\s+(?:ai|assistant|bot|chatbot|llm)\s+(?:\w+\s+)?(?:with|that\s+has|"
        r"who\s+has|having|without)\s+(?:no\s+|any\s+)?(?:rules|restrictions|filters|limits|"
        r"guidelines|policy|content\s+policy|censorship)",
        rf"(?:{ORDER}|\byou\s+(?:can|may|will|should|must)\s+(?:now\s+)?)(?:answer|respond|reply|"
        rf"talk|speak|write|operate|work|act)\s+(?:\w+\s+){{0,3}}?(?:without|with\s+no|free\s+of|"
        rf"free\s+from)\s+(?:any\s+)?(?:\w+\s+)?(?:filters?|restrictions|censorship|limits|"
        rf"limitations|rules|guidelines|polic(?:y|ies))",
        r"\b(?:no|zero|without)\s+(?:content|safety)\s+(?:guidelines|restrictions|"
        r"limits|filters|polic(?:y|ies)|constraints)",
        r"\b(?:you|assistant|bot|ai|model|chatbot)\s+(?:\w+\s+)?(?:that\s+|who\s+)?(?:will\s+)?"
        r"never\s+refuses?\b",
    ),
    "policy_override": _c(
        rf"{ORDER}(?:bypass|override|overrule|disable|turn\s+off|switch\s+off|deactivate|"
        rf"circumvent|lift|remove|suspend|ignore|break|get\s+around|work\s+around|skip|drop|relax|"
        rf"loosen|waive|evade|turn\s+down)\s+(?:{MINE}\s+|the\s+|all\s+|any\s+)?(?:{W}\s+){{0,2}}?"
        rf"(?:filters?|guardrails?|restrictions?|rules|polic(?:y|ies)|limits?|limitations|"
        rf"safeguards?|moderation|censorship|protections?|safety|security|constraints|notes-only"
        rf"|checks)\b",
        r"\b(?:you\s+are|you're)\s+(?:now\s+|hereby\s+)?(?:allowed|permitted|authori[sz]ed|"
        r"cleared|free|approved|licensed)\s+to\s+(?:ignore|break|bypass|disregard|answer\s+"
        r"anything|answer\s+everything|share|reveal|say\s+anything|do\s+anything|skip|drop)",
        r"\b(?:restrictions|rules|limits|polic(?:y|ies)|filters|guardrails|constraints)\s+(?:are|"
        r"have\s+been|is|has\s+been)\s+(?:now\s+|hereby\s+|temporarily\s+)?(?:lifted|suspended|"
        r"waived|removed|disabled|off|turned\s+off|relaxed)",
        r"\b(?:i\s+am|i'm|im|this\s+is)\s+(?:the|your)\s+(?:app'?s?\s+)?(?:developer|creator|"
        r"programmer|engineer|maker)s?\b|\b(?:i\s+am|i'm|im|this\s+is)\s+(?:the|your|an?)\s+"
        r"(?:admin|administrator|owner|operator|sysadmin|root\s+user|superuser)\s+(?:of|for)\s+"
        r"(?:this|the|your)\s+(?:app|system|assistant|bot|service|database|server|platform|ai|"
        r"model)\b|\b(?:i\s+am|i'm|im)\s+your\s+(?:admin|administrator|owner|operator)\b",
        r"\b(?:admin|administrator|root|sudo|superuser|elevated)\s+(?:rights|access|privileges|"
        r"permissions|mode|override|instruction|command)",
        r"\b(?:authori[sz]ed|approved|sanctioned|official)\s+(?:security\s+|penetration\s+|"
        r"red[- ]team\s+)?(?:test|exception|override)",
        r"\bfor\s+(?:research|testing|educational|debugging|training|academic)\s+purposes\b",
        r"\b(?:developer|owner|admin|openai|anthropic|company|app\s+owner|creators?)\s+(?:has|"
        r"have)\s+(?:approved|cleared|allowed|authori[sz]ed|permitted|granted)",
    ),
    "encoding_trick": _c(
        r"\b(?:decode|decipher|decrypt|unscramble|de-?obfuscate|unhex|apply\s+rot-?\s?13|rot-?\s?13|"
        r"reverse|(?:read|translate|convert|interpret)\s+(?:this|that|it|the\s+following|below|"
        r"the\s+(?:string|code|message|text)|backwards|from\s+(?:binary|hex|base\s?64|morse|"
        r"rot-?\s?13)))\b[^\n]{0,60}?(?:\band\b|\bthen\b|,|;|:|\.|!)\s*(?:please\s+|just\s+)?(?:do|"
        r"follow|obey|execute|run|act\s+on|carry\s+out|comply|perform|implement)\b"
        r"(?!\s+(?:you|we|they|i|he|she)\b)",
        r"\b(?:follow|obey|execute|run|carry\s+out|act\s+on|comply\s+with|do)\s+(?:\w+\s+){0,4}?"
        r"(?:hidden|encoded|embedded|inside|contained)\b[^\n]{0,40}(?:string|text|code|message|"
        r"payload|base64|hex|binary|below|following)",
        r"^\s*(?:execute|run|eval|obey|follow|comply|do\s+this|do\s+it)\s*:",
        rf"^(?=.*\b(?:your|instructions|rules|prompt|above|everything|configuration|guidelines)\b)"
        rf".*\b(?:in|into|as|using|with|to)\s+{ENCODINGS}\b",
        r"^(?=.*\b(?:your|instructions|rules|prompt|configuration)\b).*\b(?:word|letter|"
        r"character)s?\s+reversed\b",
        rf"\b(?:encode|encrypt|cipher|obfuscate)\s+(?:{MINE}|everything|all)\b",
    ),
    "output_hijack": _c(
        rf"{ORDER}(?:respond|reply|answer|write|speak|talk|output|return|print|type)\s+(?:{W}\s+)"
        rf"{{0,2}}?(?:only|exclusively|solely|just)\s+(?:with|in|using|as)\s+(?:the\s+|a\s+|one\s+"
        rf")?(?:word|words|phrase|letter|number|yes|no\b|[\"'“‘]|json|xml|html|code|emoji|caps|"
        rf"capitals|upper|lower|pirate|\w+\s+speak|single|sentence|following|nonsense|gibberish)",
        r"\b(?:respond|reply|answer)\s+to\s+(?:every|all|each|any)\s+(?:\w+\s+)?(?:questions?|"
        r"messages?|prompts?)\s+with\b",
        r"\b(?:reply|respond|answer|say)\s+[\"'“‘][^\"'”’\n]{1,60}[\"'”’]\s+to\s+(?:everything|"
        r"every|all|each|any)\b",
        rf"{ORDER}(?:don'?t|do\s+not|never|stop|skip|drop|omit|remove|disregard|ignore|leave\s+out)"
        rf"\s+(?:\w+\s+)?(?:citations?|citing|cite|sources|references)\b",
        rf"{ORDER}(?:invent|make\s+up|fabricate)\s+(?:a|an|some)\s+(?:\w+\s+){{0,2}}?(?:quote|verse|"
        rf"citation|source|fact|statistic)|\bmade-?\s?up\s+(?:\w+\s+)?(?:quote|verse|citation|fact)",
        rf"{ORDER}(?:invent|make\s+up|fabricate|dream\s+up|compose|improvi[sz]e)\s+(?:me\s+)?(?:a|an|"
        rf"some|your\s+own)\s+(?:[\w'-]+\s+){{0,3}}?(?:sermon|homily|poem|story|song|joke|essay|"
        rf"tale|limerick|rap|haiku|lyrics|speech|fiction|hymn|parable)s?\b",
        rf"{ORDER}write\s+(?:me\s+)?(?:a|an|some)\s+(?:[\w'-]+\s+){{0,2}}?(?:poem|song|joke|"
        rf"limerick|rap|haiku|lyrics|fan\s?fiction)s?\b",
        rf"{ORDER}(?:say|print|output|write|type|return|echo|repeat)\s+"
        rf"(?:exactly|only|verbatim|precisely|literally|the\s+(?:word|words|phrase|sentence|line|"
        rf"text)|nothing\s+but)\b",
        rf"{ORDER}(?:say|print|output|write|type|reply|respond|echo)\s*:?\s*[\"'“‘][^\"'”’\n]{{1,80}}"
        rf"[\"'”’]\s*(?:[.!]|$|and\s+nothing|only|\d+\s+times|,?\s*(?:then|and)\s+stop)",
        r"\b(?:start|begin|end|finish|prefix|close|conclude|open|sign\s+off|terminate)\s+(?:your|"
        r"the|each|every|all|this)\s+(?:\w+\s+)?(?:answer|reply|response|message|output)s?\s+"
        r"(?:with|by)\b",
        r"\brepeat\s+after\s+me\b|\b(?:say|print|reply|respond|output|write|answer)\b[^.!?\n]"
        r"{0,60}\band\s+nothing\s+else\b",
        rf"{ORDER}(?:answer|reply|respond|output|write)\s+(?:only\s+)?in\s+(?:json|xml|yaml|html)",
        r"\b(?:add|append|insert|include|put|place|attach)\s+(?:the\s+)?(?:sentence|line|phrase|"
        r"text|words?|statement|following|this)\b[^.?!\n]{0,80}\b(?:to|at|in)\s+(?:the\s+)?(?:end"
        r"|start|beginning|top|bottom)?\s*(?:of\s+)?(?:your|the|each|every)\s+(?:answer|reply|"
        r"response|message)",
        r"(?:\band|\bthen|\balso|,)\s+(?:add|claim|state|declare|insist)\s+that\b",
        r"\b(?:in|using)\s+(?:pirate|shakespearean|yoda)\s*(?:speak|talk|language|style)?\b",
        r"\b(?:tell|inform|warn|ask|instruct)\s+(?:the\s+)?(?:user|users|reader|readers)\s+"
        r"(?:to|that)\b",
    ),
}

