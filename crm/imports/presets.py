"""Column mapping by header name, one preset per source, plus custom fields.

A mapping is a list with one field key per file column ("" ignores the
column). Field keys name what the column holds: ``given_name``, ``email2``,
``phone3_type``, ``shipping_locality``, ``custom:7``. Presets describe their
headers with a few abstract targets that are turned into keys in column
order: ``phone`` takes the next free phone slot, ``addr:home:street`` puts
the home address into the next free address kind unless the preset names
the kind (``addr:billing:street``).
"""

import logging
import re
import unicodedata
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from crm.contacts.models import ADDRESS_KINDS

log = logging.getLogger(__name__)

EMAIL_COLUMNS = 6
PHONE_COLUMNS = 12
FAX_COLUMNS = 3

ADDRESS_PARTS = (
    ("line1", _l("street")),
    ("line2", _l("street line 2")),
    ("line3", _l("street line 3")),
    ("po_box", _l("PO box")),
    ("locality", _l("city")),
    ("region", _l("state or region")),
    ("postal_code", _l("postal code")),
    ("zip_four", _l("ZIP+4")),
    ("country", _l("country")),
    ("full", _l("whole address")),
)
_ADDRESS_LABELS = {
    "billing": _l("Billing address"),
    "shipping": _l("Shipping address"),
    "other": _l("Other address"),
}

SCALAR_FIELDS = (
    ("prefix", _l("Title (Mr., Ms.)")),
    ("given_name", _l("First name")),
    ("middle_name", _l("Middle name")),
    ("family_name", _l("Last name")),
    ("suffix", _l("Suffix")),
    ("preferred_name", _l("Nickname")),
    ("full_name", _l("Full name (split into first and last)")),
    ("company", _l("Company")),
    ("job_title", _l("Job title")),
    ("website", _l("Website")),
    ("birthday", _l("Birthday")),
    ("anniversary", _l("Anniversary")),
    ("spouse_name", _l("Spouse name")),
    ("assistant_name", _l("Assistant name")),
    ("assistant_phone", _l("Assistant phone")),
    ("person_notes", _l("Person notes")),
    ("tags", _l("Tags")),
    ("lead_source", _l("Lead source")),
    ("contact_type", _l("Contact type")),
    ("time_zone", _l("Time zone")),
    ("referral_code", _l("Referral code")),
    ("billing_information", _l("Billing information")),
    ("owner", _l("Owner (user e-mail or name)")),
    ("email_opt_out", _l("E-mail opted out (yes or no)")),
)
SCALAR_KEYS = frozenset(key for key, _label in SCALAR_FIELDS)
# Fields that describe the contact on their own: a row needs one of them.
IDENTITY_KEYS = {"given_name", "family_name", "full_name", "company", "preferred_name"}

_RELATION_COLUMNS = 3


def _list_fields():
    fields = []
    for n in range(1, EMAIL_COLUMNS + 1):
        fields.append((f"email{n}", _l("E-mail %(n)s", n=n)))
    for n in range(1, PHONE_COLUMNS + 1):
        fields.append((f"phone{n}", _l("Phone %(n)s", n=n)))
        fields.append((f"phone{n}_type", _l("Phone %(n)s type", n=n)))
        fields.append((f"phone{n}_ext", _l("Phone %(n)s extension", n=n)))
    for n in range(1, FAX_COLUMNS + 1):
        fields.append((f"fax{n}", _l("Fax %(n)s", n=n)))
        fields.append((f"fax{n}_type", _l("Fax %(n)s type", n=n)))
    for n in range(1, _RELATION_COLUMNS + 1):
        fields.append((f"relation{n}", _l("Related person %(n)s", n=n)))
        fields.append((f"relation{n}_type", _l("Related person %(n)s type", n=n)))
    return fields


def _address_fields():
    return [
        (f"{kind}_{part}", f"{_ADDRESS_LABELS[kind]}: {label}")
        for kind in ADDRESS_KINDS
        for part, label in ADDRESS_PARTS
    ]


