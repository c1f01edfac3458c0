"""Reference model recipes and their build (``python -m models.build``); the catalog library is ``maas.models``."""
