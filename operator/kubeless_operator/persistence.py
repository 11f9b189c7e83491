"""kopf storages that keep nothing: this operator writes no bookkeeping on objects.

kopf's default storages copy a Function's whole spec into an annotation and track
handler progress in more annotations. A source near the ConfigMap limit (1 MiB)
cannot fit in annotations (256 KiB for all of them together), and only kopf's
change-detecting handlers need either: this operator reconciles from watch events
and keeps its state in the cluster itself. Keeping nothing also spares kopf a deep
copy of every watched object on every event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kopf


class NoDiffBaseStorage(kopf.DiffBaseStorage):
    """Remembers no last-handled configuration."""

    def build(
            self,
            *,
            body: kopf.Body,
            extra_fields: Iterable[Any] | None = None,
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        pass


class NoProgressStorage(kopf.ProgressStorage):
    """Remembers no handler progress."""

    def fetch(self, *, key: Any, body: kopf.Body) -> kopf.ProgressRecord | None:
        return None

    def store(self, *, key: Any, record: Any, body: kopf.Body, patch: kopf.Patch) -> None:
        pass

    def purge(self, *, key: Any, body: kopf.Body, patch: kopf.Patch) -> None:
        pass

    def touch(self, *, body: kopf.Body, patch: kopf.Patch, value: str | None) -> None:
        pass

    def clear(self, *, essence: kopf.BodyEssence) -> kopf.BodyEssence:
        return essence
