"""Shared by the data tests: a stand-in for the pipeline's failed-documents writer."""


class FailureSink:
    """Takes the reader's failures as the pipeline's writer would; `.docs` keeps each failed Document."""

    def __init__(self):
        self.docs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, doc, rank):
        self.docs.append(doc)
