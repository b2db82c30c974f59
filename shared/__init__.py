"""The mcfarm domain: settings, schemas, templates, storage and the job store.

Imported by both ``api/`` and ``workers/``; imports neither of them.
"""
