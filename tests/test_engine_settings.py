"""The ``engine:`` section of the actd configuration, read through ServerConfig.load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from actframework.engine_settings import (
    ENGINE_CONFIG_TEMPLATE,
    STATE_NAMES,
    ClusterAuth,
    EngineSettings,
    Site,
    Timeouts,
)
from actframework.errors import ConfigError
from actframework.server_config import ServerConfig, new_jwt_secret, render_server_config

#: aCT's hard-coded timeouts, in seconds.
ACT_TIMEOUTS = {
    "tosubmit": 3600, "tocancel": 3600, "cancelling": 3600, "toresubmit": 3600, "torerun": 3600,
    "tofetch": 3600, "finished": 86400, "toclean": 3600, "lost": 172800, "missing": 604800,
}


def rendered(tmp_path: Path) -> dict[str, Any]:
    text = render_server_config(
        data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'actd.sqlite'}",
        listen="127.0.0.1:8080", clusters=["https://ce.example.org/batch"],
        ca_dir=tmp_path / "ca", jwt_secret=new_jwt_secret(),
    )
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def load(tmp_path: Path, edit: Callable[[dict[str, Any]], object] | None = None) -> EngineSettings:
    """Render the default configuration, apply ``edit`` to its ``engine``
    mapping, write it back and load it."""
    data = rendered(tmp_path)
    if edit is not None:
        edit(data["engine"])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return ServerConfig.load(path).engine


# --------------------------------------------------------------------------- defaults


def test_default_timeouts_are_acts() -> None:
    assert {name: getattr(Timeouts(), name) for name in ACT_TIMEOUTS} == ACT_TIMEOUTS
    assert {field.name for field in fields(Timeouts)} == set(ACT_TIMEOUTS)
    assert EngineSettings().timeouts == Timeouts()


def test_timeouts_of_gives_a_timedelta() -> None:
    assert Timeouts().of("lost").total_seconds() == 172800
    assert Timeouts(cancelling=5).of("cancelling").total_seconds() == 5


def test_the_rendered_template_loads_and_equals_the_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings == EngineSettings()
    assert settings.timeouts == Timeouts()
    assert settings.sites == () and dict(settings.max_state_times) == {}
    assert settings.metrics_listen == "" and settings.resubmit_errors == ()


def test_a_config_without_an_engine_section_gets_the_defaults(tmp_path: Path) -> None:
    data = rendered(tmp_path)
    del data["engine"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    assert ServerConfig.load(path).engine == EngineSettings()


def test_an_empty_engine_section_gets_the_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, lambda engine: engine.clear()) == EngineSettings()


def test_the_template_values_are_the_defaults() -> None:
    template = yaml.safe_load(ENGINE_CONFIG_TEMPLATE.format())["engine"]
    defaults = EngineSettings()
    for key, value in template.items():
        if key == "timeouts":
            assert value == ACT_TIMEOUTS
        elif key in ("max_state_times", "sites"):
            assert value == {}
        elif key == "resubmit_errors":
            assert value == []
        else:
            assert getattr(defaults, key) == value, key


def test_the_template_documents_every_engine_key() -> None:
    template = yaml.safe_load(ENGINE_CONFIG_TEMPLATE.format())["engine"]
    assert set(template) == {field.name for field in fields(EngineSettings)}


# --------------------------------------------------------------------------- overrides


@pytest.mark.parametrize(("key", "value"), [
    ("poll_interval", 0.25), ("poll_interval", 3), ("check_interval", 0), ("check_interval", 120),
    ("submit_batch", 7), ("status_batch", 500), ("fetch_batch", 3), ("clean_batch", 4), ("cancel_batch", 9),
    ("transfer_workers", 2), ("ce_timeout", 12.5), ("lease", 30), ("delegation_renew_before", 600),
    ("resubmit_attempts", 0), ("resubmit_attempts", 7), ("token_refresh_interval", 5), ("token_refresh_before", 0),
])
def test_each_key_overrides_its_default(tmp_path: Path, key: str, value: object) -> None:
    settings = load(tmp_path, lambda engine: engine.update({key: value}))
    assert getattr(settings, key) == value
    assert getattr(settings, key) != getattr(EngineSettings(), key)
    others = {f.name for f in fields(EngineSettings)} - {key}
    assert all(getattr(settings, name) == getattr(EngineSettings(), name) for name in others)


@pytest.mark.parametrize("name", sorted(ACT_TIMEOUTS))
def test_each_timeout_overrides_its_default(tmp_path: Path, name: str) -> None:
    settings = load(tmp_path, lambda engine: engine["timeouts"].update({name: 42}))
    assert getattr(settings.timeouts, name) == 42
    assert settings.timeouts.of(name).total_seconds() == 42
    assert all(getattr(settings.timeouts, other) == ACT_TIMEOUTS[other] for other in ACT_TIMEOUTS if other != name)


def test_a_partial_timeouts_section_keeps_the_other_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, lambda engine: engine.update(timeouts={"lost": 60}))
    assert settings.timeouts == Timeouts(lost=60)


def test_resubmit_errors_are_a_list_of_substrings(tmp_path: Path) -> None:
    settings = load(tmp_path, lambda engine: engine.update(resubmit_errors=["LRMS error: (-1)", "node crashed"]))
    assert settings.resubmit_errors == ("LRMS error: (-1)", "node crashed")


def test_max_state_times_are_keyed_by_lower_case_state_names(tmp_path: Path) -> None:
    settings = load(tmp_path, lambda engine: engine.update(max_state_times={"Running": 604800, "queuing": 86400,
                                                                            "HOLD": 60}))
    assert dict(settings.max_state_times) == {"running": 604800, "queuing": 86400, "hold": 60}
    with pytest.raises(TypeError):
        settings.max_state_times["running"] = 1  # type: ignore[index]


def test_every_ce_state_name_may_have_a_max_time(tmp_path: Path) -> None:
    assert STATE_NAMES == {"accepted", "preparing", "submitting", "queuing", "running", "hold", "finishing",
                           "finished", "failed", "killed", "deleted"}
    settings = load(tmp_path, lambda engine: engine.update(max_state_times={name: 10 for name in STATE_NAMES}))
    assert set(settings.max_state_times) == STATE_NAMES


def test_metrics_listen_is_kept_as_given(tmp_path: Path) -> None:
    assert load(tmp_path, lambda engine: engine.update(metrics_listen="127.0.0.1:9100")).metrics_listen == \
        "127.0.0.1:9100"
    assert load(tmp_path, lambda engine: engine.update(metrics_listen="[::1]:9100")).metrics_listen == "[::1]:9100"


# --------------------------------------------------------------------------- sites


def test_sites_get_normalised_endpoints_and_their_limits(tmp_path: Path) -> None:
    sites = {
        "big": {"endpoint": "https://CE1.Example.org/batch/", "maxjobs": 5000, "queue_fraction": 0.5,
                "queue_offset": 20},
        "down": {"endpoint": "https://ce2.example.org:9443/long", "status": "offline"},
        "plain": {"endpoint": "https://ce3.example.org/q"},
    }
    settings = load(tmp_path, lambda engine: engine.update(sites=sites))
    assert settings.sites == (
        Site(endpoint="https://ce1.example.org:443/batch", maxjobs=5000, queue_fraction=0.5, queue_offset=20),
        Site(endpoint="https://ce2.example.org:9443/long", offline=True),
        Site(endpoint="https://ce3.example.org:443/q"),
    )
    assert settings.sites[2].maxjobs == 999999 and settings.sites[2].queue_fraction is None
    assert settings.sites[2].queue_offset == 100 and not settings.sites[2].offline


def test_site_looks_up_limits_by_normalised_cluster(tmp_path: Path) -> None:
    settings = load(tmp_path, lambda engine: engine.update(
        sites={"a": {"endpoint": "https://ce1.example.org/batch", "maxjobs": 3}}))
    assert settings.site("https://ce1.example.org:443/batch").maxjobs == 3
    other = settings.site("https://ce9.example.org:443/batch")
    assert other == Site(endpoint="https://ce9.example.org:443/batch")


@pytest.mark.parametrize(("status", "offline"), [("online", False), ("offline", True), ("OFFLINE", True)])
def test_site_status_is_online_or_offline(tmp_path: Path, status: str, offline: bool) -> None:
    settings = load(tmp_path, lambda engine: engine.update(
        sites={"a": {"endpoint": "https://ce1.example.org/batch", "status": status}}))
    assert settings.sites[0].offline is offline


def test_queue_fraction_zero_is_a_limit_not_unset(tmp_path: Path) -> None:
    settings = load(tmp_path, lambda engine: engine.update(
        sites={"a": {"endpoint": "https://ce1.example.org/batch", "queue_fraction": 0}}))
    assert settings.sites[0].queue_fraction == 0.0


@pytest.mark.parametrize(("auth", "mode"), [("auto", ClusterAuth.AUTO), ("x509", ClusterAuth.X509),
                                             ("Token", ClusterAuth.TOKEN)])
def test_site_auth_says_which_credentials_the_ce_is_used_with(tmp_path: Path, auth: str, mode: ClusterAuth) -> None:
    settings = load(tmp_path, lambda engine: engine.update(
        sites={"a": {"endpoint": "https://ce1.example.org/batch", "auth": auth, "token_audience": "https://ce1"}}))
    assert settings.sites[0].auth is mode and settings.sites[0].token_audience == "https://ce1"
    assert settings.site("https://ce9.example.org:443/q").auth is ClusterAuth.AUTO
    assert settings.site("https://ce9.example.org:443/q").token_audience == ""


# --------------------------------------------------------------------------- mistakes


@pytest.mark.parametrize(("edit", "message"), [
    (lambda e: e.update(pol_interval=1), r"engine: unknown key 'pol_interval'"),
    (lambda e: e["timeouts"].update(tosubmitt=10), r"engine: timeouts: unknown key 'tosubmitt'"),
    (lambda e: e.update(sites={"mysite": {"endpoint": "https://ce/q", "max_jobs": 3}}),
     r"engine: sites: mysite: unknown key 'max_jobs'"),
    (lambda e: e.update(max_state_times={"holding": 60}), r"engine: max_state_times: 'holding' is not a job State"),
    (lambda e: e.update(max_state_times={"tosubmit": 60}), r"'tosubmit' is not a job State"),
])
def test_unknown_keys_are_named(tmp_path: Path, edit: Callable[[dict[str, Any]], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, edit)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda e: e.update(poll_interval="fast"), r"poll_interval must be a number >= 0.05"),
    (lambda e: e.update(poll_interval=0.01), r"poll_interval must be a number >= 0.05"),
    (lambda e: e.update(check_interval=1.5), r"check_interval must be a whole number >= 0"),
    (lambda e: e.update(submit_batch=0), r"submit_batch must be a whole number >= 1"),
    (lambda e: e.update(transfer_workers=True), r"transfer_workers must be a whole number >= 1"),
    (lambda e: e.update(lease=5), r"lease must be a whole number >= 10"),
    (lambda e: e.update(ce_timeout=0.5), r"ce_timeout must be a number >= 1.0"),
    (lambda e: e.update(resubmit_errors="node crashed"), r"resubmit_errors must be a list of strings"),
    (lambda e: e.update(resubmit_errors=["ok", 3]), r"resubmit_errors must be a list of strings"),
    (lambda e: e.update(resubmit_attempts=-1), r"resubmit_attempts must be a whole number >= 0"),
    (lambda e: e.update(timeouts=[3600]), r"engine: timeouts must be a mapping"),
    (lambda e: e["timeouts"].update(lost=0), r"timeouts: lost must be a whole number >= 1"),
    (lambda e: e["timeouts"].update(finished="1d"), r"timeouts: finished must be a whole number >= 1"),
    (lambda e: e.update(max_state_times={"running": "a week"}), r"running must be a whole number >= 1"),
    (lambda e: e.update(max_state_times={"running": 0}), r"running must be a whole number >= 1"),
    (lambda e: e.update(sites=["https://ce/q"]), r"engine: sites must be a mapping"),
    (lambda e: e.update(sites={"s": "https://ce/q"}), r"engine: sites: s must be a mapping"),
    (lambda e: e.update(sites={"s": {"maxjobs": 3}}), r"engine: sites: s: endpoint is not set"),
    (lambda e: e.update(sites={"s": {"endpoint": "http://ce.example.org/q"}}),
     r"endpoint 'http://ce.example.org/q' is not an https://host\[:port\]/queue URL"),
    (lambda e: e.update(sites={"s": {"endpoint": "https://ce/q", "maxjobs": -1}}), r"maxjobs must be a whole"),
    (lambda e: e.update(sites={"s": {"endpoint": "https://ce/q", "status": "draining"}}),
     r"status must be one of online, offline"),
    (lambda e: e.update(sites={"s": {"endpoint": "https://ce/q", "auth": "kerberos"}}),
     r"auth must be one of auto, x509, token"),
    (lambda e: e.update(sites={"s": {"endpoint": "https://ce/q", "queue_fraction": "half"}}),
     r"queue_fraction must be a number"),
    (lambda e: e.update(metrics_listen=["127.0.0.1:9100"]), r"metrics_listen must be a string"),
])
def test_values_of_the_wrong_kind_are_named(
    tmp_path: Path, edit: Callable[[dict[str, Any]], object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, edit)


@pytest.mark.parametrize("listen", ["9100", "localhost", "127.0.0.1:", ":9100", "127.0.0.1:http",
                                    "127.0.0.1:0", "127.0.0.1:70000"])
def test_metrics_listen_must_be_host_and_port(tmp_path: Path, listen: str) -> None:
    with pytest.raises(ConfigError, match="is not HOST:PORT"):
        load(tmp_path, lambda engine: engine.update(metrics_listen=listen))


def test_an_engine_section_that_is_not_a_mapping_is_named(tmp_path: Path) -> None:
    data = rendered(tmp_path)
    data["engine"] = ["poll_interval"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="engine must be a mapping"):
        ServerConfig.load(path)
