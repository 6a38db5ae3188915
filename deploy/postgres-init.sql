-- carrier_opt's own database beside Dagster's (same server, same user).
CREATE DATABASE carrier_opt OWNER carrier_opt;
