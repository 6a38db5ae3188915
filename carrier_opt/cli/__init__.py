"""The ``carrier-opt`` command line, its one home.

``main`` holds the top-level group and the commands of its own (``db``, ``optimize``,
``bench``, ``demo``); each other module is one family of commands (``carrier``: providers,
sync, loads; ``push``, ``sessions``, ``retention``, ``jasper_check``, ``fake_jasper``),
registered on the group by ``main``. Commands parse options and print; the work is done by the
layers below (``pipeline``, ``db``, ``delivery``).
"""

from carrier_opt.cli.main import FriendlyGroup, cli, main

__all__ = ["FriendlyGroup", "cli", "main"]
