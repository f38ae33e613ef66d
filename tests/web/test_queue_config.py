"""What the board is told of each queue (board/web/queue_config.py): loading from Python or TOML with errors
that name the entry and the setting, patterns with the exact name winning, and the effects over HTTP: a
read-only queue refuses actions (403) while the others act, display names and descriptions on the overview
and the navigation, escaped, and found by the filter; the environment badge and the logo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from board import SyncQueue
from board.web.queue_config import QueueConfig, QueueConfigError, QueueConfigs, load_queue_config

from .conftest import JSON, ClientFactory, csrf_of, keys_of

# Loading ------------------------------------------------------------------------------------------------------


def test_patterns_apply_and_the_exact_name_wins() -> None:
    configs = load_queue_config(
        {
            "billing.charges": {"display_name": "Card charges", "allow_retries": False},
            "billing.*": {"read_only": True, "description": "Payments", "display_name": "Billing"},
            "*": {"description": "Any queue"},
        }
    )
    assert configs("billing.charges") == QueueConfig("Card charges", "Payments", True, False)
    assert configs("billing.refunds") == QueueConfig("Billing", "Payments", True, True)
    assert configs("mail") == QueueConfig(None, "Any queue", False, True)
    assert configs.label("billing.charges") == "Card charges" and configs.label("mail") == "mail"
    # Patterns match case-sensitively, as queue names are keys.
    assert configs("BILLING.charges").read_only is False


def test_loading_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "queues.toml"
    path.write_text('["mail.*"]\nread_only = true\ndescription = "Outgoing mail"\n', encoding="utf-8")
    configs = load_queue_config(path)
    assert configs("mail.welcome") == QueueConfig(None, "Outgoing mail", True, True)
    assert load_queue_config(str(path))("mail.x").read_only is True
    # Settings already loaded pass through; none is no settings.
    assert load_queue_config(configs) is configs
    assert load_queue_config(None)("any") == QueueConfig()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mail": {"colour": "red"}}, "mail: unknown setting(s) colour; known: display_name"),
        ({"mail": {"read_only": "yes"}}, "mail: read_only must be true or false, got 'yes'"),
        ({"mail": {"allow_retries": 1}}, "mail: allow_retries must be true or false"),
        ({"mail": {"description": 3}}, "mail: description must be text of at most 500 characters"),
        ({"mail": {"display_name": "x" * 501}}, "mail: display_name must be text of at most 500"),
        ({"mail": "read_only"}, "mail: expected a table of settings"),
        (["mail"], "expected a table of queues"),
    ],
)
def test_mistakes_name_the_entry_and_the_setting(data: Any, message: str) -> None:
    with pytest.raises(QueueConfigError) as raised:
        load_queue_config(data)
    assert message in str(raised.value)


def test_file_mistakes_name_the_file(tmp_path: Path) -> None:
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[mail\n", encoding="utf-8")
    with pytest.raises(QueueConfigError, match=r"bad\.toml is not valid TOML"):
        load_queue_config(bad_toml)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[mail]\nread_only = 1\n", encoding="utf-8")
    with pytest.raises(QueueConfigError, match=r"wrong\.toml: mail: read_only must be true or false"):
        load_queue_config(wrong)
    with pytest.raises(QueueConfigError, match="cannot read"):
        load_queue_config(tmp_path / "missing.toml")


# Over HTTP ----------------------------------------------------------------------------------------------------


def test_a_read_only_queue_refuses_actions_and_the_others_act(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    locked, free = sync_queues("ledger"), sync_queues("mail")
    job = locked.add("j", {})
    free.add("j", {})
    client = make_client(["ledger", "mail"], queue_config={"ledger": {"read_only": True}})
    before = keys_of(raw, "ledger")
    token = csrf_of(client.get("/queues/mail").text)
    for url in ("/queues/ledger/pause", f"/queues/ledger/jobs/{job.id}/remove", "/queues/ledger/empty"):
        answer = client.post(url, data={"csrf_token": token, "confirm": "1"})
        assert answer.status_code == 403 and "read-only" in answer.text, url
        assert client.post(url, json={"confirm": True}, headers=JSON).status_code == 403, url
    assert keys_of(raw, "ledger") == before
    # Reading it is fine, and the overview says it is read-only.
    assert client.get("/queues/ledger").status_code == 200
    assert "read-only" in client.get("/").text
    done = client.post("/queues/mail/pause", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and raw.hget("bull:mail:meta", "paused") == "1"


def test_display_names_and_descriptions_are_shown_escaped_and_found(
    make_client: ClientFactory, sync_queues: Any
) -> None:
    for name in ("billing.charges", "mail"):
        sync_queues(name).add("j", {})
    config = {"billing.charges": {"display_name": "Card <i>charges</i>", "description": "<script>x()</script> money"}}
    client = make_client(["billing.charges", "mail"], queue_config=config)
    page = client.get("/").text
    shown = '<a href="/queues/billing.charges">Card &lt;i&gt;charges&lt;/i&gt;</a>'
    assert f'<th>{shown} <span class="mono muted queue-name">billing.charges</span>' in page
    assert '<p class="queue-desc muted">&lt;script&gt;x()&lt;/script&gt; money</p>' in page
    assert "<script>x()" not in page and "<i>charges" not in page
    # The navigation shows the display name too, linking to the queue by its own name.
    assert '<a href="/queues/billing.charges">Card &lt;i&gt;charges&lt;/i&gt;</a>' in page
    # The filter finds a queue by its display name as well as by its name.
    found = client.get("/", params={"filter": "CARD"}, headers=JSON).json()
    assert [q["name"] for q in found["queues"]] == ["billing.charges"]


def test_environment_badge_and_logo_in_the_top_bar(make_client: ClientFactory, sync_queues: Any) -> None:
    sync_queues("mail").add("j", {})
    client = make_client(["mail"], environment="production", logo_url="/brand/logo.svg", title="Ops")
    page = client.get("/").text
    assert '<span class="env-badge env-prod" title="Environment">production</span>' in page
    assert '<img class="logo" src="/brand/logo.svg" alt="" height="24">Ops</a>' in page
    staging = make_client(["mail"], environment="<staging>").get("/queues/mail").text
    assert '<span class="env-badge" title="Environment">&lt;staging&gt;</span>' in staging
    plain = make_client(["mail"]).get("/").text
    assert "env-badge" not in plain and 'class="logo"' not in plain


def test_settings_are_cached_per_name() -> None:
    configs = QueueConfigs((("*", {"read_only": True}),))
    assert configs("a") is configs("a") and configs("a").read_only


def test_a_name_that_reads_as_a_pattern_is_its_own_queues_entry(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    sync_queues("jobs[eu]").add("a", {})
    configs = load_queue_config({"jobs[eu]": {"read_only": True}, "*": {"read_only": False}})
    assert configs("jobs[eu]").read_only
    client = make_client(["jobs[eu]"], queue_config={"jobs[eu]": {"read_only": True}})
    assert client.post("/queues/jobs%5Beu%5D/pause", json={}, headers=JSON).status_code == 403
    assert raw.hget("bull:jobs[eu]:meta", "paused") is None


def test_the_forms_of_a_read_only_queue_are_refused_too(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    job = sq.add("a", {"n": 1})
    client = make_client([qname], queue_config={qname: {"read_only": True}})
    for form in (f"/queues/{qname}/add", f"/queues/{qname}/limits", f"/queues/{qname}/jobs/{job.id}/edit"):
        response = client.get(form, headers=JSON)
        assert response.status_code == 403, form
        assert response.json()["error"] == f"Queue {qname!r} is read-only on this board."
    assert client.get(f"/queues/{qname}/jobs/{job.id}").status_code == 200
