"""Which namespaces the operator serves, from the ``--namespace`` options.

Exact names are handed to kopf, which then watches those namespaces alone and
needs no cluster-scoped permission. Globs are not: kopf would start and stop
watch streams as matching namespaces come and go, and a stream stopped before
its first listing finished leaves kopf's index readiness waiting forever, so
objects in every namespace that appears later are never handled. With a glob the
operator therefore watches cluster-wide, as it does without ``--namespace``, and
its handlers skip the namespaces that no pattern matches.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import re
from collections.abc import Iterable

NAME_LIMIT = 63
# A namespace name (a DNS label) in which '*' and '?' may stand for characters.
PATTERN = re.compile(r"^[a-z0-9*?]([-a-z0-9*?]*[a-z0-9*?])?$")
WILDCARDS = frozenset("*?")


@dataclasses.dataclass(frozen=True)
class NamespaceScope:
    """Namespaces by name or glob; no patterns at all means every namespace."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, patterns: Iterable[str]) -> NamespaceScope:
        """The scope of these ``--namespace`` values, or ValueError naming a bad one."""
        unique = tuple(dict.fromkeys(patterns))
        for pattern in unique:
            if len(pattern) > NAME_LIMIT or not PATTERN.match(pattern):
                raise ValueError(
                    f"--namespace {pattern!r} is neither a namespace name nor a glob of "
                    "one: use lowercase letters, digits and '-', at most 63 characters, "
                    "with '*' or '?' as wildcards, such as 'team-a' or 'team-*'.")
        return cls(unique)

    @property
    def names(self) -> list[str]:
        """The exact names to give kopf, or none: watch cluster-wide and filter."""
        return [] if self.has_globs else list(self.patterns)

    @functools.cached_property
    def has_globs(self) -> bool:
        return any(WILDCARDS & set(pattern) for pattern in self.patterns)

    def covers(self, namespace: str | None) -> bool:
        if not self.patterns:
            return True
        return namespace is not None and any(
            fnmatch.fnmatchcase(namespace, pattern) for pattern in self.patterns)

    def describe(self) -> str:
        return "namespaces " + ", ".join(self.patterns) if self.patterns else "every namespace"
