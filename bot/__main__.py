"""``python -m bot`` is the ``newsdesk`` command."""

import sys

from .main import main

sys.exit(main())
