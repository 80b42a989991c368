"""Issue 7 end to end, in real Chromium: a visitor reads a partner's link, a page
of another local site that carries the tracking code and an embedded web form,
fills the form in its frame (with a file for the file box), buys on the order
page; a user then finds one contact with the visits, the submission, the paid
order and its invoice, the referral, the file sent with the form and a file
uploaded to the file box."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.browser.pages import wait_for

pytestmark = pytest.mark.browser

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Lamp news</title></head>
<body><h1>Lamp news</h1>
<script src="{app}/t/{site_key}.js" async></script>
<script src="{app}/f/{slug}/embed.js"></script>
</body></html>"""


def test_form_visits_purchase_referral_and_file_meet_on_one_contact(
    db, make_contact, live_server, other_site, new_page, sign_in, tmp_path
):
    from crm.contacts.models import Contact
    from crm.files.models import ContactFile
    from crm.partners import services as partners
    from crm.partners.models import PartnerSettings, TrackingDestination
    from crm.sales.models import Order, Product
    from crm.tracking import services as tracking
    from crm.tracking.models import PageView, TrackedSite
    from crm.webforms.models import Submission
    from tests.access_helpers import quick_user
    from tests.webform_helpers import DEFAULT_FIELDS, make_checkout, make_form

    site, state = other_site
    admin = quick_user(db, "admin@example.com", is_admin=True, name="Ada Admin")
    tracked = TrackedSite(name="Lamp news", origins=site)
    tracking.clean_site(tracked)
    db.session.add(tracked)
    db.session.add(TrackingDestination(prefix=site))
    db.session.get(PartnerSettings, 1).landing_url = f"{site}/"
    partners.create_partner(
        make_contact("Paula", "Partner"), "Paula1", status="active", track_days=30
    )
    form = make_form(
        db,
        fields=DEFAULT_FIELDS + (("file:1", {"label": "Your lamp photo"}),),
        allowed_urls=site + "/",
        title="Lamp news by e-mail",
    )
    lamp = Product(name="Desk lamp", price=Decimal("24.50"), currency="USD")
    db.session.add(lamp)
    db.session.commit()
    checkout = make_checkout(db, lamp)
    state["html"] = HOST_PAGE.format(
        app=live_server, site_key=tracked.site_key, slug=form.slug
    )

    visitor = new_page()
    blocked = []
    visitor.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else 0,
    )
    # The partner's link sets the referral cookie and lands on the other site.
    visitor.goto(f"{live_server}/r/Paula1?to={site}/?utm_source=paula")
    assert visitor.url.startswith(site)
    frame = visitor.frame_locator("iframe.crm-webform")
    frame.locator("#f-email").fill("bea@example.com")
    frame.locator("#f-given_name").fill("Bea")
    frame.locator("#f-family_name").fill("Buyer")
    photo = tmp_path / "my lamp.png"
    photo.write_bytes(PNG)
    assert "per file" in frame.locator("#f-file-1-limits").inner_text()
    frame.locator("#f-file-1").set_input_files(str(photo))
    frame.locator("#webform-submit").click()
    frame.locator("#webform-thanks").wait_for()

    visitor.goto(f"{live_server}/buy/{checkout.slug}")
    for field, value in {
        "#b-given_name": "Bea",
        "#b-family_name": "Buyer",
        "#b-email": "bea@example.com",
        "#b-billing-line1": "1 Market St",
        "#b-billing-locality": "San Francisco",
        "#b-billing-postal_code": "94105",
        "#b-billing-country_code": "USA",
        "#b-card_number": "4242 4242 4242 4242",
    }.items():
        visitor.fill(field, value)
    visitor.click("#buy-submit")
    visitor.wait_for_selector("#invoice-number")
    assert blocked == []

    bea = wait_for(
        db,
        lambda: db.session.scalars(
            select(Contact).where(Contact.given_name == "Bea")
        ).one_or_none(),
    )
    assert bea is not None
    assert wait_for(
        db,
        lambda: db.session.scalars(
            select(PageView).where(PageView.url.startswith(site))
        ).first(),
    )
    submission = db.session.scalars(select(Submission)).one()
    # The tracking tag is async, as the site's snippet has it: the form waited
    # for the tracker's visitor id and sent it with the submission.
    [vid] = [
        c["value"] for c in visitor.context.cookies(site) if c["name"] == "crm_vid"
    ]
    assert submission.visitor_id == vid
    order = db.session.scalars(select(Order)).one()
    assert (submission.contact_id, order.contact_id) == (bea.id, bea.id)
    assert order.status == "paid"
    photo_row = db.session.scalars(
        select(ContactFile).where(ContactFile.contact_id == bea.id)
    ).one()
    assert (photo_row.name, photo_row.source, photo_row.size) == (
        "my lamp.png",
        "form",
        len(PNG),
    )

    user = new_page()
    sign_in(user, live_server, admin.email)
    record = f"{live_server}/admin/contact/details/?id={bea.id}"

    user.goto(f"{record}&tab=web")
    user.wait_for_selector("#web-visitors")
    assert "Lamp news" in user.inner_text("#web-tab")
    assert site in user.inner_text("#web-tab")

    user.goto(f"{record}&tab=tasks")
    assert "Web form submitted" in user.inner_text("#history")

    user.goto(f"{record}&tab=orders")
    user.wait_for_selector("#contact-orders")
    user.click("#contact-orders a")
    user.wait_for_selector("#order-page")
    assert user.inner_text("[data-amount=total]") == "$24.50"
    assert str(order.invoice_number) in user.inner_text("#order-page")

    user.goto(f"{record}&tab=referrals")
    user.wait_for_selector("#referrals")
    assert "Paula1" in user.inner_text("#referrals")

    user.goto(f"{record}&tab=files")
    sent = user.locator("#file-list tbody tr", has_text="my lamp.png")
    assert "Web form: Newsletter" in sent.locator(".file-source").inner_text()
    assert sent.locator(".file-type").inner_text() == "image/png"
    contract = tmp_path / "signed contract.pdf"
    contract.write_bytes(b"%PDF-1.4\n% a signed contract\n")
    user.set_input_files("#files", str(contract))
    user.click("#upload-button")
    user.wait_for_selector("#file-list tbody tr >> text=signed contract.pdf")
    assert "signed contract.pdf" in user.inner_text("#file-list")
    assert "my lamp.png" in user.inner_text("#file-list")
