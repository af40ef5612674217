"""The commands that work over HTTP against a running assethost (deploy and friends)."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from assethost.cli.commands import deploy, environments, listing, signing, usage

    for command in (deploy.deploy, listing.list_command, environments.promote, environments.rollback,
                    signing.sign, signing.fetch, usage.usage):
        group.add_command(command)
