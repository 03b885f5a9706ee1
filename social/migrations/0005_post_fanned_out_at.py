"""``Post.fanned_out_at``: a post is its own fan-out outbox, as a like is (issue 17.6).

Existing rows take the column's default (now): their fan-out was queued, and ran, long
ago; only posts the publishing service stores from here on start owed (NULL).
"""

import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("social", "0004_post_likes_version")]

    operations = [
        migrations.AddField(
            model_name="post",
            name="fanned_out_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(), editable=False, null=True
            ),
        ),
        migrations.AddIndex(
            model_name="post",
            index=models.Index(
                condition=models.Q(("fanned_out_at__isnull", True)),
                fields=["created_at"],
                name="post_fanout_owed_idx",
            ),
        ),
    ]
