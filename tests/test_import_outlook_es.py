"""A contact export from a Spanish Outlook is recognised and mapped."""

from datetime import date

from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports.engine import ImportOptions, open_file, run

DATA = (
    "Nombre,Apellidos,Dirección de correo electrónico,Teléfono móvil,"
    "Calle del trabajo,Ciudad de trabajo,Cumpleaños,Organización,"
    "Teléfono particular,Calle del domicilio,Código postal de residencia,Notas\n"
    "María,Núñez,maria@example.es,+34 600 123 456,Calle Mayor 1,Madrid,1/2/1990,"
    "Acme,+34 91 123 45 67,Calle Real 2,28013,Cliente\n"
).encode()


def test_spanish_outlook_headers_map(app, db):
    contact_file = open_file(DATA)

    assert contact_file.preset == "outlook"
    assert contact_file.unmapped == []

    result = run(DATA, options=ImportOptions(date_format="%d/%m/%Y"))
    db.session.commit()

    assert result.summary() == "created 1, updated 0, skipped 0, failed 0"
    [maria] = db.session.scalars(select(Contact))
    assert (maria.given_name, maria.family_name) == ("María", "Núñez")
    assert maria.primary_email == "maria@example.es"
    assert maria.company.name == "Acme"
    assert maria.birthday == date(1990, 2, 1)
    assert maria.person_notes == "Cliente"
    assert [(p.number, p.type) for p in maria.phones] == [
        ("+34 600 123 456", "Mobile"),
        ("+34 91 123 45 67", "Home"),
    ]
    addresses = {a.kind: (a.line1, a.locality, a.postal_code) for a in maria.addresses}
    assert addresses == {
        "billing": ("Calle Mayor 1", "Madrid", None),
        "shipping": ("Calle Real 2", None, "28013"),
    }
