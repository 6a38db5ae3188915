"""Click commands kept beside ``carrier_opt/cli.py``, registered there with ``add_command``."""
