"""Short Windows-1252 and Latin-1 files, and the encodings vCards declare."""

from io import BytesIO

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports.engine import ImportOptions, open_file, run
from crm.imports.reading import ReadError, decode, reads_as_western


def _contacts(db):
    return list(db.session.scalars(select(Contact).order_by(Contact.id)))


def _import(db, data: bytes, **options):
    result = run(data, options=ImportOptions(**options))
    db.session.commit()
    return result


SPANISH = (
    "first_name,last_name,email,city\n"
    "José,Pérez,jose@example.es,Madrid\n"
    "María,Núñez,maria@example.es,A Coruña\n"
)
NORDIC = (
    "first_name,last_name,email,city\n"
    "Åsa,Østby,asa@example.no,Tromsø\n"
    "Øyvind,Ærlig,oy@example.no,Bodø\n"
)


@pytest.mark.parametrize(
    "text",
    [
        SPANISH,
        NORDIC,
        "first_name\nÜmit\n",
        "first_name,last_name\nJOSÉ,MÜLLER\nÅSA,ØSTBY\n",
        "first_name,last_name\nJosé,Pérez\n",
        "first_name,last_name\nNoël,Martin\n",
        "first_name,last_name\nBegoña,Ibáñez\n",
        "first_name,notes\nAnn,Preis 5 € – „quoted“\n",
    ],
    ids=["spanish", "nordic", "one", "upper", "perez", "noel", "begona", "marks"],
)
def test_short_cp1252_files_are_read_as_cp1252(app, db, text):
    data = text.encode("cp1252")

    assert open_file(data).encoding == "cp1252"
    _import(db, data)

    rows = [line.split(",") for line in text.splitlines()[1:]]
    stored = [(c.given_name, c.family_name or None) for c in _contacts(db)]
    if "notes" in text:
        assert _contacts(db)[0].person_notes == rows[0][1]
    else:
        assert stored == [(r[0], r[1] if len(r) > 1 else None) for r in rows]


@pytest.mark.parametrize(
    "text, encoding",
    [
        ("first_name,last_name,city\nИван,Петров,Москва\nОльга,Смирнова,Тверь\n",
         "cp1251"),
        ("first_name,last_name\n张三,李四\n王小明,北京市朝阳区\n", "gb18030"),
        ("first_name,last_name\n김철수,이영희\n", "euc_kr"),
        ("first_name,last_name\n山田,太郎\n鈴木,花子\n", "shift_jis"),
    ],
    ids=["cyrillic", "chinese", "korean", "japanese"],
)  # fmt: skip
def test_other_scripts_are_not_read_as_cp1252(app, text, encoding):
    data = text.encode(encoding)

    decoded = decode(data)

    assert decoded.encoding != "cp1252"
    assert decoded.text == text


@pytest.mark.parametrize(
    "text, western",
    [
        ("Müller, Núñez, Østby, Cœur, O’Brien, l·lia, Þórður", True),
        ("Èâàí Ïåòðîâ", False),  # Cyrillic in cp1251
        ("ÕÅÈý,ÀîËÄ", False),  # Chinese in GBK
        ("±èÃ¶¼ö", False),  # Korean in EUC-KR
        ("Iksiñski", False),  # Polish in cp1250: an n with an acute
        ("plain ASCII", False),
    ],
)
def test_western_text_is_told_from_other_scripts_read_as_cp1252(text, western):
    assert reads_as_western(text) is western


def test_vcard_without_charset_in_cp1252_keeps_its_names(app, db):
    data = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Núñez;María;;;\r\nFN:María Núñez\r\n"
        "EMAIL:maria@example.es\r\nADR;TYPE=HOME:;;Calle Mayor 1;A Coruña;;15001;"
        "España\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:2.1\r\nN:Ibáñez;Begoña;;;\r\nTEL;CELL:+34 600 123 456"
        "\r\nEND:VCARD\r\n"
    ).encode("cp1252")

    result = _import(db, data)

    assert result.encoding == "cp1252"
    maria, begona = _contacts(db)
    assert (maria.given_name, maria.family_name) == ("María", "Núñez")
    assert maria.billing_address.locality == "A Coruña"
    assert maria.billing_address.country_code == "ESP"
    assert (begona.given_name, begona.family_name) == ("Begoña", "Ibáñez")


def test_vcard_iso_8859_1_is_read_as_cp1252(app, db):
    data = (
        b"BEGIN:VCARD\r\nVERSION:2.1\r\n"
        b"N;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:M=FCller;J=FCrgen;;;\r\n"
        b"NOTE;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:"
        b"Preis =80 5 =96 =84Gr=FC=DFe=93\r\n"
        b"EMAIL:latin@example.com\r\nEND:VCARD\r\n"
    )

    result = _import(db, data)

    assert result.problems == []
    [jurgen] = _contacts(db)
    assert (jurgen.given_name, jurgen.family_name) == ("Jürgen", "Müller")
    assert jurgen.person_notes == "Preis € 5 – „Grüße“"


def test_vcard_value_not_in_its_declared_charset_is_read_in_the_files(app, db):
    data = (
        b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8:M\xfcller;J\xfcrgen;;;\r\n"
        b"EMAIL:jw@example.com\r\nEND:VCARD\r\n"
    )

    result = _import(db, data)

    [jurgen] = _contacts(db)
    assert (jurgen.given_name, jurgen.family_name) == ("Jürgen", "Müller")
    assert [(p.column, p.message) for p in result.problems] == [
        ("N", "N is not in the charset it declares (UTF-8); it was read as cp1252.")
    ]


@pytest.mark.parametrize("name", ["rot13", "base64", "hex", "zlib", "undefined"])
def test_a_codec_that_is_not_a_text_encoding_is_refused(app, db, name):
    data = b"first_name\nAnn\n"

    with pytest.raises(ReadError, match="is not an encoding this import knows"):
        run(data, options=ImportOptions(encoding=name))
    with pytest.raises(ReadError, match="is not an encoding this import knows"):
        run(
            b"BEGIN:VCARD\r\nN:A;B;;;\r\nEND:VCARD\r\n",
            options=ImportOptions(encoding=name),
        )


def test_the_cli_refuses_rot13_in_one_line(runner, db, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"first_name\nAnn\n")

    result = runner.invoke(
        args=["contacts", "import", str(path), "--encoding", "rot13"]
    )

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: rot13 is not an encoding this import knows."
    ]


def test_the_screen_refuses_rot13_with_a_message(web, login_as, db):
    login_as("user")
    answer = web.post(
        "/admin/imports/upload",
        {"file": (BytesIO(b"first_name,email\nAnn,a@example.com\n"), "p.csv")},
        content_type="multipart/form-data",
    )
    url = answer.headers["Location"]

    response = web.post(url, {"encoding": "rot13", "action": "apply"})

    assert response.status_code == 302
    page = web.get(url).get_data(as_text=True)
    assert "rot13 is not an encoding this import knows." in page
