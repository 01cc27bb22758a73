"""Load benchmarks: ``huiminbao bench enrollment`` (the enrollment rush against gunicorn on
PostgreSQL, with a health and a pgbench baseline) and ``huiminbao bench lookups`` (person lookup,
policy list and disclosure figures on a million persons and policies).

Nothing here is imported by the application; it drives the application from outside, the way a
load balancer's clients would, and prepares data through the same services and tables. It is
its own distribution (``bench/pyproject.toml``), installed by the dev extra and absent from the
product's wheel.
"""
