"""Drop the single-column indexes on likes_like.user_id and .post_id: (user, post) and
(post, created_at, id) serve those lookups; each index more is a write more per like."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('likes', '0002_like_post_recent_idx'),
        ('social', '0008_drop_redundant_fk_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # The state changes (db_index=False); the database only loses the indexes. Django's own
    # AlterField would also drop and re-add each foreign key, re-checking every row.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='like',
                    name='post',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='likes', to='social.post'),
                ),
                migrations.AlterField(
                    model_name='like',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='likes', to=settings.AUTH_USER_MODEL),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "likes_like_post_id_c1e885b3"; DROP INDEX IF EXISTS "likes_like_user_id_aae4c421";',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "likes_like_post_id_c1e885b3" ON "likes_like" ("post_id"); CREATE INDEX IF NOT EXISTS "likes_like_user_id_aae4c421" ON "likes_like" ("user_id");',
                ),
            ],
        ),
    ]