def field_choices() -> list[tuple[str, str]]:
    """Every built-in field key with its label, in the order the screen lists them."""
    return [
        ("", _l("(do not import)")),
        *SCALAR_FIELDS,
        *_list_fields(),
        *_address_fields(),
    ]


def known_key(key: str) -> bool:
    """Whether ``key`` is a built-in field key or a custom field key."""
    if key.startswith("custom:"):
        return key[7:].isdigit()
    return key in _KNOWN_KEYS


def normalize_header(text: str) -> str:
    """The comparison form of a header: NFC, casefolded, punctuation as spaces."""
    text = unicodedata.normalize("NFC", text or "").casefold().strip()
    text = re.sub(r"[^\w]+|_", " ", text)
    return " ".join(text.split())


# Headers of each source, as the source writes them. Values are abstract
# targets (see the module docstring).
_KEAP = {
    "First Name": "given_name",
    "Middle Name": "middle_name",
    "Last Name": "family_name",
    "Nickname": "preferred_name",
    "Title": "prefix",
    "Suffix": "suffix",
    "Company": "company",
    "Job Title": "job_title",
    "Email": "email:1",
    "Email 2": "email:2",
    "Email 3": "email:3",
    "Email Address 2": "email:2",
    "Email Address 3": "email:3",
    "Street Address 1": "addr:billing:line1",
    "Street Address 2": "addr:billing:line2",
    "City": "addr:billing:locality",
    "State": "addr:billing:region",
    "Postal Code": "addr:billing:postal_code",
    "Zip Four": "addr:billing:zip_four",
    "Zip Four 1": "addr:billing:zip_four",
    "Country": "addr:billing:country",
    "Address 2 Street 1": "addr:shipping:line1",
    "Address 2 Street 2": "addr:shipping:line2",
    "City 2": "addr:shipping:locality",
    "State 2": "addr:shipping:region",
    "Postal Code 2": "addr:shipping:postal_code",
    "Zip Four 2": "addr:shipping:zip_four",
    "Country 2": "addr:shipping:country",
    "Street Address 1 (Shipping)": "addr:shipping:line1",
    "Street Address 2 (Shipping)": "addr:shipping:line2",
    "City (Shipping)": "addr:shipping:locality",
    "State (Shipping)": "addr:shipping:region",
    "Postal Code (Shipping)": "addr:shipping:postal_code",
    "Zip Four (Shipping)": "addr:shipping:zip_four",
    "Country (Shipping)": "addr:shipping:country",
    "Address 3 Street 1": "addr:other:line1",
    "Address 3 Street 2": "addr:other:line2",
    "City 3": "addr:other:locality",
    "State 3": "addr:other:region",
    "Postal Code 3": "addr:other:postal_code",
    "Zip Four 3": "addr:other:zip_four",
    "Country 3": "addr:other:country",
    "Street Address 1 (Optional)": "addr:other:line1",
    "Street Address 2 (Optional)": "addr:other:line2",
    "City (Optional)": "addr:other:locality",
    "State (Optional)": "addr:other:region",
    "Postal Code (Optional)": "addr:other:postal_code",
    "Zip Four (Optional)": "addr:other:zip_four",
    "Country (Optional)": "addr:other:country",
    "Website": "website",
    "Birthday": "birthday",
    "Anniversary": "anniversary",
    "Spouse Name": "spouse_name",
    "Assistant Name": "assistant_name",
    "Assistant Phone": "assistant_phone",
    "Person Notes": "person_notes",
    "Notes": "person_notes",
    "Tags": "tags",
    "Lead Source": "lead_source",
    "Contact Type": "contact_type",
    "Time Zone": "time_zone",
    "Referral Code": "referral_code",
    "Billing Information": "billing_information",
    "Id": "",
    "Tag Ids": "",
    "Owner": "owner",
    "Date Created": "",
    "Last Updated": "",
    "Person Type": "contact_type",
}
_KEAP_PATTERNS = (
    (r"phone (\d+)", "phone:{0}"),
    (r"phone (\d+) type", "phone:{0}:type"),
    (r"phone (\d+) ext", "phone:{0}:ext"),
    (r"phone (\d+) extension", "phone:{0}:ext"),
    (r"fax (\d+)", "fax:{0}"),
    (r"fax (\d+) type", "fax:{0}:type"),
)

