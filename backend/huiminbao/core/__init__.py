"""Cross-domain building blocks: settings, database, clock, errors, ID numbers, masking."""
