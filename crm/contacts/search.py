"""Substring search over contacts, served by a trigram index on both engines.

SQLite keeps an FTS5 table with the trigram tokenizer over
``contacts.search_text`` (migration 0001 creates it with its triggers);
PostgreSQL keeps a pg_trgm GIN index on the same column. Terms shorter than
three characters cannot use a trigram index and fall back to a scan.
"""

from sqlalchemy import Integer, and_, column, select, table, text

from crm.contacts.models import Contact
from crm.core.text import digits, fold

FTS_TABLE = "contact_search"


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_PHONE_CHARS = set("0123456789+-().")


def _terms(query: str) -> list[str]:
    """Folded terms; phone-like fragments are reduced to their digits.

    A fragment that starts with a plus keeps it: "+34" is a country code and
    matches the start of an E.164 number, not a "34" anywhere.
    """
    terms = []
    for raw in fold(query).split(" "):
        if raw and set(raw) <= _PHONE_CHARS and digits(raw):
            raw = ("+" if raw.startswith("+") else "") + digits(raw)
        if raw:
            terms.append(raw)
    return terms


def has_terms(text_query: str | None) -> bool:
    """Whether the text holds anything to search for (not only spaces)."""
    return bool(_terms(text_query or ""))


def _match(terms: list[str]) -> str:
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)


def _like(term: str):
    return Contact.search_text.like(f"%{_like_escape(term)}%", escape="\\")


def narrow(query, text_query: str, dialect: str):
    """Narrow an ORM query of contacts to those containing every term.

    Returns the query and a column to order by for "newest first", or None.
    On SQLite the query joins the full-text table and that column is its
    rowid (the contact id): ordered by it, SQLite walks the index newest
    first and stops after one page, where an ``IN (matches)`` criterion
    would first collect every match (all of them, for a fragment such as
    "example").
    """
    terms = _terms(text_query)
    if not terms:
        return query, None

    order = None
    indexed = [t for t in terms if len(t) >= 3]
    if dialect == "sqlite" and indexed:
        fts = table(FTS_TABLE, column("rowid", Integer))
        query = query.join(fts, fts.c.rowid == Contact.id).filter(
            text(f"{FTS_TABLE} MATCH :fts_match").bindparams(fts_match=_match(indexed))
        )
        order = fts.c.rowid
        terms = [t for t in terms if len(t) < 3]
    for term in terms:
        query = query.filter(_like(term))
    return query, order


def match_ids(text_query: str, dialect: str):
    """The ids of the contacts matching every term, read from the index alone.

    None when the index cannot answer on its own (PostgreSQL, or a term
    shorter than three characters, which needs the contact's text). Every
    row of the full-text table belongs to a contact: triggers keep it in
    step with ``contacts``.
    """
    terms = _terms(text_query)
    if dialect != "sqlite" or not terms or any(len(t) < 3 for t in terms):
        return None
    fts = table(FTS_TABLE, column("rowid", Integer))
    return (
        select(fts.c.rowid)
        .select_from(fts)
        .where(
            text(f"{FTS_TABLE} MATCH :fts_match").bindparams(fts_match=_match(terms))
        )
    )


def criterion(query: str, dialect: str):
    """A WHERE criterion matching contacts that contain every term of ``query``."""
    terms = _terms(query)
    if not terms:
        return None

    clauses = []
    indexed = [t for t in terms if len(t) >= 3]
    if dialect == "sqlite" and indexed:
        match = _match(indexed)
        clauses.append(
            Contact.id.in_(
                text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :match")
                .bindparams(match=match)
                .columns(column("rowid", Integer))
            )
        )
        terms = [t for t in terms if len(t) < 3]
    clauses.extend(_like(term) for term in terms)
    return and_(*clauses)
