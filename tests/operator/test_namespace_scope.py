"""Which namespaces ``--namespace`` names and globs cover (pure, no cluster)."""

from __future__ import annotations

import pytest

from kubeless_operator.scope import NamespaceScope


def test_no_pattern_covers_every_namespace_and_watches_cluster_wide() -> None:
    everything = NamespaceScope.parse([])

    assert everything.covers("default")
    assert everything.covers("kube-system")
    assert everything.names == []
    assert everything.describe() == "every namespace"


def test_exact_names_are_handed_to_kopf_and_cover_only_themselves() -> None:
    named = NamespaceScope.parse(["team-a", "team-b", "team-a"])

    assert named.names == ["team-a", "team-b"]
    assert named.covers("team-b")
    assert not named.covers("team-c")
    assert not named.covers(None)  # a cluster-scoped object is never a Function's


def test_a_glob_watches_cluster_wide_and_covers_what_it_matches() -> None:
    teams = NamespaceScope.parse(["team-*", "ops"])

    assert teams.names == []  # cluster-wide: kopf gets no namespaces
    assert teams.covers("team-a")
    assert teams.covers("ops")
    assert not teams.covers("team")
    assert not teams.covers("my-team-a")
    assert teams.describe() == "namespaces team-*, ops"


@pytest.mark.parametrize("pattern", ["Team", "team_a", "-team", "!kube-system", "a,b",
                                     "team-[ab]", "", "x" * 64])
def test_a_pattern_that_cannot_match_a_namespace_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="neither a namespace name nor a glob"):
        NamespaceScope.parse([pattern])
