"""Products, orders, payments, refunds and invoices."""
