"""A post is its own outbox: ``fanned_out_at IS NULL`` means its fan-out is still owed
(``config.outbox``, shared with likes).

As a like's: the fan-out marks the post done once every follower's feed holds it, and the
sweeper (``feed.tasks.sweep_owed_fanouts``) re-queues posts owed for longer than a bound (a
message lost to a broker outage or a crashed worker), where before a post's fan-out relied
on its task's late ack and the broker's visibility timeout only. This module writes only
that one column; ``feed.fanout``'s post kind hands it to the pipeline.
"""

from __future__ import annotations

from config.outbox import Outbox

from .models import Post

posts_outbox = Outbox(Post)
