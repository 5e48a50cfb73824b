"""The HTTP contract's models, one module per noun: the gateway validates requests with them and
/openapi.json is generated from them (api/contract.py, api/openapi.py).

  common    the problem document, health, and the types query strings and form fields parse with
  jobs      POST/GET/DELETE /v1/jobs...: the submit options (JSON and multipart), queries, the job
  batches   /v1/batches...: the backfill request, the batch, its dry run and failures
  webhooks  /v1/webhooks... and a job's deliveries: endpoints, secrets, replay, the delivery log

Pydantic only (no Flask): the domain renders the job document and webhook events with these too.
Import the noun's module (``from shared.api_schemas.jobs import JobOut``), not this package.
"""
