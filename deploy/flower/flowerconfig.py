"""Flower settings for production (``celery flower --conf=deploy/flower/flowerconfig.py``).

``mcfarm flower`` hands MCFARM_FLOWER_BASIC_AUTH to Flower as FLOWER_BASIC_AUTH (not on the
command line, where ``ps`` would show it); these add the rest.
"""

# Keep the dashboard from holding every task ever seen in memory.
max_tasks = 10000
# Persist Flower's own state across restarts.
persistent = True
db = "/var/lib/mcfarm/flower.db"
# Purge offline workers from the list after an hour.
purge_offline_workers = 3600
