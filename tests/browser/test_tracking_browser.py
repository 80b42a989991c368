"""Real Chromium on a second local origin that carries the tracking code."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from crm.tracking import services
from crm.tracking.models import PageView, TrackedSite, Visitor
from tests.browser.pages import wait_for

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<h1>{title}</h1><a id="next" href="/next">Next</a>
<script src="{crm}/t/{key}.js" {attributes}></script>
</body></html>"""


class _Site(BaseHTTPRequestHandler):
    crm = ""
    key = ""

    def do_GET(self):  # noqa: N802  (the http.server hook)
        path = self.path.split("?", 1)[0]
        titles = {"/": "Landing", "/next": "Next page", "/private": "No consent"}
        if path not in titles:
            self.send_error(404)
            return
        attributes = 'data-consent="false"' if path == "/private" else ""
        body = PAGE.format(
            title=titles[path], crm=self.crm, key=self.key, attributes=attributes
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def other_site(live_server):
    handler = type("Handler", (_Site,), {"crm": live_server})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def views(db):
    return db.session.scalar(select(func.count()).select_from(PageView))


def test_the_tracking_code_on_another_origin_records_views_and_identifies(
    db, page, other_site, make_contact
):
    handler, origin = other_site
    site = TrackedSite(name="Local shop", origins=origin)
    services.clean_site(site)
    db.session.add(site)
    db.session.commit()
    handler.key = site.site_key
    jane = make_contact("Jane", "Doe", email="jane@example.com")

    page.goto(f"{origin}/?utm_source=browser-test")
    page.wait_for_function("typeof window.crmVisitorId === 'string'")
    visitor_id = page.evaluate("window.crmVisitorId")
    assert page.evaluate("localStorage.getItem('crm_vid')") == visitor_id
    cookies = {c["name"]: c for c in page.context.cookies(origin)}
    assert cookies["crm_vid"]["value"] == visitor_id
    assert wait_for(db, lambda: views(db) == 1)

    page.click("#next")
    page.wait_for_load_state()
    assert wait_for(db, lambda: views(db) == 2)
    first = wait_for(
        db,
        lambda: db.session.scalar(
            select(PageView).where(
                PageView.title == "Landing", PageView.seconds.is_not(None)
            )
        ),
    )
    assert first is not None, "the pagehide beacon did not arrive"
    visitor = db.session.scalar(select(Visitor))
    assert visitor.visitor_key == visitor_id and visitor.contact_id is None

    # No consent: nothing is sent, no id is set for the web forms to read.
    page.goto(f"{origin}/private")
    page.wait_for_load_state()
    assert page.evaluate("window.crmVisitorId") is None

    # A tracked e-mail link lands with the identity token.
    token = services.identity_token(jane.id)
    page.goto(f"{origin}/?{services.IDENTITY_PARAM}={token}")
    page.wait_for_function("typeof window.crmVisitorId === 'string'")
    assert services.IDENTITY_PARAM not in page.evaluate("window.location.href")
    assert wait_for(
        db, lambda: db.session.scalar(select(Visitor.contact_id)) == jane.id
    )
    # The private page recorded nothing: three views in all.
    assert views(db) == 3
    urls = db.session.scalars(select(PageView.url).order_by(PageView.id)).all()
    assert urls == [
        f"{origin}/?utm_source=browser-test",
        f"{origin}/next",
        f"{origin}/",
    ]
