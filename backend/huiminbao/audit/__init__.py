"""The append-only audit log and the consent records."""
