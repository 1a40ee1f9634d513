"""bounceledger: corrects first-hop "delivered" states with asynchronous bounces.

The packages at the top of the repository split the work: ``ingest`` turns
send logs and returned mail into records and reconciles them, ``models``
holds the ledger and the state rules, and this package is the face: settings,
database edge, the main job, the scheduler and the command line.
"""

__version__ = "0.1.0"
