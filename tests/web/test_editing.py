"""The edit-data form never sends a secret to the browser; saving keeps masked secrets unless retyped, and
refuses to overwrite data that changed since the form was opened."""

from __future__ import annotations

import html
import json
import re

import redis

from board import SyncQueue

from .conftest import JSON, ClientFactory, csrf_of

DATA = {
    "to": "ada@example.com",
    "password": "hunter2",
    "smtp": {"host": "mail.example", "apiKey": "key-123", "privateKey": "-----BEGIN"},
    "items": [{"refresh_token": "r-1"}, {"note": "plain"}],
}


def form_of(page: str) -> tuple[str, str, str]:
    """(textarea text, version, csrf token) of the edit form."""
    textarea = re.search(r'<textarea id="data" name="data"[^>]*>(.*?)</textarea>', page, re.S)
    version = re.search(r'name="version" value="([^"]+)"', page)
    assert textarea and version
    return html.unescape(textarea.group(1)), version.group(1), csrf_of(page)


def stored(raw: redis.Redis, queue: str, job_id: str) -> object:
    return json.loads(str(raw.hget(f"bull:{queue}:{job_id}", "data")))


def test_edit_form_shows_no_secret(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    job = sq.add("mail", DATA)
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/jobs/{job.id}/edit").text
    for secret in ("hunter2", "key-123", "-----BEGIN", "r-1"):
        assert secret not in page, secret
    text, _, _ = form_of(page)
    assert json.loads(text) == {
        "to": "ada@example.com",
        "password": "***",
        "smtp": {"host": "mail.example", "apiKey": "***", "privateKey": "***"},
        "items": [{"refresh_token": "***"}, {"note": "plain"}],
    }


def test_saving_keeps_masked_secrets(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    job = sq.add("mail", DATA)
    client = make_client([qname])
    text, version, token = form_of(client.get(f"/queues/{qname}/jobs/{job.id}/edit").text)
    edited = json.loads(text)
    edited["to"] = "grace@example.com"  # fix the address, leave the masks as they are
    edited["smtp"]["apiKey"] = "key-NEW"  # and type a new key
    fields = {"csrf_token": token, "version": version, "data": json.dumps(edited)}
    response = client.post(f"/queues/{qname}/jobs/{job.id}/data", data=fields, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert stored(raw, qname, job.id) == {
        "to": "grace@example.com",
        "password": "hunter2",
        "smtp": {"host": "mail.example", "apiKey": "key-NEW", "privateKey": "-----BEGIN"},
        "items": [{"refresh_token": "r-1"}, {"note": "plain"}],
    }


def test_saving_over_a_changed_job_is_refused(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    job = sq.add("mail", DATA)
    client = make_client([qname])
    text, version, token = form_of(client.get(f"/queues/{qname}/jobs/{job.id}/edit").text)
    sq.update_job_data(job.id, {**DATA, "to": "changed-meanwhile@example.com"})
    fields = {"csrf_token": token, "version": version, "data": text}
    response = client.post(f"/queues/{qname}/jobs/{job.id}/data", data=fields, follow_redirects=False)
    assert response.status_code == 409 and "changed since the form was opened" in response.text
    assert "hunter2" not in response.text  # the form shown again still masks
    assert stored(raw, qname, job.id)["to"] == "changed-meanwhile@example.com"  # type: ignore[index]
    # A script posting JSON without a version is not held to one; its masks are still filled in.
    response = client.post(
        f"/queues/{qname}/jobs/{job.id}/data", json={"data": {"password": "***", "to": "x@example.com"}}, headers=JSON
    )
    assert response.status_code == 200
    assert stored(raw, qname, job.id) == {"password": "hunter2", "to": "x@example.com"}


def test_no_edit_form_behind_a_custom_data_formatter(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    job = sq.add("mail", DATA)
    client = make_client([qname], redact=False, formatters={"data": lambda value, user: {"shown": "summary"}})
    assert "Edit data" not in client.get(f"/queues/{qname}/jobs/{job.id}").text
    response = client.get(f"/queues/{qname}/jobs/{job.id}/edit")
    assert response.status_code == 409 and "hunter2" not in response.text
