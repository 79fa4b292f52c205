"""Exception classes: every expected failure is a QAError whose message says how to fix it."""


class QAError(Exception):
    """Base class; the CLI prints the message and exits with status 1."""


class CorpusError(QAError):
    """A corpus file is unreadable or malformed (the message names the file and, for JSONL, the line)."""


class ModelLoadError(QAError):
    """The embedding model cannot be loaded."""


class IndexNotFoundError(QAError):
    """No index has been built in the index directory."""


class IndexMismatchError(QAError):
    """The index was built with another model or format version."""


class IndexCorruptError(QAError):
    """An index file is missing or unreadable."""


class QuestionError(QAError):
    """A question or request parameter is invalid (empty, too long, wrong type, out of range)."""


class DocumentNotFoundError(QAError):
    """No document with that id exists in the index."""
