"""``python -m bounceledger`` is the same as the ``bounceledger`` command."""

from bounceledger.cli import console

if __name__ == "__main__":  # not when a worker process re-imports this module
    console()