_GOOGLE = {
    "Name": "full_name",
    "Given Name": "given_name",
    "First Name": "given_name",
    "Additional Name": "middle_name",
    "Middle Name": "middle_name",
    "Family Name": "family_name",
    "Last Name": "family_name",
    "Name Prefix": "prefix",
    "Name Suffix": "suffix",
    "Nickname": "preferred_name",
    "Birthday": "birthday",
    "Notes": "person_notes",
    "Group Membership": "tags",
    "Labels": "tags",
    "Billing Information": "billing_information",
    "Organization 1 - Name": "company",
    "Organization Name": "company",
    "Organization 1 - Title": "job_title",
    "Organization Title": "job_title",
    "Website 1 - Value": "website",
    "Website 2 - Value": "website",
    "Website 3 - Value": "website",
    "File As": "",
    "Photo": "",
}
_GOOGLE_PATTERNS = (
    (r"e mail (\d+) value", "email:{0}"),
    (r"phone (\d+) value", "phone:{0}"),
    (r"phone (\d+) (?:type|label)", "phone:{0}:type"),
    (r"relation (\d+) value", "relation:{0}"),
    (r"relation (\d+) (?:type|label)", "relation:{0}:type"),
    (r"address (\d+) street", "addr:g{0}:line1"),
    (r"address (\d+) extended address", "addr:g{0}:line2"),
    (r"address (\d+) po box", "addr:g{0}:po_box"),
    (r"address (\d+) city", "addr:g{0}:locality"),
    (r"address (\d+) region", "addr:g{0}:region"),
    (r"address (\d+) postal code", "addr:g{0}:postal_code"),
    (r"address (\d+) country", "addr:g{0}:country"),
    (r"address (\d+) formatted", "addr:g{0}:full"),
)

_OUTLOOK = {
    "Title": "prefix",
    "First Name": "given_name",
    "Middle Name": "middle_name",
    "Last Name": "family_name",
    "Suffix": "suffix",
    "Nickname": "preferred_name",
    "Company": "company",
    "Job Title": "job_title",
    "Business Street": "addr:work:line1",
    "Business Street 2": "addr:work:line2",
    "Business Street 3": "addr:work:line3",
    "Business City": "addr:work:locality",
    "Business State": "addr:work:region",
    "Business Postal Code": "addr:work:postal_code",
    "Business Country/Region": "addr:work:country",
    "Business Country": "addr:work:country",
    "Business Address PO Box": "addr:work:po_box",
    "Home Street": "addr:home:line1",
    "Home Street 2": "addr:home:line2",
    "Home Street 3": "addr:home:line3",
    "Home City": "addr:home:locality",
    "Home State": "addr:home:region",
    "Home Postal Code": "addr:home:postal_code",
    "Home Country/Region": "addr:home:country",
    "Home Country": "addr:home:country",
    "Home Address PO Box": "addr:home:po_box",
    "Other Street": "addr:other:line1",
    "Other Street 2": "addr:other:line2",
    "Other Street 3": "addr:other:line3",
    "Other City": "addr:other:locality",
    "Other State": "addr:other:region",
    "Other Postal Code": "addr:other:postal_code",
    "Other Country/Region": "addr:other:country",
    "Other Country": "addr:other:country",
    "Other Address PO Box": "addr:other:po_box",
    "Primary Phone": "phone",
    "Business Phone": "phone",
    "Business Phone 2": "phone",
    "Mobile Phone": "phone",
    "Home Phone": "phone",
    "Home Phone 2": "phone",
    "Company Main Phone": "phone",
    "Other Phone": "phone",
    "Car Phone": "phone",
    "Pager": "phone",
    "Callback": "phone",
    "Radio Phone": "phone",
    "ISDN": "phone",
    "TTY/TDD Phone": "phone",
    "Business Fax": "fax",
    "Home Fax": "fax",
    "Other Fax": "fax",
    "Assistant's Phone": "assistant_phone",
    "Assistant's Name": "assistant_name",
    "E-mail Address": "email:1",
    "E-mail 2 Address": "email:2",
    "E-mail 3 Address": "email:3",
    "Birthday": "birthday",
    "Anniversary": "anniversary",
    "Spouse": "spouse_name",
    "Notes": "person_notes",
    "Categories": "tags",
    "Web Page": "website",
    "Billing Information": "billing_information",
    "E-mail Type": "",
    "E-mail Display Name": "",
    "E-mail 2 Type": "",
    "E-mail 2 Display Name": "",
    "E-mail 3 Type": "",
    "E-mail 3 Display Name": "",
    "Department": "",
    "Gender": "",
}

