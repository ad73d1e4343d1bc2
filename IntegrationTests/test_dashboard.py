"""The dashboard in a real browser (headless Chromium through selenium): with auth on it asks for a
token, keeps it in the tab's sessionStorage (never a cookie), and sends it as a bearer header."""
import pytest
import requests

from conftest import Server, make_tokens, require_tool, wait_for


@pytest.fixture
def browser():
    require_tool("chromium")
    require_tool("chromedriver")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"]:
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))
    yield driver
    driver.quit()


def visible(driver, element_id):
    return driver.execute_script(f"return !document.getElementById('{element_id}').hidden")


def test_the_dashboard_asks_for_a_token_and_keeps_it_in_session_storage(browser, tmp_path):
    from selenium.webdriver.common.by import By

    path, tokens = make_tokens(tmp_path, ("viewer", "--scope", "viewer"), ("producer", "--scope", "producer"))
    server = Server("--workers", "0", "--auth-file", path)
    try:
        requests.post(server.base + "/v1/tasks", json={"queue": "reports", "payload": {"tool_name": "echo"}},
                      headers={"Authorization": f"Bearer {tokens['producer']}"}).raise_for_status()
        browser.get(server.base + "/")
        wait_for(lambda: visible(browser, "login"), 10, "the token form")
        assert browser.find_elements(By.CSS_SELECTOR, "#queues tbody tr") == []
        assert "needs a token" in browser.find_element(By.ID, "error").text

        # A wrong token is refused and the form asks again.
        browser.find_element(By.ID, "token").send_keys("sbt_wrong")
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        wait_for(lambda: "refused that token" in browser.find_element(By.ID, "error").text, 10, "the refusal")
        assert browser.execute_script("return sessionStorage.getItem('switchboard-token')") is None

        browser.find_element(By.ID, "token").send_keys(tokens["viewer"])
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        wait_for(lambda: any("reports" in row.text for row in browser.find_elements(By.CSS_SELECTOR, "#queues tbody tr")),
                 10, "the queues, read with the token")
        assert not visible(browser, "login")
        assert browser.execute_script("return sessionStorage.getItem('switchboard-token')") == tokens["viewer"]
        assert browser.execute_script("return localStorage.length") == 0
        assert browser.get_cookies() == [], "no cookie: nothing ambient for another site to use"

        # A viewer may look, not act: the operator's buttons answer with the server's 403.
        browser.find_element(By.ID, "requeue-all").click()
        wait_for(lambda: "needs one of the scopes" in browser.find_element(By.ID, "error").text, 10, "the 403")

        # The tab keeps the token across a reload; forgetting it brings the form back.
        browser.refresh()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#queues tbody tr"), 10, "the queues after a reload")
        assert not visible(browser, "login")
        browser.find_element(By.ID, "logout").click()
        assert visible(browser, "login")
        assert browser.execute_script("return sessionStorage.getItem('switchboard-token')") is None
    finally:
        assert server.stop() == 0
    assert tokens["viewer"] not in server.output()


def test_without_auth_the_dashboard_needs_no_token(browser):
    from selenium.webdriver.common.by import By

    server = Server("--workers", "0")
    try:
        requests.post(server.base + "/v1/tasks", json={"queue": "open", "payload": {"tool_name": "echo"}}).raise_for_status()
        browser.get(server.base + "/")
        wait_for(lambda: any("open" in row.text for row in browser.find_elements(By.CSS_SELECTOR, "#queues tbody tr")), 10, "the queues")
        assert not visible(browser, "login")
        # Pausing from the page (same origin, no body) works.
        browser.find_element(By.XPATH, "//tr[td[text()='open']]//button").click()
        wait_for(lambda: requests.get(server.base + "/v1/queues").json()["items"][0]["paused"], 10, "the pause")
    finally:
        assert server.stop() == 0
