"""One run's work, start to finish, above the parts (core, db, jasper, delivery) and below
Dagster and the command line: both call these functions, so a push started from the UI and
one started from ``carrier-opt push`` follow the same rules."""
