"""Infrastructure: settings, Redis (client and keyspace), the Celery broker, blob storage, logging, fleet statistics."""
