"""Job schedulers, flows and limits in a real browser (Chromium through Playwright, a board served by uvicorn
over a real Redis): the schedulers page's run now, edit (a bad cron said on its field, nothing saved) and
remove; a flow tree; a rate-limited badge and the limits menu, which polling leaves open; and a job page
that follows its job to the end without a reload."""

from __future__ import annotations

import re
from typing import Any

import redis

from board import SyncFlowProducer, SyncQueue

from .conftest import ARTIFACTS, ServeBoard, log_in, skip_without_a_browser, work_until

skip_without_a_browser()

from playwright.sync_api import Dialog, Page, expect  # noqa: E402


def accept(dialogs: list[str]) -> Any:
    def handle(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    return handle


async def finish(job: Any) -> Any:
    return {"answer": 42}


def test_schedulers_page_runs_edits_and_removes(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis
) -> None:
    nightly = sq.upsert_job_scheduler("nightly", cron="0 3 * * *", tz="Europe/Berlin", name="rollup")
    sq.upsert_job_scheduler("tick", every=600, name="refresh")
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}")

    # From the queue page, by its count, to the queue's schedulers.
    page.locator("dl.settings").get_by_role("link", name="2").click()
    expect(page).to_have_url(f"{base}/queues/{sq.name}/schedulers")
    row = page.locator('tr[data-scheduler="nightly"]')
    expect(row).to_contain_text("0 3 * * *")
    expect(row).to_contain_text("Europe/Berlin")
    expect(row).to_contain_text(re.compile(r"in \d+ (h|min)"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "schedulers.png", full_page=True)

    # Run now: the next run is promoted.
    row.get_by_role("button", name="Run now").click()
    expect(page.locator(".flash.flash-ok")).to_contain_text("runs now")
    assert sq.get_job_state(str(nightly.next_job_id)) == "waiting"

    # Edit with a bad cron: the error is on the field, and nothing is saved.
    page.locator('tr[data-scheduler="nightly"]').get_by_role("link", name="Edit").click()
    expect(page).to_have_url(f"{base}/queues/{sq.name}/schedulers/nightly#edit")
    page.get_by_label("Cron pattern", exact=True).fill("61 * * * *")
    before = raw.hgetall(f"bull:{sq.name}:repeat:nightly")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#scheduler-cron-error")).to_contain_text("cron")
    expect(page.get_by_label("Cron pattern", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Cron pattern", exact=True)).to_have_value("61 * * * *")
    assert raw.hgetall(f"bull:{sq.name}:repeat:nightly") == before

    # A good one is saved.
    page.get_by_label("Cron pattern", exact=True).fill("30 4 * * 1")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.flash-ok")).to_contain_text("saved")
    saved = sq.get_job_scheduler("nightly")
    assert saved is not None and saved.pattern == "30 4 * * 1"

    # Remove, after a confirmation.
    dialogs: list[str] = []
    page.on("dialog", accept(dialogs))
    page.get_by_role("button", name="Remove").click()
    expect(page).to_have_url(f"{base}/queues/{sq.name}/schedulers")
    expect(page.locator(".flash.flash-ok")).to_contain_text("removed")
    expect(page.locator('tr[data-scheduler="nightly"]')).to_have_count(0)
    expect(page.locator('tr[data-scheduler="tick"]')).to_be_visible()
    assert dialogs == ["Remove job scheduler nightly and its next run?"]
    assert sq.get_job_scheduler("nightly") is None


def test_a_flow_tree(page: Page, serve_board: ServeBoard, redis_url: str, qname: str) -> None:
    other = f"{qname}-images"
    with SyncFlowProducer(redis_url) as flows:
        tree = flows.add(
            {
                "name": "invoice-batch",
                "queue_name": qname,
                "children": [
                    {"name": "render", "queue_name": other, "children": [{"name": "thumb", "queue_name": other}]},
                    {"name": "totals", "queue_name": qname},
                ],
            }
        )
    thumb = tree.children[0].children[0].job.id
    base = serve_board([qname, other])
    log_in(page, base, f"/queues/{other}/jobs/{thumb}")

    flow = page.locator("ul.flow-tree")
    expect(flow.locator("li.flow-node")).to_have_count(4)
    expect(flow.locator("li.flow-node.current")).to_contain_text("thumb")
    expect(flow.locator("li.flow-node").first).to_contain_text("invoice-batch")
    expect(flow.locator("li.flow-node").first).to_contain_text("waiting-children")
    page.screenshot(path=ARTIFACTS / "flow.png", full_page=True)

    # Up to the root, which shows its children and grandchildren.
    flow.get_by_role("link", name=f"#{tree.job.id}", exact=True).click()
    expect(page).to_have_url(f"{base}/queues/{qname}/jobs/{tree.job.id}")
    expect(page.locator("ul.flow-tree li.flow-node.current")).to_contain_text("2 pending")
    expect(page.locator("ul.flow-tree")).to_contain_text(f"thumb in {other}")


def test_rate_limited_badge_and_the_limits_menu(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis
) -> None:
    sq.add("job", {})
    sq.set_global_rate_limit(10, 60)
    raw.set(f"bull:{sq.name}:limiter", 10, px=26 * 60_000 + 5_000)
    base = serve_board([sq.name])
    log_in(page, base, "/")
    expect(page.locator(f'tr[data-queue="{sq.name}"] .badge-warn')).to_have_text("rate limited, 26 min left")
    page.locator(f'tr[data-queue="{sq.name}"] th > a').click()
    expect(page.locator("section.queue-header h1 .badge-warn")).to_have_text("rate limited, 26 min left")
    expect(page.locator("dl.settings")).to_contain_text("10 per 1 min")

    # The limits menu stays open across polls while it is filled in.
    page.get_by_text("Limits…").click()
    field = page.get_by_label("Jobs running at once, across every worker")
    field.fill("4")
    page.evaluate("document.getElementById('live').dataset.old = '1'")
    page.wait_for_timeout(2500)  # two polls' time
    expect(page.locator("#live[data-old]")).to_have_count(1)
    expect(field).to_have_value("4")
    # Closed and left as it was, the page polls again (and swaps in what changed).
    field.fill("")
    page.get_by_text("Limits…").click()
    sq.add("another", {})
    expect(page.locator("#live[data-old]")).to_have_count(0)
    page.get_by_text("Limits…").click()
    field.fill("4")
    page.locator("#limits-form form").first.get_by_role("button", name="Set").click()
    expect(page.locator(".flash.flash-ok")).to_contain_text("set to 4")
    expect(page.locator("dl.settings")).to_contain_text("4")
    assert raw.hget(f"bull:{sq.name}:meta", "concurrency") == "4"


def test_a_job_page_follows_its_job_to_the_end(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, redis_url: str
) -> None:
    job = sq.add("live-job", {"n": 1})
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}/jobs/{job.id}")
    badge = page.locator(".job-header h1 .badge").first
    expect(badge).to_have_text("waiting")
    expect(page.get_by_role("button", name="Retry", exact=True)).to_have_count(0)
    page.evaluate("window.__marker = 1")

    work_until(redis_url, sq.name, finish, completed=1)
    expect(badge).to_have_text("completed")
    expect(page.get_by_role("heading", name=re.compile("^Return value"))).to_be_visible()
    expect(page.locator("pre.json").filter(has_text='"answer": 42')).to_be_visible()
    expect(page.get_by_role("button", name="Retry", exact=True)).to_be_visible()
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
