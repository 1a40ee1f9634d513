"""``python -m bounceledger`` is the same as the ``bounceledger`` command."""

import sys

from bounceledger.cli import main

if __name__ == "__main__":  # not when a worker process re-imports this module
    sys.exit(main())
