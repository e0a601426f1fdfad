"""An input that could not be read, as every source reports it (the pipeline writes it to failed/ with its reason)."""

from __future__ import annotations

from dataclasses import dataclass

from datatrove.data import Document


@dataclass
class Failure:
    """An input item that could not be read: written to the run's failed/ output."""

    id: str
    reason: str
    source: str
    path: str

    def document(self) -> Document:
        return Document(text="", id=self.id, metadata={"failure_reason": self.reason, "source": self.source,
                                                       "path": self.path})