# The same export from a Spanish Outlook.
_OUTLOOK_ES = {
    "Tratamiento": "prefix",
    "Nombre": "given_name",
    "Segundo nombre": "middle_name",
    "Apellidos": "family_name",
    "Sufijo": "suffix",
    "Organización": "company",
    "Puesto": "job_title",
    "Calle del trabajo": "addr:work:line1",
    "Calle del trabajo 2": "addr:work:line2",
    "Calle del trabajo 3": "addr:work:line3",
    "Ciudad de trabajo": "addr:work:locality",
    "Provincia o estado de trabajo": "addr:work:region",
    "Código postal del trabajo": "addr:work:postal_code",
    "País o región del trabajo": "addr:work:country",
    "Calle del domicilio": "addr:home:line1",
    "Calle del domicilio 2": "addr:home:line2",
    "Calle del domicilio 3": "addr:home:line3",
    "Ciudad de residencia": "addr:home:locality",
    "Provincia o estado de residencia": "addr:home:region",
    "Código postal de residencia": "addr:home:postal_code",
    "País o región de residencia": "addr:home:country",
    "Otra calle": "addr:other:line1",
    "Otra calle 2": "addr:other:line2",
    "Otra calle 3": "addr:other:line3",
    "Otra ciudad": "addr:other:locality",
    "Otra provincia o estado": "addr:other:region",
    "Otro código postal": "addr:other:postal_code",
    "Otro país o región": "addr:other:country",
    "Teléfono principal": "phone",
    "Teléfono del trabajo": "phone",
    "Teléfono del trabajo 2": "phone",
    "Teléfono móvil": "phone",
    "Teléfono particular": "phone",
    "Teléfono particular 2": "phone",
    "Otro teléfono": "phone",
    "Fax del trabajo": "fax",
    "Fax particular": "fax",
    "Otro fax": "fax",
    "Teléfono del asistente": "assistant_phone",
    "Nombre del asistente": "assistant_name",
    "Dirección de correo electrónico": "email:1",
    "Dirección de correo electrónico 2": "email:2",
    "Dirección de correo electrónico 3": "email:3",
    "Cumpleaños": "birthday",
    "Aniversario": "anniversary",
    "Cónyuge": "spouse_name",
    "Notas": "person_notes",
    "Categorías": "tags",
    "Página web": "website",
    "Información de facturación": "billing_information",
    "Tipo de correo electrónico": "",
    "Nombre para mostrar del correo electrónico": "",
    "Departamento": "",
    "Sexo": "",
}
_OUTLOOK_SIGNATURE = (
    "E-mail Address",
    "E-mail 2 Address",
    "Business Street",
    "Mobile Phone",
    "Dirección de correo electrónico",
    "Dirección de correo electrónico 2",
    "Calle del trabajo",
    "Teléfono móvil",
)

