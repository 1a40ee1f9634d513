"""Pushing the change feed to the sending platform: signed webhooks (Standard Webhooks).

:mod:`.signing` is the pure part (secrets, signatures, headers),
:mod:`.store` keeps each endpoint's place and dead letters in the ledger,
:mod:`.sender` reads the feed, posts, retries and gives up.
"""
