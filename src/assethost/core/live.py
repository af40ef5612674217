"""What is live: the read model of the edge and the function runner.

The edge serves from a snapshot of every environment with its deployed build; these are the
queries it (and the packager of function folders) makes, so that no layer above core spells a
table name. Every read here runs in one transaction, so a snapshot is consistent. After the first
read, a process follows the change feed (`changes`): what changed after its generation, and only
those environments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from assethost.core.model import Build, BuildEntry, Environment
from assethost.core.ports import MetaStore, Tx


@dataclass(frozen=True)
class LiveEnvironment:
    environment: Environment
    auth_token: str  # of the owning account: the key of its X-Twilio-Signature
    include_credentials: bool  # the service gives its functions the account's credentials
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveState:
    generation: int
    environments: list[LiveEnvironment]


@dataclass(frozen=True)
class LiveChanges:
    """What the change feed names after a generation, with those environments as they are now."""

    generation: int  # of the newest change read (the caller's own if there is none)
    environment_sids: frozenset[str]
    service_sids: frozenset[str]  # every environment of these
    account_sids: frozenset[str]  # ... and of these
    environments: list[LiveEnvironment]  # every environment named that still exists

    def names(self, env: Scoped) -> bool:
        return (env.environment_sid in self.environment_sids or env.service_sid in self.service_sids
                or env.account_sid in self.account_sids)


class Scoped(Protocol):
    environment_sid: str
    service_sid: str
    account_sid: str


# More changes than this since a caller's generation, and it reloads everything instead.
FEED_LIMIT = 2000


def generation(meta: MetaStore) -> int:
    """The deployment counter (see `Tx.generation`): unchanged means nothing live changed."""
    with meta.read() as tx:
        return tx.generation()


def read(meta: MetaStore) -> LiveState:
    """Every environment with what its domain needs."""
    with meta.read() as tx:
        gen = tx.generation()
        return LiveState(generation=gen, environments=_complete(tx, tx.environments.select()))


def changes(meta: MetaStore, after: int) -> LiveChanges | None:
    """What changed since generation `after`, or None when the feed cannot say (it was pruned
    past `after`, has a change of anything, or more than FEED_LIMIT changes): then the caller
    reads everything. With no change since, one indexed query."""
    with meta.read() as tx:
        feed = tx.changes_after(after, FEED_LIMIT + 1)
        if not feed:
            return LiveChanges(after, frozenset(), frozenset(), frozenset(), [])
        if len(feed) > FEED_LIMIT or feed[-1].generation - after != len(feed):
            return None  # too many, or a gap: pruned, or made before the feed existed
        envs: set[str] = set()
        services: set[str] = set()
        accounts: set[str] = set()
        for change in feed:
            if change.environment_sid is None and change.service_sid is None and change.account_sid is None:
                return None
            for found, sid in ((envs, change.environment_sid), (services, change.service_sid),
                               (accounts, change.account_sid)):
                if sid is not None:
                    found.add(sid)
        rows = {e.sid: e for e in tx.environments.select_in("sid", sorted(envs))}
        for column, sids in (("service_sid", services), ("account_sid", accounts)):
            if sids:
                rows.update((e.sid, e) for e in tx.environments.select_in(column, sorted(sids)))
        return LiveChanges(feed[-1].generation, frozenset(envs), frozenset(services), frozenset(accounts),
                           _complete(tx, list(rows.values())))


def _complete(tx: Tx, environments: list[Environment]) -> list[LiveEnvironment]:
    """The environments with their accounts' Auth Tokens, their services' settings, their variables."""
    account_sids = sorted({e.account_sid for e in environments})
    tokens = {a.sid: a.auth_token for a in tx.accounts.select_in("sid", account_sids)}
    service_sids = sorted({e.service_sid for e in environments})
    credentials = {s.sid: bool(s.include_credentials) for s in tx.services.select_in("sid", service_sids)}
    variables: dict[str, dict[str, str]] = {}
    for v in tx.variables.select_in("environment_sid", [e.sid for e in environments]):
        variables.setdefault(v.environment_sid, {})[v.key] = v.value
    return [
        LiveEnvironment(environment=e, auth_token=tokens.get(e.account_sid, ""),
                        include_credentials=credentials.get(e.service_sid, False),
                        variables=variables.get(e.sid, {}))
        for e in environments
    ]


def prune(meta: MetaStore, keep: int) -> int:
    """Keep only the newest `keep` entries of the change feed."""
    with meta.write() as tx:
        return tx.prune_changes(keep)


def build(meta: MetaStore, build_sid: str) -> tuple[Build, list[BuildEntry]] | None:
    """A build with its manifest, or None if it was deleted."""
    with meta.read() as tx:
        row = tx.builds.get(sid=build_sid)
        return None if row is None else (row, tx.build_entries.select(build_sid=build_sid))


def existing_builds(meta: MetaStore, build_sids: list[str]) -> set[str]:
    """Those of the builds that still exist."""
    with meta.read() as tx:
        return {b.sid for b in tx.builds.select_in("sid", build_sids)}