_SALESFORCE = {
    "FirstName": "given_name",
    "LastName": "family_name",
    "MiddleName": "middle_name",
    "Suffix": "suffix",
    "Salutation": "prefix",
    "Name": "full_name",
    "Title": "job_title",
    "Email": "email:1",
    "Phone": "phone",
    "MobilePhone": "phone",
    "HomePhone": "phone",
    "OtherPhone": "phone",
    "Fax": "fax",
    "HasOptedOutOfEmail": "email_opt_out",
    "AssistantPhone": "assistant_phone",
    "AssistantName": "assistant_name",
    "LeadSource": "lead_source",
    "Birthdate": "birthday",
    "Description": "person_notes",
    "MailingStreet": "addr:mailing:line1",
    "MailingCity": "addr:mailing:locality",
    "MailingState": "addr:mailing:region",
    "MailingPostalCode": "addr:mailing:postal_code",
    "MailingCountry": "addr:mailing:country",
    "MailingAddress": "addr:mailing:full",
    "OtherStreet": "addr:other:line1",
    "OtherCity": "addr:other:locality",
    "OtherState": "addr:other:region",
    "OtherPostalCode": "addr:other:postal_code",
    "OtherCountry": "addr:other:country",
    "OtherAddress": "addr:other:full",
    "Account.Name": "company",
    "AccountName": "company",
    "Id": "",
    "IsDeleted": "",
    "MasterRecordId": "",
    "AccountId": "",
    "OwnerId": "",
    "CreatedDate": "",
    "CreatedById": "",
    "LastModifiedDate": "",
    "LastModifiedById": "",
    "SystemModstamp": "",
    "PhotoUrl": "",
    "Department": "",
}
# Salesforce's Phone and Fax are the business line; the other headers say
# their kind (MobilePhone, HomePhone) and are read from the header itself.
_SALESFORCE_PHONE_TYPES = {"Phone": "Work", "Fax": "Work"}

