"""What is live: the read model of the edge and the function runner.

The edge serves from a snapshot of every environment with its deployed build; these are the
queries it (and the packager of function folders) makes, so that no layer above core spells a
table name. Every read here runs in one transaction, so a snapshot is consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assethost.core.model import Build, BuildEntry, Environment
from assethost.core.ports import MetaStore


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
    # The manifests of the deployed builds the caller did not say it knows already.
    entries: dict[str, list[BuildEntry]]


def generation(meta: MetaStore) -> int:
    """The deployment counter (see `Tx.generation`): unchanged means nothing live changed."""
    with meta.read() as tx:
        return tx.generation()


def read(meta: MetaStore, known_builds: set[str]) -> LiveState:
    """Every environment with what its domain needs, and the entries of each deployed build not
    in `known_builds` (a build never changes, so a caller keeps what it has read)."""
    with meta.read() as tx:
        gen = tx.generation()
        environments = tx.environments.select()
        account_sids = sorted({e.account_sid for e in environments})
        tokens = {a.sid: a.auth_token for a in tx.accounts.select_in("sid", account_sids)}
        service_sids = sorted({e.service_sid for e in environments})
        credentials = {s.sid: bool(s.include_credentials) for s in tx.services.select_in("sid", service_sids)}
        variables: dict[str, dict[str, str]] = {}
        for v in tx.variables.select_in("environment_sid", [e.sid for e in environments]):
            variables.setdefault(v.environment_sid, {})[v.key] = v.value
        wanted = sorted({e.build_sid for e in environments if e.build_sid and e.build_sid not in known_builds})
        entries: dict[str, list[BuildEntry]] = {b: [] for b in wanted}
        for row in tx.build_entries.select_in("build_sid", wanted):
            entries[row.build_sid].append(row)
    return LiveState(
        generation=gen,
        environments=[
            LiveEnvironment(environment=e, auth_token=tokens.get(e.account_sid, ""),
                            include_credentials=credentials.get(e.service_sid, False),
                            variables=variables.get(e.sid, {}))
            for e in environments
        ],
        entries=entries,
    )


def build(meta: MetaStore, build_sid: str) -> tuple[Build, list[BuildEntry]] | None:
    """A build with its manifest, or None if it was deleted."""
    with meta.read() as tx:
        row = tx.builds.get(sid=build_sid)
        return None if row is None else (row, tx.build_entries.select(build_sid=build_sid))


def existing_builds(meta: MetaStore, build_sids: list[str]) -> set[str]:
    """Those of the builds that still exist."""
    with meta.read() as tx:
        return {b.sid for b in tx.builds.select_in("sid", build_sids)}
