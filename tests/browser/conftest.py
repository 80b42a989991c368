"""Browser fixtures: the app on a real local server, and a Chromium page.

Chromium is the Debian package at /usr/bin/chromium (playwright cannot
download its own browser here); tests skip with the reason when it is absent.
"""

import threading
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def live_server(app):
    """Serve ``app`` on 127.0.0.1 in a thread; yields the base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module.

    Module scope ends the playwright loop before other modules run; a loop
    left running for the session breaks any later sync_playwright() call.
    """
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):
    """Open pages in fresh browser contexts (one per signed-in person)."""
    contexts = []

    def open_page():
        context = chromium.new_context()
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """A Chromium page in its own browser context."""
    return new_page()


@pytest.fixture
def sign_in():
    """Sign a page in through the login form."""
    from tests.conftest import PASSWORD

    def login(page, base_url, email, password=PASSWORD):
        page.goto(f"{base_url}/login")
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()

    return login


@pytest.fixture
def other_site():
    """Another origin on 127.0.0.1 serving one page; yields (base URL, state).

    Set ``state["html"]`` to the page it serves.
    """
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    state = {"html": ""}

    def site(environ, start_response):
        return Response(state["html"], mimetype="text/html")(environ, start_response)

    server = make_server("127.0.0.1", 0, site, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", state
    server.shutdown()
    thread.join(timeout=5)