# Common spellings from spreadsheets and other tools; every preset falls back
# to these for the headers it does not know itself.
_GENERIC = {
    "First Name": "given_name",
    "Firstname": "given_name",
    "First": "given_name",
    "Given Name": "given_name",
    "Given": "given_name",
    "Forename": "given_name",
    "Vorname": "given_name",
    "Prénom": "given_name",
    "Nombre": "given_name",
    "Middle Name": "middle_name",
    "Middle": "middle_name",
    "Additional Name": "middle_name",
    "Last Name": "family_name",
    "Lastname": "family_name",
    "Last": "family_name",
    "Surname": "family_name",
    "Family Name": "family_name",
    "Nachname": "family_name",
    "Nom": "family_name",
    "Apellido": "family_name",
    "Apellidos": "family_name",
    "Name": "full_name",
    "Full Name": "full_name",
    "Display Name": "full_name",
    "Contact Name": "full_name",
    "Title": "prefix",
    "Prefix": "prefix",
    "Salutation": "prefix",
    "Name Prefix": "prefix",
    "Suffix": "suffix",
    "Name Suffix": "suffix",
    "Nickname": "preferred_name",
    "Preferred Name": "preferred_name",
    "Company": "company",
    "Company Name": "company",
    "Organization": "company",
    "Organisation": "company",
    "Organization Name": "company",
    "Account Name": "company",
    "Employer": "company",
    "Firma": "company",
    "Empresa": "company",
    "Job Title": "job_title",
    "Position": "job_title",
    "Role": "job_title",
    "Occupation": "job_title",
    "Email": "email",
    "E-mail": "email",
    "Email Address": "email",
    "E-mail Address": "email",
    "Mail": "email",
    "Email 1": "email:1",
    "Email 2": "email:2",
    "Email 3": "email:3",
    "Email Home": "email",
    "Email Work": "email",
    "Email Other": "email",
    "Home Email": "email",
    "Work Email": "email",
    "Other Email": "email",
    "Secondary Email": "email",
    "Phone": "phone",
    "Phone Number": "phone",
    "Telephone": "phone",
    "Tel": "phone",
    "Mobile": "phone",
    "Mobile Phone": "phone",
    "Cell": "phone",
    "Cell Phone": "phone",
    "Home Mobile": "phone",
    "Work Phone": "phone",
    "Business Phone": "phone",
    "Business Phone 2": "phone",
    "Home Phone": "phone",
    "Home Phone 2": "phone",
    "Other Phone": "phone",
    "Primary Phone": "phone",
    "Car Phone": "phone",
    "Pager": "phone",
    "Phone Video": "phone",
    "Phone 1": "phone:1",
    "Phone 2": "phone:2",
    "Phone 3": "phone:3",
    "Fax": "fax",
    "Home Fax": "fax",
    "Business Fax": "fax",
    "Work Fax": "fax",
    "Assistant's Phone": "assistant_phone",
    "Assistant Phone": "assistant_phone",
    "Assistant's Name": "assistant_name",
    "Assistant Name": "assistant_name",
    "Assistant": "assistant_name",
    "Street": "addr:main:line1",
    "Street Address": "addr:main:line1",
    "Address": "addr:main:line1",
    "Address Line 1": "addr:main:line1",
    "Address 1": "addr:main:line1",
    "Address Line 2": "addr:main:line2",
    "Address 2": "addr:main:line2",
    "Street 2": "addr:main:line2",
    "City": "addr:main:locality",
    "Town": "addr:main:locality",
    "Locality": "addr:main:locality",
    "Ort": "addr:main:locality",
    "Ciudad": "addr:main:locality",
    "Ville": "addr:main:locality",
    "State": "addr:main:region",
    "Region": "addr:main:region",
    "Province": "addr:main:region",
    "County": "addr:main:region",
    "State/Province": "addr:main:region",
    "Zip": "addr:main:postal_code",
    "Zip Code": "addr:main:postal_code",
    "Postal Code": "addr:main:postal_code",
    "Postcode": "addr:main:postal_code",
    "PLZ": "addr:main:postal_code",
    "Country": "addr:main:country",
    "Country Code": "addr:main:country",
    "Home Street": "addr:home:line1",
    "Home City": "addr:home:locality",
    "Home State": "addr:home:region",
    "Home Zip": "addr:home:postal_code",
    "Home Postal Code": "addr:home:postal_code",
    "Home Country": "addr:home:country",
    "Business Street": "addr:work:line1",
    "Work Street": "addr:work:line1",
    "Business City": "addr:work:locality",
    "Work City": "addr:work:locality",
    "Business State": "addr:work:region",
    "Work State": "addr:work:region",
    "Business Zip": "addr:work:postal_code",
    "Work Zip": "addr:work:postal_code",
    "Business Postal Code": "addr:work:postal_code",
    "Work Postal Code": "addr:work:postal_code",
    "Business Country": "addr:work:country",
    "Work Country": "addr:work:country",
    "Other Street": "addr:other:line1",
    "Other City": "addr:other:locality",
    "Other State": "addr:other:region",
    "Other Zip": "addr:other:postal_code",
    "Other Postal Code": "addr:other:postal_code",
    "Other Country": "addr:other:country",
    "Other Country/Region": "addr:other:country",
    "Website": "website",
    "Web Site": "website",
    "Web": "website",
    "URL": "website",
    "Homepage": "website",
    "Web Page": "website",
    "Website Home Page": "website",
    "Website Work": "website",
    "Birthday": "birthday",
    "Birthdate": "birthday",
    "Birth Date": "birthday",
    "Date of Birth": "birthday",
    "DOB": "birthday",
    "Anniversary": "anniversary",
    "Spouse": "spouse_name",
    "Spouse Name": "spouse_name",
    "Notes": "person_notes",
    "Note": "person_notes",
    "Person Notes": "person_notes",
    "Comments": "person_notes",
    "Tags": "tags",
    "Tag": "tags",
    "Categories": "tags",
    "Groups": "tags",
    "Labels": "tags",
    "Lead Source": "lead_source",
    "Source": "lead_source",
    "Contact Type": "contact_type",
    "Time Zone": "time_zone",
    "Timezone": "time_zone",
    "Referral Code": "referral_code",
    "Owner": "owner",
    "Owner E-mail": "owner",
    "Owner Email": "owner",
    "Owner E-mail Address": "owner",
    "Owner Email Address": "owner",
    "Owner Name": "owner",
    "Contact Owner": "owner",
}
# A header about the owner ("Account Owner Email") holds a user, never the
# contact's own e-mail, whatever its values look like.
_OWNER_HEADER = re.compile(r"\bowner")


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    headers: dict
    patterns: tuple = ()
    # Headers whose presence says the file comes from this source.
    signature: tuple = ()
    # Address groups of the source and the kind each one fills; other groups
    # take the free kinds in column order.
    address_kinds: tuple = ()
    # Phone types of headers that do not say the kind of line themselves.
    phone_types: dict | None = None


