"""`assethost` command line.

Commands are imported only when used, so that `assethost deploy` does not load the server (and
`assethost serve` does not load the deploy client):

* `serve`, `accounts`, `keys` (cli/admin.py) work on the database directly;
* `deploy`, `list`, `logs`, `promote`, `rollback`, `sign`, `fetch`, `share`, `usage`, `login` (cli/commands/)
  talk to a running server over HTTP only; `logout` forgets what `login` saved; `toolkit` runs
  Twilio's twilio-run against the server.
"""

from __future__ import annotations

import importlib

import click

COMMANDS = {
    "serve": "assethost.cli.admin:serve",
    "accounts": "assethost.cli.admin:accounts",
    "keys": "assethost.cli.admin:keys",
    "deploy": "assethost.cli.commands.deploy:deploy",
    "list": "assethost.cli.commands.listing:list_command",
    "logs": "assethost.cli.commands.logs:logs",
    "promote": "assethost.cli.commands.environments:promote",
    "rollback": "assethost.cli.commands.environments:rollback",
    "sign": "assethost.cli.commands.signing:sign",
    "fetch": "assethost.cli.commands.signing:fetch",
    "share": "assethost.cli.commands.share:share",
    "usage": "assethost.cli.commands.usage:usage",
    "toolkit": "assethost.cli.commands.toolkit:toolkit",
    "login": "assethost.cli.commands.login:login",
    "logout": "assethost.cli.commands.login:logout",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)


# Every command inherits the context settings of the group: `-h` is `--help` everywhere.
@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="assethost")
def main() -> None:
    """assethost: a self-hosted, Twilio-compatible Assets service."""
