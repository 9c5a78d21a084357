"""The multi-turn golden set (``golden/conversations.jsonl``) and its scoring in notebook 01:
``dataset`` loads and checks it, ``score`` rewrites each follow-up by the rules on the golden
history and measures it against the same turns asked as their expected standalone questions."""
