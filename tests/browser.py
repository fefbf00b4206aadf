"""Browser tests' shared parts: headless Chromium through Selenium, and the app on a live HTTP server.

Loaded as a pytest plugin by ``conftest.py``, so every test module can ask for its fixtures:

* ``chromium``: one headless Chromium for the whole session (starting one costs about a second);
* ``browser``: that browser made fresh for one test (no cookies, desktop size, no phone emulation);
  a test that fails leaves a screenshot in ``tests/artifacts/`` named after it;
* ``live_server``: an HTTP server on 127.0.0.1 bound to a free port before the app exists (so the
  repository can be given its ``base_url``), serving the app given to its ``start()``, module-scoped.

Without Chromium, chromedriver (Debian ``chromium``, ``chromium-driver``; ``make system-deps`` installs
them as root) or the ``selenium`` package, the tests that use a browser skip and say which is missing
(a module can say so at once: ``pytestmark = pytest.mark.skipif(missing() is not None, reason=...)``);
the rest of the suite never needs any of them.

The helpers below (``css``, ``follow``, ``next_page``, ``press``, ``screenshot``, ``emulate``…) are the
ones a test needs to use pages as a reader does: click and wait for the next page, type, tab.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # the browser tests skip and say why (missing()); everything else runs without it
    webdriver = ActionChains = Service = By = Keys = Select = WebDriverException = WebDriverWait = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DESKTOP = (1280, 900)
PHONE = (390, 844)  # CSS pixels of a current phone (iPhone 12–15)
WAIT = 10  # seconds: the most a page may take to show what a test waits for
#: What the reader's browser asks for: the library's readers are Chinese, so is the default test browser.
ACCEPT_LANGUAGE = "zh-CN,zh"


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    problems = []
    if webdriver is None:
        problems.append("the selenium package (pip install -e '.[test]')")
    packages = [
        f"{path.name} (Debian package {package})"
        for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver"))
        if not path.exists() and shutil.which(path.name) is None
    ]
    if packages:
        problems.append(" and ".join(packages) + ", which `make system-deps` installs as root")
    return "the browser tests need " + "; ".join(problems) if problems else None


def _executable(path: Path) -> str:
    return str(path) if path.exists() else str(shutil.which(path.name))


def start_chromium(size: tuple[int, int] = DESKTOP) -> Any:
    """A new headless Chromium (a Selenium ``WebDriver``); the caller quits it."""
    options = webdriver.ChromeOptions()
    options.binary_location = _executable(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={size[0]},{size[1]}",
        f"--lang={ACCEPT_LANGUAGE.split(',')[0]}",
    ):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": ACCEPT_LANGUAGE})
    driver = webdriver.Chrome(service=Service(_executable(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    return driver


def screenshot(driver: Any, name: str) -> Path:
    """Save what the browser shows as ``tests/artifacts/{name}.png`` (the whole page, not just the window)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return window.innerWidth")
    metrics = {"width": width, "height": max(height, 1), "deviceScaleFactor": 0, "mobile": width < 600}
    try:
        # Full-page: emulate a viewport as tall as the page for the capture, then restore.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        driver.save_screenshot(str(path))
    finally:
        restore = getattr(driver, "_viewport_override", None)
        if restore:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", restore)
        else:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


def emulate(driver: Any, width: int, height: int, *, mobile: bool = True) -> None:
    """Show pages in a viewport of ``width`` × ``height`` CSS pixels (a phone, by default)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver._viewport_override = metrics


def reset(driver: Any) -> None:
    """Back to a fresh desktop browser: no cookies (the language choice is one), no emulation."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver._viewport_override = None
    driver.set_window_size(*DESKTOP)
    driver.get("about:blank")


# --------------------------------------------------------------------------- reading and using pages


def css(driver: Any, selector: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, selector)


def css_all(driver: Any, selector: str) -> list:
    return driver.find_elements(By.CSS_SELECTOR, selector)


def xpath(driver: Any, path: str) -> Any:
    return driver.find_element(By.XPATH, path)


def xpath_all(driver: Any, path: str) -> list:
    return driver.find_elements(By.XPATH, path)


@contextlib.contextmanager
def next_page(driver: Any, timeout: float = WAIT) -> Iterator[None]:
    """Wait, after the block (a click, a submit, Enter), until the browser shows the next page, loaded.

    The page left behind is marked rather than watched: asking chromedriver about an element of a page
    being replaced can fail with an error that is not 'stale element' ("Node with given id does not
    belong to the document"), so a staleness wait is flaky.
    """
    driver.execute_script("window.__left_behind = true")
    yield
    WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return !window.__left_behind && document.readyState === 'complete'"),
        "the next page did not load",
    )


def follow(driver: Any, element: Any) -> None:
    """Click ``element`` (a link, a submit button) and wait for the next page."""
    with next_page(driver):
        element.click()


def press(driver: Any, *keys: str) -> None:
    """Keys sent to whatever has the focus, as a keyboard user types them."""
    ActionChains(driver).send_keys(*keys).perform()


def focused(driver: Any) -> Any:
    return driver.switch_to.active_element


# --------------------------------------------------------------------------- the app on HTTP


class LiveServer:
    """A threaded werkzeug server on 127.0.0.1: the port is known at once, the app is given later."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._app: Callable | None = None
        self.httpd = make_server(host, 0, self._dispatch, threaded=True)
        self.port = self.httpd.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def _dispatch(self, environ: dict, start_response: Callable) -> Any:
        if self._app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"the app is not started yet"]
        return self._app(environ, start_response)

    def start(self, app: Callable) -> LiveServer:
        self._app = app
        if self._thread is None:
            self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="live-server")
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
        self.httpd.server_close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    for stale in ARTIFACTS.glob("FAILED-*.png"):  # a failure's picture is of this run's failure
        stale.unlink()
    driver = start_chromium()
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    reset(chromium)
    yield chromium
    report = getattr(request.node, "browser_report", None)
    if report is not None and report.failed:
        with contextlib.suppress(Exception):  # a screenshot must never hide the failure itself
            screenshot(chromium, f"FAILED-{request.node.name}")


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when == "call":
        item.browser_report = report  # read by the ``browser`` fixture's teardown
    return report
