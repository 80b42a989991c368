"""In real Chromium: the Add buttons of Flask-Admin's inline lists work under the CSP.

Sequences (steps), campaigns (goals), pipeline stages, web forms (fields) and
teams (members) are built from inline lists; their stock Add button runs an
inline handler, which the site's Content-Security-Policy refuses.
"""

import pytest
from sqlalchemy import select

from tests.access_helpers import quick_user

pytestmark = pytest.mark.browser


def test_a_sequence_is_built_with_two_steps_from_the_add_button(
    db, live_server, page, sign_in
):
    from crm.automation.models import Sequence
    from crm.tags.models import Tag, TagCategory

    category = TagCategory(name="Status")
    tag = Tag(name="Welcomed", category=category)
    db.session.add(tag)
    admin = quick_user(db, "admin@example.com", is_admin=True)
    db.session.commit()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    sign_in(page, live_server, admin.email)
    page.goto(f"{live_server}/admin/sequence/new/")
    page.fill("#name", "Browser-built")
    page.click("#steps-button")
    page.click("#steps-button")
    page.wait_for_selector("#steps-1-action_kind")
    for index in range(2):
        page.fill(f"#steps-{index}-position", str(index + 1))
        page.fill(f"#steps-{index}-name", f"Step {index + 1}")
        page.select_option(f"#steps-{index}-timer_kind", "none")
        page.select_option(f"#steps-{index}-action_kind", "apply_tag")
        page.fill(f"#steps-{index}-action", f'{{"tag_id": {tag.id}}}')
    page.click("input[type=submit][value=Save]")
    page.wait_for_load_state()

    db.session.expire_all()
    sequence = db.session.scalar(
        select(Sequence).where(Sequence.name == "Browser-built")
    )
    assert sequence is not None, page.content()[:2000]
    assert [step.name for step in sequence.steps] == ["Step 1", "Step 2"]
    assert not [e for e in errors if "Content Security Policy" in e], errors