PRESETS = {
    "keap": Preset(
        "keap",
        _l("Keap / Infusionsoft"),
        _KEAP,
        _KEAP_PATTERNS,
        ("Person Notes", "Street Address 1", "Phone 1 Type", "Email 2"),
    ),
    "google": Preset(
        "google",
        _l("Google Contacts"),
        _GOOGLE,
        _GOOGLE_PATTERNS,
        ("Group Membership", "E-mail 1 - Value", "Given Name", "Phone 1 - Value"),
    ),
    "outlook": Preset(
        "outlook",
        _l("Outlook"),
        {**_OUTLOOK, **_OUTLOOK_ES},
        (),
        _OUTLOOK_SIGNATURE,
        (("work", "billing"), ("home", "shipping")),
    ),
    "salesforce": Preset(
        "salesforce",
        _l("Salesforce"),
        _SALESFORCE,
        (),
        ("MailingStreet", "FirstName", "LastName", "MasterRecordId", "IsDeleted"),
        (("mailing", "billing"),),
        _SALESFORCE_PHONE_TYPES,
    ),
    "generic": Preset("generic", _l("Other (match common column names)"), {}, ()),
}


def _normalized(table: dict) -> dict:
    return {normalize_header(k): v for k, v in table.items()}


_TABLES = {key: _normalized(p.headers) for key, p in PRESETS.items()}
_GENERIC_TABLE = _normalized(_GENERIC)
_PATTERNS = {
    key: tuple((re.compile(rx), target) for rx, target in p.patterns)
    for key, p in PRESETS.items()
}
_SIGNATURES = {
    key: {normalize_header(h) for h in p.signature} for key, p in PRESETS.items()
}
_KNOWN_KEYS = {key for key, _label in field_choices() if key}


def phone_types(preset: str | None) -> dict[str, str]:
    """The phone type of each header of ``preset`` that names none."""
    found = PRESETS.get(preset or "")
    if found is None or not found.phone_types:
        return {}
    return {normalize_header(k): v for k, v in found.phone_types.items()}


def _preset_target(preset: str, header: str) -> str | None:
    table = _TABLES[preset]
    if header in table:
        return table[header]
    for pattern, target in _PATTERNS[preset]:
        match = pattern.fullmatch(header)
        if match:
            return target.format(*match.groups())
    return None


def _target(preset: str, header: str) -> str | None:
    found = _preset_target(preset, header)
    if found is None:
        found = _GENERIC_TABLE.get(header)
    return found


def detect_preset(headers: list[str]) -> str:
    """The preset whose headers match the file best; generic when none stands out."""
    names = [normalize_header(h) for h in headers]
    best, best_score = "generic", 0.0
    for key in PRESETS:
        if key == "generic":
            continue
        known = sum(1 for n in names if n and _preset_target(key, n) is not None)
        signs = len(_SIGNATURES[key].intersection(names))
        score = known + 3 * signs
        if signs and score > best_score:
            best, best_score = key, score
    return best


