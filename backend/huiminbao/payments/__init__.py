"""Payments: personal-account debits, the online payment gateway, the ledger, refunds."""
