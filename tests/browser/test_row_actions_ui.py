"""Acting on jobs from a queue's list in a real browser (Chromium via Playwright): a row's own button with
its confirmation, choosing rows (one by one and all at once) for a bulk retry, and rescheduling a delayed
job from its row."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import redis

from board import SyncQueue

from .conftest import ServeBoard, fail, log_in, skip_without_a_browser, work_until

skip_without_a_browser()

from playwright.sync_api import Dialog, Locator, Page, expect  # noqa: E402


def row(page: Page, job_id: str) -> Locator:
    return page.locator("#jobs-form tbody tr", has=page.locator(f'input[name=ids][value="{job_id}"]'))


def test_a_rows_remove_asks_and_acts_on_that_job_only(
    page: Page, serve_board: ServeBoard, redis_url: str, sq: SyncQueue, raw: redis.Redis
) -> None:
    keep, doomed = sq.add("keep", {}), sq.add("doomed", {})
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}?state=waiting")
    questions: list[str] = []

    def answer(accept: bool) -> Callable[[Dialog], None]:
        def handle(dialog: Dialog) -> None:
            questions.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        return handle

    remove = row(page, doomed.id).get_by_role("button", name="Remove")
    page.once("dialog", answer(False))
    remove.click()
    assert questions == [f"Remove job {doomed.id} and its logs?"]
    assert raw.exists(f"bull:{sq.name}:{doomed.id}")

    page.once("dialog", answer(True))
    remove.click()
    expect(page.locator(".flash")).to_contain_text(f"Job {doomed.id} removed")
    # Back on the same tab, without asking a second time on a confirmation page.
    expect(page).to_have_url(f"{base}/queues/{sq.name}?state=waiting")
    assert not raw.exists(f"bull:{sq.name}:{doomed.id}")
    assert raw.lrange(f"bull:{sq.name}:wait", 0, -1) == [keep.id]


def test_choose_rows_and_retry_them(
    page: Page, serve_board: ServeBoard, redis_url: str, sq: SyncQueue, raw: redis.Redis
) -> None:
    ids = [sq.add(f"charge {i}", {"card": f"c{i}"}).id for i in range(3)]
    work_until(redis_url, sq.name, fail, failed=3)
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}?state=failed")

    row(page, ids[0]).locator("input[name=ids]").check()
    row(page, ids[2]).locator("input[name=ids]").check()
    # Checked rows hold the page still: a poll would clear them.
    time.sleep(1.5)
    expect(row(page, ids[0]).locator("input[name=ids]")).to_be_checked()
    page.locator(".bulk-bar").get_by_role("button", name="Retry").click()
    expect(page.locator(".flash")).to_have_text("Retried 2 jobs.")
    assert sorted(raw.lrange(f"bull:{sq.name}:wait", 0, -1)) == sorted([ids[0], ids[2]])
    assert raw.zrange(f"bull:{sq.name}:failed", 0, -1) == [ids[1]]

    # Select all: every row of the page.
    sq.drain()
    select_all = page.locator("input.select-all")
    expect(select_all).to_be_visible()
    select_all.check()
    expect(page.locator("#jobs-form input[name=ids]:checked")).to_have_count(1)
    page.locator(".bulk-bar").get_by_role("button", name="Retry").click()
    expect(page.locator(".flash")).to_have_text("Retried 1 job.")
    assert raw.zcard(f"bull:{sq.name}:failed") == 0


def test_reschedule_a_delayed_job_from_its_row(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis
) -> None:
    job = sq.add("later", {}, delay=3600)
    other = sq.add("later too", {}, delay=3600)
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}?state=delayed")

    line = row(page, job.id)
    line.get_by_text("Reschedule…").click()
    line.get_by_label("Due in").fill("5")
    line.get_by_label("unit").select_option("h")
    line.get_by_role("button", name="Set").click()
    expect(page.locator(".flash")).to_contain_text(re.compile(rf"Job {re.escape(job.id)} rescheduled"))
    due = (raw.zscore(f"bull:{sq.name}:delayed", job.id) or 0) // 4096
    assert abs(due - (time.time() * 1000 + 5 * 3_600_000)) < 60_000
    # The other row kept its time.
    other_due = (raw.zscore(f"bull:{sq.name}:delayed", other.id) or 0) // 4096
    assert abs(other_due - (time.time() * 1000 + 3_600_000)) < 60_000