class _Slots:
    """Turns abstract targets into concrete field keys, column by column."""

    def __init__(self, preset: str):
        self.used: set[str] = set()
        self.fixed = {kind: kind for kind in ADDRESS_KINDS}
        self.fixed.update(PRESETS[preset].address_kinds)
        self.groups: dict[str, str] = {}
        self.counters = {"email": 0, "phone": 0, "fax": 0, "relation": 0}

    def resolve(self, target: str) -> str:
        if not target:
            return ""
        if target.startswith("addr:"):
            return self._address(*target.split(":")[1:])
        head, *rest = target.split(":")
        if head in self.counters:
            return self._numbered(head, rest)
        return self._claim(target)

    def _claim(self, key: str) -> str:
        # Several columns may feed one plain field (the first filled one wins,
        # notes and tags are joined); numbered slots are claimed once.
        if key in SCALAR_KEYS or key not in self.used:
            self.used.add(key)
            return key
        return ""

    def _numbered(self, kind, rest):
        limit = _COLUMN_LIMITS[kind]
        if rest and rest[0].isdigit():
            number = int(rest[0])
            suffix = f"_{rest[1]}" if len(rest) > 1 else ""
            self.counters[kind] = max(self.counters[kind], number)
            if number > limit:
                return ""
            return self._claim(f"{kind}{number}{suffix}")
        while self.counters[kind] < limit:
            self.counters[kind] += 1
            key = f"{kind}{self.counters[kind]}"
            if key not in self.used:
                return self._claim(key)
        return ""

    def _address(self, group, part):
        kind = self.groups.get(group) or self.fixed.get(group)
        if kind is None:
            taken = set(self.groups.values())
            free = [k for k in ADDRESS_KINDS if k not in taken]
            if not free:
                return ""
            kind = free[0]
        self.groups[group] = kind
        return self._claim(f"{kind}_{part}")


_COLUMN_LIMITS = {
    "email": EMAIL_COLUMNS,
    "phone": PHONE_COLUMNS,
    "fax": FAX_COLUMNS,
    "relation": _RELATION_COLUMNS,
}


def _looks_like_email_column(values: list[str]) -> bool:
    filled = [v.strip() for v in values if v and v.strip()]
    if not filled:
        return False
    hits = sum(1 for v in filled if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v))
    return hits >= max(1, int(0.8 * len(filled)))


def auto_mapping(
    headers: list[str], preset: str, sample_rows: list[list[str]] | None = None
) -> list[str]:
    """One field key per column: the preset's names, then custom fields.

    Columns no name matches but whose sample values are e-mail addresses map
    to the next e-mail slot, unless their header speaks of an owner.
    """
    slots = _Slots(preset)
    mapping = []
    for header in headers:
        target = _target(preset, normalize_header(header))
        mapping.append(slots.resolve(target) if target else None)

    for index, header in enumerate(headers):
        if mapping[index] is not None:
            continue
        field = custom_field_for(header)
        if field is not None:
            mapping[index] = f"custom:{field.id}"
            continue
        if _OWNER_HEADER.search(normalize_header(header)):
            continue
        column = [row[index] for row in sample_rows or [] if index < len(row)]
        if _looks_like_email_column(column):
            mapping[index] = slots.resolve("email")
    return [key or "" for key in mapping]


def custom_field_for(header: str):
    """The custom field a column header names, or None."""
    from crm.customfields.services import field_by_name

    name = (header or "").strip()
    if not name:
        return None
    field = field_by_name(name)
    if field is None and name.lower().endswith("__c"):
        # Salesforce names custom fields Label__c.
        field = field_by_name(name[:-3].replace("_", " "))
    return field


def has_identity(mapping: list[str]) -> bool:
    """Whether the mapping fills a name, company, e-mail or phone."""
    for key in mapping:
        if key in IDENTITY_KEYS or re.fullmatch(r"(email|phone)\d+", key or ""):
            return True
    return False


def custom_choices() -> list[tuple[str, str]]:
    """The custom fields a column can be mapped to, as (key, label)."""
    from sqlalchemy import select

    from crm.customfields.models import CustomField
    from crm.extensions import db

    fields = db.session.scalars(select(CustomField).order_by(CustomField.label))
    return [(f"custom:{f.id}", f"{_l('Custom field')}: {f.label}") for f in fields]
