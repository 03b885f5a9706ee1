"""``ApiToken``: a token per login, with an age limit (``TOKEN_TTL``), replacing DRF's one
token per user (``authtoken_token``). Existing tokens are carried over with their creation
time, so those younger than ``TOKEN_TTL`` keep working; the old table is left in place
(``rest_framework.authtoken`` is no longer installed, nothing reads it).
"""

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def carry_over(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO social_apitoken (key, user_id, created) "
            "SELECT key, user_id, created FROM authtoken_token ON CONFLICT DO NOTHING"
        )


class Migration(migrations.Migration):
    dependencies = [("social", "0002_user_username_key")]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                ("key", models.CharField(max_length=40, primary_key=True, serialize=False)),
                ("created", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(carry_over, migrations.RunPython.noop),
    ]
