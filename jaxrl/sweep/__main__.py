"""``python -m jaxrl.sweep FILE``: the same as ``jaxrl sweep FILE``."""

import sys

from jaxrl.sweep.command import sweep_main

sys.exit(sweep_main())
