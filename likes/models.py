"""A like: the unique (user, post) row is the truth; Post.like_count is its running total."""

from __future__ import annotations

from django.db import models

from social.models import Post, User


class Like(models.Model):
    # No single-column indexes: (user, post) is the unique constraint's index and (post,
    # created_at, id) like_post_recent_idx, which serve every lookup by user or by post. Each
    # index more is one more write per like (and steered the planner to read every like of
    # a chunk's readers instead of probing (user, post): tests/likes/test_contexts_query.py).
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="likes", db_index=False)
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes", db_index=False)
    created_at = models.DateTimeField()
    # The like is also the fan-out's outbox: NULL until every follower's feed holds it.
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "likes_like"
        constraints = [
            models.UniqueConstraint(fields=["user", "post"], name="like_unique_user_post")
        ]
        indexes = [
            # "likes owed a fan-out", oldest first, stays small: only unfinished rows.
            models.Index(
                fields=["created_at"],
                name="like_fanout_owed_idx",
                condition=models.Q(fanned_out_at__isnull=True),
            ),
            # A post's likers newest first, by keyset (likes.selectors.post_likers_page);
            # also every read by post alone. It replaces (post, user): a (user, post)
            # lookup has the unique constraint, so a like still updates two indexes.
            models.Index(fields=["post", "-created_at", "-id"], name="like_post_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ♥ {self.post_id}"
