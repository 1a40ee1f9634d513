"""``python -m bounceledger`` is the same as the ``bounceledger`` command."""

import sys

from bounceledger.cli import main

sys.exit(main())
