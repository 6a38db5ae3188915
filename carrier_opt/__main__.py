"""``python -m carrier_opt`` is the same as the ``carrier-opt`` command."""

from carrier_opt.cli import main

main()
