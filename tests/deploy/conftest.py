"""Fixtures for the deployment tests: the environment a user would put in .env, and the
FreeSWITCH configuration pre-processed with it."""

from __future__ import annotations

import secrets

import pytest

from tests.deploy import composefile, fsconf

SECRET_KEYS = (
    "CALLCONTROL_ESL__PASSWORD",
    "CALLCONTROL_CONSOLE__SECRET_KEY",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "FREESWITCH_EXT_1000_PASSWORD",
    "FREESWITCH_EXT_1001_PASSWORD",
    "FREESWITCH_EXT_1002_PASSWORD",
    "FREESWITCH_EXT_1003_PASSWORD",
)
DIDS = ("15550100", "15550101")


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return composefile.read_env_file()


@pytest.fixture(scope="session")
def user_env(env_example: dict[str, str]) -> dict[str, str]:
    """.env.example filled in the way its comments ask: secrets generated, DIDs listed."""
    env = dict(env_example)
    for key in SECRET_KEYS:
        env[key] = secrets.token_hex(24)
    env["FREESWITCH_DIDS"] = "|".join(DIDS)
    return env


@pytest.fixture(scope="session")
def compose_config(user_env: dict[str, str]) -> dict[str, object]:
    """docker-compose.yml after interpolation with the user's .env."""
    return composefile.interpolate(composefile.load_raw(), user_env)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def fs_env(compose_config: dict[str, object]) -> dict[str, str]:
    """The environment the freeswitch container gets."""
    services = compose_config["services"]
    assert isinstance(services, dict)
    return composefile.environment(services["freeswitch"])


@pytest.fixture(scope="session")
def fs(fs_env: dict[str, str]) -> fsconf.Preprocessed:
    return fsconf.preprocess(env=fs_env)


@pytest.fixture(scope="session")
def fs_bare() -> fsconf.Preprocessed:
    """Pre-processed with an empty environment: every default, every secret missing."""
    return fsconf.preprocess(env={})
