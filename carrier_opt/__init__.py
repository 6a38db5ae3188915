"""carrier_opt: cheapest assignment of IoT/M2M SIM cards to carrier rate plans, on Dagster."""

__version__ = "0.1.0"
