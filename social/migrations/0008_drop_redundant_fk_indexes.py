"""Drop the single-column indexes on social_follow.follower_id and .followee_id, and on
social_post.author_id: (follower, followee), (followee, follower) and (author, created_at)
serve those lookups (tests/test_indexes.py)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('social', '0007_user_follow_counts'),
    ]

    # The state changes (db_index=False); the database only loses the indexes. Django's own
    # AlterField would also drop and re-add each foreign key, re-checking every row.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='follow',
                    name='followee',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='follower_set', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='follow',
                    name='follower',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='following_set', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='post',
                    name='author',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='posts', to=settings.AUTH_USER_MODEL),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "social_follow_followee_id_f37e3ad7"; DROP INDEX IF EXISTS "social_follow_follower_id_a92b1c63"; DROP INDEX IF EXISTS "social_post_author_id_db6459ee";',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "social_follow_followee_id_f37e3ad7" ON "social_follow" ("followee_id"); CREATE INDEX IF NOT EXISTS "social_follow_follower_id_a92b1c63" ON "social_follow" ("follower_id"); CREATE INDEX IF NOT EXISTS "social_post_author_id_db6459ee" ON "social_post" ("author_id");',
                ),
            ],
        ),
    ]
