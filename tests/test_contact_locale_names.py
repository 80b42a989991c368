"""The contact's preferred locale: each choice by its name, the code stored."""

import re

import pytest

from crm.contacts.models import Contact
from tests.record_helpers import edit, edit_url, record_url, reload, sign_in


@pytest.fixture
def jane(web, db, make_contact):
    user = sign_in(web, db)
    return make_contact("Jane", "Doe", email="jane@example.com", owner=user)


def _options(page):
    select = re.search(
        r'<select[^>]*name="preferred_locale"[^>]*>(.*?)</select>', page, re.S
    )
    assert select, "no preferred locale drop-down"
    return re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select[1])


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                ("", "—"),
                ("en", "English · en"),
                ("en_US", "English (United States) · en_US"),
                ("en_GB", "English (United Kingdom) · en_GB"),
                ("es", "Spanish · es"),
                ("es_MX", "Spanish (Mexico) · es_MX"),
                ("fr", "French · fr"),
                ("de", "German · de"),
                ("it", "Italian · it"),
                ("pt_BR", "Portuguese (Brazil) · pt_BR"),
                ("nl", "Dutch · nl"),
            ],
        ),
        (
            "es",
            [
                ("", "—"),
                ("en", "Inglés · en"),
                ("en_US", "Inglés (Estados Unidos) · en_US"),
                ("en_GB", "Inglés (Reino Unido) · en_GB"),
                ("es", "Español · es"),
                ("es_MX", "Español (México) · es_MX"),
                ("fr", "Francés · fr"),
                ("de", "Alemán · de"),
                ("it", "Italiano · it"),
                ("pt_BR", "Portugués (Brasil) · pt_BR"),
                ("nl", "Neerlandés · nl"),
            ],
        ),
    ],
)
def test_the_locale_drop_down_names_each_locale_in_the_readers_language(
    web, jane, language, expected
):
    page = web.get(
        edit_url("general", jane.id), headers={"Accept-Language": language}
    ).get_data(as_text=True)

    assert _options(page) == expected


def test_the_code_is_stored_and_the_record_shows_the_name(web, db, jane):
    edit(web, "general", jane.id, preferred_locale="es_MX")

    assert reload(db, Contact, jane.id).preferred_locale == "es_MX"
    page = web.get(record_url(jane.id)).get_data(as_text=True)
    assert "Spanish (Mexico) · es_MX" in page


@pytest.mark.parametrize(
    ("stored", "shown"), [("pt_PT", "Portuguese (Portugal) · pt_PT"), ("zz", "zz")]
)
def test_a_stored_locale_not_offered_reads_by_name_and_survives_a_save(
    web, db, jane, stored, shown
):
    jane.preferred_locale = stored
    db.session.commit()

    page = web.get(edit_url("general", jane.id)).get_data(as_text=True)
    assert (stored, shown) in _options(page)
    edit(web, "general", jane.id, job_title="Buyer")

    assert reload(db, Contact, jane.id).preferred_locale == stored
    assert shown in web.get(record_url(jane.id)).get_data(as_text=True)
