"""``User.username_key``: the normalised identity of a username (social.usernames), unique.

Existing rows get their key; where two existing names share one (``alice`` and ``Alice``
made before this), the older account keeps it and the newer stays null (it still logs in
by its exact name, and no new look-alike of either can be made).
"""

from typing import Any

from django.db import migrations, models


def fill_keys(apps: Any, schema_editor: Any) -> None:
    from social.usernames import username_key

    User = apps.get_model("social", "User")
    taken: set[str] = set()
    for user in User.objects.order_by("pk").only("pk", "username").iterator():
        key = username_key(user.username)
        if key not in taken:
            taken.add(key)
            User.objects.filter(pk=user.pk).update(username_key=key)


class Migration(migrations.Migration):
    dependencies = [("social", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="username_key",
            field=models.CharField(editable=False, max_length=150, null=True, unique=True),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
    ]
