"""Orders and policies: one-click enrollment, paying for it, cancelling, renewing."""
