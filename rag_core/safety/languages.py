"""The ``other_language`` family: override and leak attempts in languages other than English.

Per language, an order to ignore or forget (imperative forms only: Spanish ``olvida``, not the
infinitive ``olvidar`` of an honest "what did the sermon say about forgetting the past") close
to a word for instructions or rules; or a word for the system prompt, which no honest question
about sermon notes uses; or "everything before my question". Patterns run on the case-folded
view with accents kept (``views(...)[0]``) and on the folded view with accents dropped, so both
"précédentes" and "precedentes" are written once as ``pr[eé]c[eé]dentes``.
"""

from __future__ import annotations

import re

from rag_core.safety.prefilter import Source

# (imperative "ignore / forget / disregard", "instructions / rules")
ORDERS: dict[str, tuple[str, str]] = {
    "fr": (r"ignore[zr]|ignore\s+(?:toutes|tous|les|tes|vos|mes)|oublie[zr]?|"
           r"ne\s+tiens?\s+(?:pas\s+)?compte|fais\s+abstraction|"
           r"n'?ob[eé]is\s+plus", r"instructions?|consignes?|r[eè]gles?|directives?|prompts?"),
    "es": (r"ignora|ign[oó]rel[ao]s|olvida|olv[ií]dal[ao]s|omite|desatiende|descarta|no\s+sigas",
           r"instrucciones|instrucci[oó]n|reglas|indicaciones|directrices|[oó]rdenes|prompt"),
    "de": (r"ignorier(?:e|en\s+sie)?|vergiss|vergessen\s+sie|missachte|beachte\s+nicht|"
           r"verwirf", r"anweisungen?|regeln|vorgaben|richtlinien|befehle|prompt|instruktionen"),
    "it": (r"ignora|dimentica|tralascia|non\s+seguire|scarta",
           r"istruzion[ei]|regole|direttive|prompt|indicazioni"),
    "pt": (r"ignore\s+(?:todas|todos|as|os|suas|seus)|ignora|esque[cç]a|esquece|desconsidere|"
           r"n[aã]o\s+siga|descarte",
           r"instru[cç][oõ]es|regras|diretrizes|orienta[cç][oõ]es|prompt"),
    "nl": (r"negeer|vergeet|laat\s+(?:alle\s+)?\w+\s+los", r"instructies|regels|richtlijnen|"
           r"prompt|opdrachten"),
    "ru": (r"игнорируй\w*|проигнорируй\w*|забудь\w*|не\s+обращай|отбрось|не\s+следуй",
           r"инструкци\w*|правил\w*|указани\w*|промпт\w*|директив\w*|команд\w*"),
    "uk": (r"ігноруй\w*|забудь\w*", r"інструкці\w*|правил\w*|вказівк\w*"),
    "pl": (r"zignoruj|ignoruj|zapomnij|pomiń", r"instrukcj\w*|zasad\w*|polece\w*|reguł\w*|prompt"),
    "tr": (r"yoksay|görmezden\s+gel|unut|dikkate\s+alma", r"talimat\w*|kural\w*|komut\w*"),
    "sw": (r"puuza|sahau|usifuate", r"maagizo|kanuni|maelekezo|amri"),
    "id": (r"abaikan|lupakan|jangan\s+ikuti", r"instruksi|aturan|perintah|prompt|petunjuk"),
    "tl": (r"huwag\s+pansinin|kalimutan|balewalain", r"tagubilin|panuntunan|utos|instruksyon"),
    "hi": (r"अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल\s+जाओ|भूल\s+जाइए", r"निर्देश\w*|नियम\w*"),
    "ar": (r"تجاهل|انس|لا\s+تتبع", r"التعليمات|تعليمات|القواعد|الأوامر|الإرشادات"),
    "el": (r"αγνόησε|ξέχασε|αγνοήστε|ξεχάστε", r"οδηγίες|κανόνες|εντολές"),
    "hr": (r"zanemari|ignoriraj|ignoriši|zaboravi", r"upute|uputstva|pravila|instrukcije|naredbe"),
    "af": (r"ignoreer|vergeet", r"instruksies|reëls|opdragte"),
    "vi": (r"bỏ\s+qua|phớt\s+lờ|quên\s+đi|quên", r"hướng\s+dẫn|chỉ\s+dẫn|quy\s+tắc|lệnh|chỉ\s+thị"),
    "he": (r"התעלם|התעלמי|שכח|שכחי", r"הוראות|ההוראות|כללים|הכללים|הנחיות|ההנחיות"),
    "fa": (r"نادیده\s+بگیر|فراموش\s+کن", r"دستورالعمل|دستورات|قوانین|قواعد"),
    "ur": (r"نظرانداز|بھول\s+جاؤ", r"ہدایات|قواعد|اصول"),
    "cs": (r"ignoruj|ignorujte|zapomeň|zabudni|zapomeňte", r"pokyny|instrukce|pravidla|"
           r"inštrukcie|pokynov"),
    "ro": (r"ignoră|ignora|ignorați|uită", r"instrucțiunile|instrucţiunile|instrucțiuni|regulile"),
    "sv": (r"ignorera|glöm", r"instruktioner|instruktionerna|regler|reglerna|anvisningar"),
    "da": (r"ignorer|glem", r"instruktioner|instruksjoner|instrukser|regler|reglene|reglerne"),
    "fi": (r"ohita|unohda|jätä\s+huomiotta", r"ohjeet|ohjeita|säännöt|sääntöjä|käskyt"),
    "hu": (r"hagyd\s+figyelmen\s+kívül|felejtsd\s+el|ne\s+vedd\s+figyelembe",
           r"utasítás\w*|szabály\w*"),
    "ms": (r"abaikan|lupakan", r"arahan|peraturan"),
    "th": (r"ละเว้น|เพิกเฉย|ลืม|ไม่ต้องสนใจ", r"คำสั่ง|กฎ|คำแนะนำ"),
    "bn": (r"উপেক্ষা|ভুলে\s+যাও|অগ্রাহ্য", r"নির্দেশ|নিয়ম"),
    "zh": (r"忽略|无视|忘记|忘掉|不要理会|不要遵守|忽视", r"指令|指示|规则|提示|命令|要求|设定"),
    "ja": (r"無視|忘れ", r"指示|ルール|命令|プロンプト|規則|設定"),
    "ko": (r"무시|잊어", r"지시|규칙|프롬프트|명령|지침"),
}
# Nouns for the system prompt itself, and "everything before my question".
PROMPT_NOUNS = (
    r"prompt\s+(?:du\s+)?syst[eè]me|instructions?\s+(?:du\s+)?syst[eè]me|consignes?\s+cach[eé]es|"
    r"prompt\s+del\s+sistema|instrucciones\s+(?:ocultas|del\s+sistema)|mensaje\s+del\s+sistema|"
    r"system-?prompt|systemanweisung\w*|systemnachricht|systemvorgabe\w*|versteckten\s+anweisung\w*|"
    r"prompt\s+di\s+sistema|istruzioni\s+(?:nascoste|di\s+sistema)|"
    r"prompt\s+do\s+sistema|instru[cç][oõ]es\s+(?:ocultas|do\s+sistema)|"
    r"systeemprompt|systeeminstructies|"
    r"системн\w*\s+(?:промпт\w*|подсказк\w*|инструкци\w*|сообщени\w*)|скрыт\w*\s+инструкци\w*|"
    r"prompt\s+systemowy|instrukcj\w*\s+systemow\w*|sistem\s+(?:komut\w*|istem\w*|talimat\w*)|"
    r"maagizo\s+ya\s+mfumo|prompt\s+sistem|instruksi\s+sistem|सिस्टम\s+प्रॉम्प्ट|"
    r"موجه\s+النظام|تعليمات\s+النظام|موجّه\s+النظام|"
    r"系统提示|系统指令|系统消息|隐藏指令|系統提示|システムプロンプト|隠された指示|시스템\s*프롬프트|"
    r"숨겨진\s*지시|μήνυμα\s+συστήματος|οδηγίες\s+συστήματος|sistemski\s+prompt|stelselopdrag|"
    r"พรอมต์ระบบ|সিস্টেম\s+প্রম্পট|lời\s+nhắc\s+hệ\s+thống|הנחיית\s+המערכת|פרומפט\s+המערכת|"
    r"پیام\s+سیستم|دستور\s+سیستم|systémov\w*\s+prompt|promptul\s+de\s+sistem|"
    r"järjestelmäkehot\w*|rendszerprompt\w*|gesaan\s+sistem|prompt\s+sistem"
)
EVERYTHING_BEFORE = (
    r"tout\s+ce\s+qui\s+(?:pr[eé]c[eè]de|est\s+(?:[eé]crit\s+)?au-dessus)|"
    r"todo\s+lo\s+(?:anterior|que\s+(?:precede|est[aá]\s+(?:arriba|antes)))|"
    r"alles\s+(?:oben|davor|was\s+(?:vor|über)\s+(?:meiner|der)\s+frage)|"
    r"tutto\s+(?:ci[oò]\s+che\s+precede|quello\s+(?:sopra|che\s+precede))|"
    r"tudo\s+(?:o\s+que\s+(?:vem\s+antes|precede)|acima)|"
    r"все,?\s+что\s+(?:выше|было\s+(?:до|перед))|"
    r"以上所有|上面的所有|之前的所有内容|上記の(?:すべて|全て)|위의\s*모든"
)
REVEAL = (
    r"affiche[zr]?|montre[zr]?|r[eé]v[eè]le[zr]?|r[eé]p[eè]te[zr]?|traduis|traduisez|"
    r"muestra(?:me)?|revela|repite|traduce|dime|"
    r"zeig(?:e|en\s+sie)?|gib|verrate|wiederhole|[uü]bersetze|"
    r"mostra(?:mi)?|rivela|ripeti|traduci|mostre|revele|repita|traduza|toon|herhaal|vertaal|"
    r"покажи|раскрой|повтори|выведи|переведи|pokaż|powtórz|göster|tekrarla|onyesha|"
    r"tampilkan|tunjukkan|ipakita|دکھاؤ|दिखाओ|اعرض|أظهر|δείξε|输出|显示|告诉我|表示|보여"
)
_F = re.IGNORECASE


# Scripts without spaces between words, or whose marks \w does not cover: no word boundaries.
_UNBOUNDED = ("zh", "ja", "ko", "th", "bn", "hi")


def _near(a: str, b: str, gap: int = 50, bounded: bool = True) -> str:
    if bounded:
        a, b = rf"(?<!\w)(?:{a})(?!\w)", rf"(?<!\w)(?:{b})"
    return rf"(?:{a})[^.!?。！？\n]{{0,{gap}}}?(?:{b})"


FAMILY: list[Source] = (
    [Source(_near(verb, noun, bounded=lang not in _UNBOUNDED), _F)
     for lang, (verb, noun) in ORDERS.items()]
    + [Source(PROMPT_NOUNS, _F),
       Source(_near(REVEAL, EVERYTHING_BEFORE, 30, bounded=False), _F)]
)
