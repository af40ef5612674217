"""The console's environment rules (core/workspace.py): which environment the Assets pane opens
on, which is production, and which presets can still be created."""

from __future__ import annotations

from datetime import datetime

import pytest

from assethost.core import workspace
from assethost.core.model import Environment

NOW = datetime(2026, 12, 1)


def env(name: str, suffix: str | None) -> Environment:
    return Environment(id=0, sid="ZE" + name, account_sid="AC", service_sid="ZS", unique_name=name,
                       domain_suffix=suffix, domain_label="x", build_sid=None, date_created=NOW, date_updated=NOW)


@pytest.mark.parametrize(("envs", "chosen"), [
    ([env("production", None), env("dev-environment", "dev")], "dev-environment"),  # the CLI's names
    ([env("production", None), env("dev", "dev")], "dev"),
    ([env("production", None), env("mine", "development")], "mine"),
    ([env("production", None), env("stage", "stage")], "stage"),  # never production while another exists
    ([env("live", None)], "live"),
])
def test_default_environment(envs, chosen):
    default = workspace.default_environment(envs)
    assert default is not None and default.unique_name == chosen


def test_no_environment():
    assert workspace.default_environment([]) is None


def test_production_is_the_one_without_a_suffix():
    assert workspace.is_production(env("production", None))
    assert workspace.is_production(env("anything", ""))
    assert not workspace.is_production(env("production", "prod"))


@pytest.mark.parametrize(("envs", "offered"), [
    ([], ["dev", "stage", "production"]),
    ([env("dev-environment", "dev"), env("production", None)], ["stage"]),  # dev's domain is taken
    ([env("dev", "qa")], ["stage", "production"]),  # the name is taken
    ([env("dev", "dev"), env("stage", "stage"), env("production", None)], []),
])
def test_creatable_presets(envs, offered):
    assert workspace.creatable_presets(envs) == offered
