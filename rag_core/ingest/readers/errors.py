"""Why a file could not be read, in the API's style: a code, a message naming the file, and the
HTTP status the notes API answers with when the file came as a request body.

``FileRefused`` is an ``InvalidNote`` (so every caller that handles a bad note handles a bad
file), with its own code per case rather than one class per case.
"""

from __future__ import annotations

from rag_core.errors import InvalidNote

PDF_ENCRYPTED = "PDF_ENCRYPTED"
PDF_NO_TEXT = "PDF_NO_TEXT"
PDF_CORRUPT = "PDF_CORRUPT"
DOCX_CORRUPT = "DOCX_CORRUPT"
ZIP_BOMB = "ZIP_BOMB"
FILE_TOO_LARGE = "FILE_TOO_LARGE"
UNKNOWN_TYPE = "UNKNOWN_TYPE"
LINK_OUTSIDE = "LINK_OUTSIDE"
BAD_FILE_NAME = "BAD_FILE_NAME"
NOT_UTF8 = "NOT_UTF8"
DOCUMENT_TOO_COMPLEX = "DOCUMENT_TOO_COMPLEX"  # a reading limit exhausted (``budget``)
NOT_A_FILE = "INVALID_NOTE"  # a device, FIFO or socket: the code it always had
DUPLICATE_ID = "INVALID_NOTE"  # two notes with one id: the code it always had

# The status of each code when the file was a request body (422 otherwise).
STATUS = {FILE_TOO_LARGE: 413, UNKNOWN_TYPE: 415}


class FileRefused(InvalidNote):
    """A file that cannot become notes: encrypted, without text, corrupt, too large, of an
    unknown type, a link out of the folder, a name with control characters, past a reading
    limit."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = STATUS.get(code, 422)
