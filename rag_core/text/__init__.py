"""Text on the ground floor: sentences (``sentences``), plain text (``plain``), numbers
(``quantities``), the words of a text as spaCy reads them, names and dates among them (``nlp``),
and the facts a question names (``named``). Read by ``llm``, ``decisions`` and ``answers``
alike; it imports no other package of ``rag_core`` but ``lean_imports``."""
