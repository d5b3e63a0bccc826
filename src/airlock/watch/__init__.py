"""Watch: alert rules over the ledger's entries, notifications, incidents and breaches."""
