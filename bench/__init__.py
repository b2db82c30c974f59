"""Benchmarks of the whole farm (real redis-server, API, Celery workers, FFmpeg)."""
