"""Loads of the files users keep by hand: carrier rate-plan prices and allowed pairs
(``rate_plans``), the agent's customer plans and pools (``customer_plans``), mobility
optimization groups (``optimization_groups``). All read CSV through ``csv_reader``: every row
is checked before anything is written, and a valid load is one transaction."""
