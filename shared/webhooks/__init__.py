"""Webhooks as data: endpoints and their secrets, the outbox of events and deliveries, the
signature, the retry schedule and the SSRF decision. Sending over HTTP is the workers' part
(workers/webhooks/); the gateway writes here and never connects to a customer URL.
"""
