"""A like is its own outbox: ``fanned_out_at IS NULL`` means a fan-out is still owed
(``config.outbox``, shared with posts).

The fan-out marks the like done once every follower's feed holds it; the sweeper re-queues
likes owed for longer than a bound (a task lost to a broker outage or a crashed worker).
This module writes only that one column; ``likes.fanout`` hands it to the pipeline.
"""

from __future__ import annotations

from config.outbox import Outbox

from .models import Like

likes_outbox = Outbox(Like)
