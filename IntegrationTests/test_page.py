"""The operator's page in a real browser (Debian's chromium through selenium, headless) against the
live binary: every view loads without console errors and without serious or critical axe-core
violations at a desktop's and a phone's size (screenshots of each go to SWITCHBOARD_SCREENSHOTS,
default .build/screenshots, which CI prints); a task enqueued over REST appears without a reload;
filters and paging live in the URL and survive a reload; dead tasks are requeued from the triage
view; queues pause and resume by clicking; a run's trace shows its tasks in order; keyboard
navigation; the token prompt when auth is on."""
import os
import threading
import time

import pytest
import requests

from conftest import ROOT, Server, make_tokens, require_tool
from conftest import wait_for as wait_for_value

SHOTS = os.environ.get("SWITCHBOARD_SCREENSHOTS", os.path.join(ROOT, ".build", "screenshots"))
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
ZERO = dict.fromkeys(["scheduled", "pending", "running", "retrying", "completed", "dead", "cancelled"], 0)


def wait_for(predicate, timeout, what):
    """`conftest.wait_for`, where a read of an element the page just replaced (a live update) counts
    as not yet: the next poll reads the new one."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    def attempt():
        try:
            return predicate()
        except (StaleElementReferenceException, NoSuchElementException):
            return None

    return wait_for_value(attempt, timeout, what)


def make_browser():
    require_tool("chromium")
    require_tool("chromedriver")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800", "--lang=en-US"]:
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))


@pytest.fixture(scope="module")
def browser():
    driver = make_browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server():
    # In-process workers take "agents" only: the other queues' tasks wait, or are failed by hand.
    server = Server("--workers", "2", "--queues", "agents", "--retry-delay-ms", "50", "--max-retry-delay-ms", "100")
    yield server
    assert server.stop() == 0


def post(server, path, body=None):
    response = requests.post(server.base + path, json=body, timeout=10)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def enqueue(server, **task):
    return post(server, "/v1/tasks", task)


def kill_by_hand(server, queue, message, count):
    """Leases `count` tasks of `queue` as a remote worker would and fails them for good."""
    leases = post(server, "/v1/leases", {"worker_id": "triage-bot", "queues": [queue], "max_tasks": count})["items"]
    assert len(leases) == count
    for lease in leases:
        post(server, f"/v1/leases/{lease['lease_id']}/fail", {"error": message, "retryable": False})
    return [lease["task"]["id"] for lease in leases]


def status(server, task_id):
    return requests.get(f"{server.base}/v1/tasks/{task_id}", timeout=5).json()["status"]


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def open_view(driver, server, view, ready_selector):
    from selenium.webdriver.common.by import By

    driver.get(f"{server.base}/#/{view}")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ready_selector), 10, f"the {view} view")


def click_confirm(driver, expected_text):
    from selenium.webdriver.common.by import By

    wait_for(lambda: driver.execute_script("return document.getElementById('confirm').open"), 5, "the confirmation")
    text = driver.find_element(By.ID, "confirm-text").text
    assert expected_text in text, text
    driver.find_element(By.ID, "confirm-ok").click()
    return text


def axe_violations(driver):
    from axe_selenium_python import Axe

    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    return [v for v in results["violations"] if v["impact"] in ("serious", "critical")]


def test_every_view_loads_cleanly_and_accessibly_at_desktop_and_phone_size(browser, server):
    from selenium.webdriver.common.by import By

    # A run with a flaky tool (fails, retries, dies), tasks of a run, dead letters, a lock and a
    # task lock key, so that every view has something to show.
    steps = [(120, "search the docs"), (250, "read three pages"), (60, "check the quota"), (180, "draft the answer")]
    for ms, reason in steps:
        enqueue(server, queue="agents", run_id="run-shots", payload={"tool_name": "sleep", "input": {"ms": ms}, "reason": reason})
    # A call that hangs past its timeout twice: two failed attempts, then dead.
    enqueue(server, queue="agents", run_id="run-shots", max_retries=1, timeout_ms=100,
            payload={"tool_name": "sleep", "input": {"ms": 5000}, "reason": "post to the flaky API"})
    for i in range(3):
        enqueue(server, queue="mail", payload={"tool_name": "send_mail", "input": {"to": f"user{i}@example.com"}})
    kill_by_hand(server, "mail", "smtp refused: 550 mailbox 17 unavailable", 3)
    enqueue(server, queue="reports", lock_key="account-9", payload={"tool_name": "report"})
    post(server, "/v1/locks/report-writer/acquire", {"holder": "cron-1", "ttl_ms": 600000})
    wait_for(lambda: requests.get(server.base + "/v1/runs/run-shots").json()["counts"] == {**ZERO, "dead": 1, "completed": 4}, 15, "the run to end")

    # Traffic while the overview samples /metrics, so its charts have lines.
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            requests.post(server.base + "/v1/tasks/batch", json={"items": [{"queue": "agents", "payload": {"tool_name": "echo"}}] * 20})
            time.sleep(0.2)

    producer = threading.Thread(target=traffic)
    producer.start()
    try:
        browser.set_window_size(*SIZES["desktop"])
        open_view(browser, server, "overview", "#cards .card")
        time.sleep(16)  # four samples, 5 s apart
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#charts path"), 10, "chart lines")
    finally:
        stop.set()
        producer.join()

    os.makedirs(SHOTS, exist_ok=True)
    views = {
        "overview": "#charts path", "queues": "#queues tbody tr", "tasks": "#tasks tbody tr", "dlq": "#dlq-groups tbody tr",
        "runs": "#runs tbody tr", "run/run-shots": "#trace a.bar", "workers": "#workers tbody tr", "locks": "#locks tbody tr",
    }
    first_task = requests.get(server.base + "/v1/tasks?limit=1").json()["items"][0]["id"]
    views[f"task/{first_task}"] = "#payload"
    for size, (width, height) in SIZES.items():
        browser.set_window_size(width, height)
        for view, ready in views.items():
            if view != "overview" or size != "desktop":
                open_view(browser, server, view, ready)
            if view == "dlq":
                browser.find_element(By.CSS_SELECTOR, "#dlq-groups button[aria-expanded]").click()
                wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#dlq-tasks tbody tr"), 5, "the group's tasks")
            name = "task" if view.startswith("task/") else view.replace("/", "-")
            browser.save_screenshot(os.path.join(SHOTS, f"{name}-{size}.png"))
            assert browser.find_element(By.ID, "error").text == "", (view, browser.find_element(By.ID, "error").text)
            violations = axe_violations(browser)
            assert violations == [], (view, size, [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in violations])
    # Dark mode follows the system: the same views, axe-checked (contrast included) in dark.
    browser.set_window_size(*SIZES["desktop"])
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        for view in ["queues", "dlq", "run/run-shots"]:
            open_view(browser, server, view, views[view])
            assert browser.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches")
            browser.save_screenshot(os.path.join(SHOTS, f"{view.replace('/', '-')}-dark.png"))
            violations = axe_violations(browser)
            assert violations == [], (view, "dark", [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in violations])
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert console_errors(browser) == []
    assert browser.find_element(By.ID, "live-status").text == "live"


def test_a_task_enqueued_over_rest_appears_live_and_the_live_toggle_holds_updates(browser, server):
    from selenium.webdriver.common.by import By

    browser.set_window_size(*SIZES["desktop"])
    enqueue(server, queue="livequeue", payload={"tool_name": "first"})
    open_view(browser, server, "tasks?queue=livequeue", "#tasks tbody tr")
    wait_for(lambda: browser.find_element(By.ID, "live-status").text == "live", 10, "the live feed")
    browser.execute_script("window.notReloaded = true")
    task = enqueue(server, queue="livequeue", payload={"tool_name": "second"})
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"#tasks tbody tr[data-key='{task['id']}']"), 5, "the new row")
    assert browser.execute_script("return window.notReloaded") is True

    # A state change updates the row in place: the same element, a new status.
    row = browser.find_element(By.CSS_SELECTOR, f"#tasks tbody tr[data-key='{task['id']}']")
    post(server, f"/v1/tasks/{task['id']}/cancel")
    wait_for(lambda: "cancelled" in row.text, 5, "the row's new status")

    # Paused, the page holds events back and says how many; resumed, it catches up.
    browser.find_element(By.ID, "live-toggle").click()
    assert browser.find_element(By.ID, "live-toggle").get_attribute("aria-pressed") == "false"
    held = enqueue(server, queue="livequeue", payload={"tool_name": "third"})
    wait_for(lambda: "paused (1 new)" in browser.find_element(By.ID, "live-status").text, 5, "the held event")
    assert not browser.find_elements(By.CSS_SELECTOR, f"#tasks tbody tr[data-key='{held['id']}']")
    browser.find_element(By.ID, "live-toggle").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"#tasks tbody tr[data-key='{held['id']}']"), 5, "the caught-up row")

    # The queues view counts live too.
    open_view(browser, server, "queues", "#queues tbody tr")
    cell = lambda: browser.find_element(By.CSS_SELECTOR, "#queues tr[data-key='livequeue'] td:nth-child(3)").text
    before = int(cell())
    enqueue(server, queue="livequeue", payload={"tool_name": "fourth"})
    wait_for(lambda: int(cell()) == before + 1, 5, "the pending count")
    assert console_errors(browser) == []


@pytest.mark.parametrize("mode,shown", [("long-poll", "live (long-poll)"), ("poll", "polling every 5 s")])
def test_without_a_stream_the_page_long_polls_or_polls(browser, server, mode, shown):
    from selenium.webdriver.common.by import By

    enqueue(server, queue=f"fallback-{mode}", payload={"tool_name": "first"})
    browser.get(f"{server.base}/?live={mode}#/tasks?queue=fallback-{mode}")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#tasks tbody tr"), 10, "the tasks")
    wait_for(lambda: browser.find_element(By.ID, "live-status").text == shown, 10, shown)
    task = enqueue(server, queue=f"fallback-{mode}", payload={"tool_name": "second"})
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"#tasks tbody tr[data-key='{task['id']}']"), 8, "the new row")
    assert console_errors(browser) == []


def test_filters_and_paging_live_in_the_url_and_survive_a_reload(browser, server):
    from selenium.webdriver.common.by import By

    ids = [enqueue(server, queue="pages", payload={"tool_name": "lookup" if i % 2 == 0 else "write"},
                   metadata={"env": "prod" if i < 4 else "dev"})["id"] for i in range(7)]
    rows = lambda: browser.execute_script("return [...document.querySelectorAll('#tasks tbody tr')].map((row) => row.dataset.key)")

    # Filters from the form land in the URL.
    open_view(browser, server, "tasks", "#task-filters")
    browser.find_element(By.ID, "filter-queue").send_keys("pages")
    browser.find_element(By.ID, "filter-tool_name").send_keys("lookup")
    browser.find_element(By.ID, "filter-metadata").send_keys("env:prod")
    browser.find_element(By.CSS_SELECTOR, "#task-filters button[type=submit]").click()
    wait_for(lambda: rows() == [ids[0], ids[2]], 5, "the filtered tasks")
    url = browser.current_url
    assert "queue=pages" in url and "tool_name=lookup" in url and "metadata=env%3Aprod" in url
    browser.refresh()
    wait_for(lambda: rows() == [ids[0], ids[2]], 5, "the same tasks after a reload")
    assert browser.find_element(By.ID, "filter-tool_name").get_attribute("value") == "lookup"

    # Paging: the cursor goes into the URL too.
    open_view(browser, server, "tasks?queue=pages&limit=3", "#tasks tbody tr")
    wait_for(lambda: rows() == ids[:3], 5, "the first page")
    browser.find_element(By.ID, "next-page").click()
    wait_for(lambda: rows() == ids[3:6], 5, "the second page")
    assert "cursor=" in browser.current_url
    browser.refresh()
    wait_for(lambda: rows() == ids[3:6], 5, "the second page after a reload")
    browser.find_element(By.ID, "next-page").click()
    wait_for(lambda: rows() == ids[6:], 5, "the last page")
    assert not browser.find_elements(By.ID, "next-page")
    assert console_errors(browser) == []


def test_dead_tasks_are_requeued_from_the_triage_view_by_group_and_by_selection(browser, server):
    from selenium.webdriver.common.by import By

    for i in range(3):
        enqueue(server, queue="triage", payload={"tool_name": "charge", "input": {"n": i}})
    group = kill_by_hand(server, "triage", f"card declined for order 1234", 3)
    enqueue(server, queue="triage", payload={"tool_name": "refund"})
    (single,) = kill_by_hand(server, "triage", "refund window closed", 1)

    open_view(browser, server, "dlq", "#dlq-groups tbody tr")
    charge = lambda: browser.find_element(By.XPATH, "//table[@id='dlq-groups']//tr[td[text()='charge']]")
    assert "same error every attempt" in charge().text
    # A group: the preview names how many and what, before anything happens.
    charge().find_element(By.CSS_SELECTOR, "button.requeue-group").click()
    click_confirm(browser, "Requeue 3 × tool_call/charge?")
    wait_for(lambda: all(status(server, task) == "pending" for task in group), 5, "the group requeued")
    wait_for(lambda: not browser.find_elements(By.XPATH, "//table[@id='dlq-groups']//tr[td[text()='charge']]"), 5, "the group gone")

    # A selection: show the group, tick the task, requeue the selection.
    refund = browser.find_element(By.XPATH, "//table[@id='dlq-groups']//tr[td[text()='refund']]")
    refund.find_element(By.CSS_SELECTOR, "button[aria-expanded]").click()
    box = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"#dlq-tasks tr[data-key='{single}'] input[type=checkbox]"), 5, "the task")[0]
    assert "refund window closed" in browser.find_element(By.CSS_SELECTOR, f"#dlq-tasks tr[data-key='{single}']").text
    box.click()
    wait_for(lambda: browser.find_element(By.ID, "requeue-selected").text == "Requeue selected (1)", 5, "the selection count")
    browser.find_element(By.ID, "requeue-selected").click()
    click_confirm(browser, "Requeue 1 × selected?")
    wait_for(lambda: status(server, single) == "pending", 5, "the selection requeued")
    assert console_errors(browser) == []


def test_a_dead_task_is_requeued_and_a_pending_one_cancelled_from_its_detail(browser, server):
    from selenium.webdriver.common.by import By

    enqueue(server, queue="detail", payload={"tool_name": "crawl", "input": {"url": "https://example.com"}})
    (dead,) = kill_by_hand(server, "detail", "robots.txt says no", 1)
    open_view(browser, server, f"task/{dead}", "#requeue-task")
    assert "https://example.com" in browser.find_element(By.ID, "payload").text
    assert "robots.txt says no" in browser.find_element(By.ID, "task-errors").text
    assert "triage-bot" in browser.find_element(By.ID, "task-errors").text
    browser.find_element(By.ID, "requeue-task").click()
    click_confirm(browser, "Requeue dead task")
    wait_for(lambda: status(server, dead) == "pending", 5, "the requeue")
    wait_for(lambda: browser.find_elements(By.ID, "cancel-task"), 5, "the page to show the task pending")
    browser.find_element(By.ID, "cancel-task").click()
    click_confirm(browser, "Cancel task")
    wait_for(lambda: status(server, dead) == "cancelled", 5, "the cancel")
    wait_for(lambda: "cancelled" in browser.find_element(By.CSS_SELECTOR, "main h1").text, 5, "the new status shown")
    assert console_errors(browser) == []


def test_queues_pause_and_resume_by_clicking(browser, server):
    from selenium.webdriver.common.by import By

    enqueue(server, queue="pausable", payload={"tool_name": "echo"})
    open_view(browser, server, "queues", "#queues tr[data-key='pausable']")
    paused = lambda: [q for q in requests.get(server.base + "/v1/queues").json()["items"] if q["name"] == "pausable"][0]["paused"]
    button = lambda: browser.find_element(By.CSS_SELECTOR, "#queues tr[data-key='pausable'] button")
    button().click()
    # Cancelling the dialog changes nothing.
    wait_for(lambda: browser.execute_script("return document.getElementById('confirm').open"), 5, "the confirmation")
    browser.find_element(By.ID, "confirm-cancel").click()
    time.sleep(0.3)
    assert not paused()
    button().click()
    click_confirm(browser, "Pause queue pausable?")
    wait_for(paused, 5, "the pause")
    wait_for(lambda: "paused" in browser.find_element(By.CSS_SELECTOR, "#queues tr[data-key='pausable']").text, 5, "the paused badge")
    wait_for(lambda: button().text == "Resume", 5, "the resume button")
    button().click()
    click_confirm(browser, "Resume queue pausable?")
    wait_for(lambda: not paused(), 5, "the resume")
    assert console_errors(browser) == []


def test_a_run_trace_shows_its_tasks_in_order_with_tools_reasons_and_failures(browser, server):
    from selenium.webdriver.common.by import By

    steps = [("search", "find the docs"), ("fetch", "read the page"), ("summarize", "answer the user")]
    ids = []
    for tool, reason in steps:
        ids.append(enqueue(server, queue="agents", run_id="run-trace", payload={"tool_name": "echo", "input": {"tool": tool}, "reason": reason})["id"])
        wait_for(lambda: status(server, ids[-1]) == "completed", 10, "the step")
    ids.append(enqueue(server, queue="agents", run_id="run-trace", max_retries=1,
                       payload={"tool_name": "fail", "input": {"message": "quota exceeded"}, "reason": "post the answer"})["id"])
    wait_for(lambda: status(server, ids[-1]) == "dead", 15, "the failing step to die")

    open_view(browser, server, "run/run-trace", "#trace a.bar")
    order = [row.get_attribute("data-key") for row in browser.find_elements(By.CSS_SELECTOR, "#run-tasks tbody tr")]
    assert order == ids
    bars = browser.find_elements(By.CSS_SELECTOR, "#trace a.bar")
    assert sorted(bar.get_attribute("data-task") for bar in bars) == sorted(ids)
    labels = browser.find_element(By.ID, "trace").text
    for _, reason in steps:
        assert f"echo — {reason}" in labels
    dead_bar = browser.find_element(By.CSS_SELECTOR, f"#trace a.bar[data-task='{ids[-1]}']")
    assert len(dead_bar.find_elements(By.CSS_SELECTOR, "line.fail-mark")) == 2, "two failed attempts marked"
    assert len(dead_bar.find_elements(By.CSS_SELECTOR, "rect.seg-failed")) == 2, "each attempt a segment"
    done_bar = browser.find_element(By.CSS_SELECTOR, f"#trace a.bar[data-task='{ids[0]}']")
    assert len(done_bar.find_elements(By.CSS_SELECTOR, "rect.seg-completed")) == 1 and not done_bar.find_elements(By.CSS_SELECTOR, "line.fail-mark")
    # Its dead task is requeued from the run.
    browser.find_element(By.ID, "requeue-run-dead").click()
    click_confirm(browser, "Requeue 1 dead task of run run-trace?")
    # The requeued task runs (and fails) again: two more attempts after the reset.
    wait_for(lambda: len(requests.get(f"{server.base}/v1/tasks/{ids[-1]}").json()["errors"]) == 4, 15, "the requeued task to run again")
    # A run of waiting tasks is cancelled from its trace.
    waiting = [enqueue(server, queue="nobody", run_id="run-cancel", payload={"tool_name": "echo"})["id"] for _ in range(3)]
    open_view(browser, server, "run/run-cancel", "#trace a.bar")
    browser.find_element(By.ID, "cancel-run").click()
    click_confirm(browser, "Cancel 3 unfinished tasks of run run-cancel?")
    wait_for(lambda: all(status(server, task) == "cancelled" for task in waiting), 5, "the run cancelled")
    # And the runs list shows it, counted.
    open_view(browser, server, "runs", "#runs tr[data-key='run-trace']")
    assert "run-trace" in browser.find_element(By.CSS_SELECTOR, "#runs tr[data-key='run-trace']").text
    assert console_errors(browser) == []


def test_keyboard_slash_searches_j_k_move_and_enter_opens(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ids = [enqueue(server, queue="keys", payload={"tool_name": "echo"})["id"] for _ in range(3)]
    open_view(browser, server, "tasks?queue=keys", "#tasks tbody tr")
    browser.find_element(By.TAG_NAME, "body").click()
    ActionChains(browser).send_keys("/").perform()
    assert browser.switch_to.active_element.get_attribute("id") == "search-box"
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    browser.find_element(By.TAG_NAME, "h1").click()
    ActionChains(browser).send_keys("j").send_keys("j").send_keys("k").send_keys("j").perform()
    selected = browser.find_element(By.CSS_SELECTOR, "#tasks tbody tr.selected")
    assert selected.get_attribute("data-key") == ids[1]
    assert browser.switch_to.active_element.get_attribute("title") == ids[1], "the row's link has the focus"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_for(lambda: f"#/task/{ids[1]}" in browser.current_url, 5, "the task's page")
    # The search box opens a run or a task by id.
    box = browser.find_element(By.ID, "search-box")
    box.send_keys("run-trace-missing" + Keys.ENTER)
    wait_for(lambda: "No task or run" in browser.find_element(By.ID, "error").text, 5, "the miss")
    box.clear()
    box.send_keys(ids[2] + Keys.ENTER)
    wait_for(lambda: f"#/task/{ids[2]}" in browser.current_url, 5, "the searched task")


def test_the_page_asks_for_a_token_keeps_it_in_session_storage_and_follows_live_with_it(tmp_path):
    from selenium.webdriver.common.by import By

    path, tokens = make_tokens(tmp_path, ("viewer", "--scope", "viewer"), ("producer", "--scope", "producer"))
    server = Server("--workers", "0", "--auth-file", path)
    browser = make_browser()
    try:
        producer = {"Authorization": f"Bearer {tokens['producer']}"}
        requests.post(server.base + "/v1/tasks", json={"queue": "reports", "payload": {"tool_name": "echo"}}, headers=producer).raise_for_status()
        browser.get(server.base + "/#/queues")
        wait_for(lambda: browser.find_element(By.ID, "login").is_displayed(), 10, "the token form")
        assert browser.find_elements(By.CSS_SELECTOR, "#queues tbody tr") == []
        assert "needs a token" in browser.find_element(By.ID, "error").text

        # A wrong token is refused and the form asks again.
        browser.find_element(By.ID, "token").send_keys("sbt_wrong")
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        wait_for(lambda: "refused that token" in browser.find_element(By.ID, "error").text, 10, "the refusal")
        assert browser.execute_script("return sessionStorage.getItem('switchboard-token')") is None

        browser.find_element(By.ID, "token").send_keys(tokens["viewer"])
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#queues tr[data-key='reports']"), 10, "the queues, read with the token")
        assert not browser.find_element(By.ID, "login").is_displayed()
        assert browser.execute_script("return sessionStorage.getItem('switchboard-token')") == tokens["viewer"]
        assert browser.execute_script("return localStorage.length") == 0
        assert browser.get_cookies() == [], "no cookie: nothing ambient for another site to use"

        # The live feed carries the token too.
        wait_for(lambda: browser.find_element(By.ID, "live-status").text == "live", 10, "the live feed with the token")
        cell = lambda: browser.find_element(By.CSS_SELECTOR, "#queues tr[data-key='reports'] td:nth-child(3)").text
        requests.post(server.base + "/v1/tasks", json={"queue": "reports", "payload": {"tool_name": "echo"}}, headers=producer).raise_for_status()
        wait_for(lambda: cell() == "2", 5, "the live count")

        # A viewer may look, not act: the operator's buttons answer with the server's 403.
        browser.find_element(By.CSS_SELECTOR, "#queues tr[data-key='reports'] button").click()
        click_confirm(browser, "Pause queue reports?")
        wait_for(lambda: "needs one of the scopes" in browser.find_element(By.ID, "error").text, 10, "the 403")

        # The tab keeps the token across a reload; forgetting it brings the form back.
        browser.refresh()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#queues tbody tr"), 10, "the queues after a reload")
        assert not browser.find_element(By.ID, "login").is_displayed()
        browser.find_element(By.ID, "logout").click()
        assert browser.find_element(By.ID, "login").is_displayed()
        assert browser.execute_script("return sessionStorage.getItem('switchboard-token')") is None
    finally:
        browser.quit()
        assert server.stop() == 0
    assert tokens["viewer"] not in server.output()
