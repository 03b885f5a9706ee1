"""Static files: WhiteNoise's compressed, hashed storage, also rewriting ES module imports.

The web UI is plain ES modules (``import ... from "./api.js"``); with the default storage the
hashed ``app.<hash>.js`` would still import the unhashed ``api.js``.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
