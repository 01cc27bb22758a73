"""Claims: online claims, hospitals' one-stop settlement feed, payout calculation, the status
machine and the insurer's review."""
