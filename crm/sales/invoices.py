"""The invoice of an order: the data both the page and the PDF show, and the PDF.

The PDF uses DejaVu Sans when the system has it (every script a name may be
written in); otherwise the PDF core font, with characters it cannot encode
replaced, so a PDF is always produced.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, render_template
from flask_babel import format_date, pgettext
from flask_babel import gettext as _
from fpdf import FPDF

from crm.contacts.services import address_lines
from crm.core.errors import ServiceError
from crm.sales import services
from crm.sales.models import LINE_KINDS, Order
from crm.sales.money import Money

log = logging.getLogger(__name__)

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    kind: str
    quantity: int
    unit_price: str
    amount: str


def invoice_data(order: Order) -> dict:
    """Everything an invoice shows, formatted for the current locale."""
    summary = services.summarise(order)
    kind_labels = dict(LINE_KINDS)
    lines = []
    for line in order.lines:
        net = line.net(order.currency)
        unit = Money(line.unit_price, order.currency)
        lines.append(
            InvoiceLine(
                description=str(line),
                kind=str(kind_labels.get(line.kind, line.kind)),
                quantity=line.quantity,
                unit_price=unit.format(),
                amount=net.format(),
            )
        )
    totals = [
        (_("Subtotal"), summary.subtotal),
        (_("Shipping"), summary.shipping),
        (_("Discount"), -summary.discount),
        (_("Tax"), summary.tax),
        (_("Total"), summary.total),
        (_("Paid"), summary.paid),
        (_("Credits"), summary.credits),
        (_("Refunded"), summary.refunded),
        (pgettext("money", "Due"), summary.due),
    ]
    return {
        "number": order.invoice_number,
        "title": order.title,
        "date": format_date(order.order_date, "medium"),
        "contact": order.contact.display_name,
        "email": order.contact.primary_email or "",
        "bill_to": address_lines(order.contact.billing_address),
        "seller": _seller(),
        "currency": order.currency,
        "lines": lines,
        "totals": [(label, money.format()) for label, money in totals],
        "notes": order.notes or "",
        "terms": order.terms or "",
    }


def _seller() -> dict:
    """The seller's name and address lines from the settings (empty when unset)."""
    name = (current_app.config.get("COMPANY_NAME") or "").strip()
    address = current_app.config.get("COMPANY_ADDRESS") or ""
    lines = [line.strip() for line in address.splitlines() if line.strip()]
    return {"name": name, "address": lines}


def _font(pdf: FPDF) -> str:
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            pdf.add_font("DejaVu", "", str(regular))
            pdf.add_font("DejaVu", "B", str(bold))
            return "DejaVu"
    return "helvetica"


def _text(font: str, value) -> str:
    text = str(value)
    if font == "helvetica":
        return text.encode("latin-1", "replace").decode("latin-1")
    return text


def invoice_pdf(order: Order) -> bytes:
    """The invoice as PDF bytes."""
    data = invoice_data(order)
    pdf = FPDF(format="A4")
    pdf.set_title(_text("helvetica", _("Invoice %(number)s", number=data["number"])))
    font = _font(pdf)
    pdf.add_page()

    def cell(width, text, *, bold=False, size=10, align="L", new_line=False):
        pdf.set_font(font, "B" if bold else "", size)
        pdf.cell(
            width,
            7,
            _text(font, text),
            align=align,
            new_x="LMARGIN" if new_line else "RIGHT",
            new_y="NEXT" if new_line else "TOP",
        )

    cell(
        0,
        _("Invoice %(number)s", number=data["number"]),
        bold=True,
        size=16,
        new_line=True,
    )
    seller = data["seller"]
    if seller["name"]:
        cell(0, seller["name"], bold=True, new_line=True)
    for line in seller["address"]:
        cell(0, line, new_line=True)
    if seller["name"] or seller["address"]:
        pdf.ln(2)
    cell(0, data["title"], new_line=True)
    cell(0, _("Date: %(date)s", date=data["date"]), new_line=True)
    pdf.ln(2)
    cell(0, _("Bill to: %(name)s", name=data["contact"]), new_line=True)
    for line in data["bill_to"]:
        cell(0, line, new_line=True)
    if data["email"]:
        cell(0, data["email"], new_line=True)
    pdf.ln(4)

    widths = (80, 25, 15, 35, 35)
    headers = (_("Item"), _("Kind"), _("Qty"), _("Unit price"), _("Amount"))
    for width, header in zip(widths, headers, strict=True):
        cell(width, header, bold=True)
    pdf.ln(7)
    for line in data["lines"]:
        cell(widths[0], line.description[:48])
        cell(widths[1], line.kind)
        cell(widths[2], line.quantity, align="R")
        cell(widths[3], line.unit_price, align="R")
        cell(widths[4], line.amount, align="R", new_line=True)
    pdf.ln(4)
    for label, amount in data["totals"]:
        cell(155, label, bold=label == pgettext("money", "Due"), align="R")
        cell(
            35, amount, bold=label == pgettext("money", "Due"), align="R", new_line=True
        )
    for heading, body in ((_("Notes"), data["notes"]), (_("Terms"), data["terms"])):
        if body:
            pdf.ln(4)
            cell(0, heading, bold=True, new_line=True)
            pdf.set_font(font, "", 10)
            pdf.multi_cell(0, 6, _text(font, body))
    return bytes(pdf.output())


def pdf_filename(order: Order) -> str:
    return f"invoice-{order.invoice_number}.pdf"


def email_invoice(order: Order, actor):
    """E-mail the invoice PDF to the contact through the one send function.

    One-to-one mail: the address's status is checked when it is sent
    (``MailRefused``); a draft order becomes "sent". Returns the Message;
    the caller commits (also after ``MailFailed``, which keeps the failed
    message on the record).
    """
    from crm.mail import services as mail

    address = (order.contact.primary_email or "").strip()
    if not address:
        raise ServiceError(
            _(
                "%(name)s has no e-mail address to send the invoice to.",
                name=order.contact.display_name,
            )
        )
    data = invoice_data(order)
    total = next(amount for label, amount in data["totals"] if label == _("Total"))
    due = next(
        amount for label, amount in data["totals"] if label == pgettext("money", "Due")
    )
    message = mail.send_message(
        contact_id=order.contact_id,
        address=address,
        subject=_(
            "Invoice %(number)s: %(title)s", number=data["number"], title=data["title"]
        ),
        html=render_template(
            "sales/invoice_email.html", invoice=data, total=total, due=due
        ),
        text=_(
            "Invoice %(number)s for %(title)s is attached. Total %(total)s, "
            "due %(due)s.",
            number=data["number"],
            title=data["title"],
            total=total,
            due=due,
        ),
        purpose="one_to_one",
        actor_id=getattr(actor, "id", None),
        attachments=[(pdf_filename(order), invoice_pdf(order), "application/pdf")],
    )
    if order.status == "draft":
        order.status = "sent"
    log.info(
        "invoice %s e-mailed to %s by %s",
        order.invoice_number,
        address,
        getattr(actor, "email", None),
    )
    return message
