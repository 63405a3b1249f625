"""``python -m rnnkit`` runs the command-line tool."""

import sys

from rnnkit.cli.main import main

sys.exit(main())
