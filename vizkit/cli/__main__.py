"""``python -m vizkit.cli``."""
import sys

from vizkit.cli import main

sys.exit(main())
