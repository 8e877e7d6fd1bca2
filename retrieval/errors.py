"""Errors the engine raises on purpose.

Every error below ``NewsdeskError`` carries a message written for the person who caused it, so the
edges (CLI, bot) can show ``str(error)`` as it is. Anything else is a bug: log it, apologise.

    NewsdeskError
    ├── QuestionError      the question cannot be searched (empty, only stop words, too long)
    ├── IngestError        a source could not become an article
    │   ├── UnsupportedError   a file type or content type we do not read
    │   ├── NotAnArticleError  the page or file holds no article text
    │   ├── TooLargeError      over a size limit
    │   └── FetchError         the network refused (unreachable, timeout, blocked address)
    └── NotFoundError      no such article
"""


class NewsdeskError(Exception):
    """Base class: the message is safe and useful to show to the user."""


class QuestionError(NewsdeskError):
    pass


class IngestError(NewsdeskError):
    pass


class UnsupportedError(IngestError):
    pass


class NotAnArticleError(IngestError):
    pass


class TooLargeError(IngestError):
    pass


class FetchError(IngestError):
    pass


class NotFoundError(NewsdeskError):
    pass
