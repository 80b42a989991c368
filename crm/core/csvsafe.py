"""Spreadsheet-safe CSV cells.

A spreadsheet reads a cell that begins with ``=``, ``+``, ``-`` or ``@`` as a
formula (tab and carriage return are read the same way by some of them), so
a contact named ``=HYPERLINK(...)`` would run when the export is opened.
Every CSV this project writes passes its cells through ``neutralise``, which
puts an apostrophe in front of such a cell: spreadsheets then show the text as
it is, and the apostrophe itself is not displayed.
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """The cell text of ``value``, prefixed with ``'`` when it could start a formula."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def neutralise_row(values) -> list[str]:
    """``neutralise`` applied to every cell of a row."""
    return [neutralise(value) for value in values]
