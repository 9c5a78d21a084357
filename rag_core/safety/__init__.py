"""Text safety: normalising untrusted text, the question sanitiser, the leak filter for answers,
and neutralising note text and answer markup.

- ``normalise``: invisible characters out, look-alike letters folded, the views the pattern
  families run on (``views``);
- ``decode``: encoded payloads (base64, hex, percent-encoding, binary, rot13, reversed) made
  readable for the pattern families;
- ``families`` (wording), ``families_syntax`` (tokens, role lines, markup, data access) and
  ``languages`` (other languages): the sanitiser's pattern families;
- ``prefilter`` and ``literal_index``: the literals every match of a pattern contains, and
  which of them a view holds (one pass), so that a search that cannot match is skipped;
- ``sanitiser``: flags a question sentence by sentence (``scan_question``);
- ``leak``: does a model output echo the system prompt, however disguised (``Echo``);
- ``markup``: note text and metadata made inert for the prompt; HTML and Markdown images and
  links in answers escaped.
"""
