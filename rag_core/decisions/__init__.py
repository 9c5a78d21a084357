"""The decisions taken on what was retrieved, without the LLM: may a cached answer be reused
for a new question (``semantic_rules``), and do the user's notes answer it at all
(``relevance``, on the facts of ``note_facts``); with the language helpers both share
(``nlp``). See the README beside this file for the rules."""
