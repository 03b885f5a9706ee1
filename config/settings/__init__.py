"""Likefeed's settings package (cookiecutter-django's layout): ``base`` holds what every
environment shares; ``local``, ``production`` and ``test`` are the modules to name in
``DJANGO_SETTINGS_MODULE`` (``config.settings.local`` where it is unset)."""
