"""Alert configuration: what is accepted, and a clear error naming the entry and field for the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from board.alerts import ConfigError, load_config, load_file

HOOK = {"name": "ops", "url": "https://hooks.example.com/x"}


def test_a_whole_configuration_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(
        """
[[webhooks]]
name = "ops"
url = "https://hooks.slack.com/services/T/B/X"
slack = true
retries = 2

[[rules]]
name = "email backlog"
when = "waiting_above"
queues = ["email", "reports.*"]
threshold = 1000
minutes = 10
send_to = ["ops"]

[[rules]]
name = "dead workers"
when = "no_workers"
minutes = 5
""",
        encoding="utf-8",
    )
    config = load_file(path)
    backlog, dead = config.rules
    assert backlog.threshold == 1000 and backlog.minutes == 10 and backlog.send_to == ("ops",)
    assert backlog.watches("email") and backlog.watches("reports.daily") and not backlog.watches("emails")
    assert dead.watches("anything") and dead.threshold == 0
    assert config.webhooks[0].slack and config.webhooks[0].retries == 2 and config.webhooks[0].timeout == 5


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"rules": [{"name": "x", "when": "waiting_abov", "threshold": 1}]}, "rule 'x': when must be one of"),
        ({"rules": [{"name": "x", "when": "waiting_above"}]}, "rule 'x': waiting_above needs a threshold"),
        ({"rules": [{"name": "x", "when": "no_workers", "minutes": -1}]}, "rule 'x': minutes must be a number >= 0"),
        ({"rules": [{"name": "x", "when": "no_workers", "minute": 1}]}, "rule 'x': unknown setting(s) minute"),
        ({"rules": [{"name": "x", "when": "no_workers", "send_to": ["pager"]}]}, "send_to names no webhook pager"),
        ({"rules": [{"when": "no_workers"}]}, "rules[0]: give it a name"),
        ({"rules": [{"name": "x", "when": "no_workers"}] * 2}, "two rules are named 'x'"),
        ({"webhooks": [{"name": "h", "url": "file:///etc/passwd"}]}, "webhook 'h': url must be an http(s) URL"),
        ({"webhooks": [{**HOOK, "retries": 2.5}]}, "retries must be a whole number"),
        ({"webhooks": [{**HOOK, "timeout": 0}]}, "timeout must be a number >= 0.1"),
        ({"webhooks": [{**HOOK, "slack": "yes"}]}, "slack must be true or false"),
        ({"alerts": []}, "unknown section(s) alerts"),
        ({"rules": {"name": "x"}}, "must be lists of tables"),
    ],
)
def test_mistakes_are_named(data: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(data)
    assert error in str(caught.value)


def test_a_file_that_is_not_toml_or_not_there(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.toml is not valid TOML"):
        load_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_file(tmp_path / "missing.toml")
