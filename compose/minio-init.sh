#!/bin/sh
# One-shot MinIO setup for ocrq, run by the `minio-init` service (image minio/mc).
# Idempotent: safe to run on every `docker compose up`.
#
#   1. the bucket (private, no anonymous access),
#   2. a lifecycle rule that expires every object after the retention period
#      (OCRQ_RETENTION_S rounded UP to whole days: S3 lifecycle works in days),
#   3. a dedicated application user (OCRQ_S3_ACCESS_KEY / OCRQ_S3_SECRET_KEY) whose policy
#      allows only object operations on this bucket, so the services never hold the root key.
set -eu

: "${MINIO_ROOT_USER:?MINIO_ROOT_USER is required}"
: "${MINIO_ROOT_PASSWORD:?MINIO_ROOT_PASSWORD is required}"
: "${OCRQ_S3_ACCESS_KEY:?OCRQ_S3_ACCESS_KEY is required}"
: "${OCRQ_S3_SECRET_KEY:?OCRQ_S3_SECRET_KEY is required}"
MINIO_URL="${MINIO_URL:-http://minio:9000}"
BUCKET="${OCRQ_BUCKET:-ocrq}"
RETENTION_S="${OCRQ_RETENTION_S:-604800}"

case "$RETENTION_S" in
  ''|*[!0-9]*) echo "minio-init: OCRQ_RETENTION_S must be a whole number of seconds, got '$RETENTION_S'" >&2; exit 2 ;;
esac
DAYS=$(( (RETENTION_S + 86399) / 86400 ))
[ "$DAYS" -ge 1 ] || DAYS=1

if [ "$OCRQ_S3_ACCESS_KEY" = "$MINIO_ROOT_USER" ]; then
  echo "minio-init: OCRQ_S3_ACCESS_KEY must differ from MINIO_ROOT_USER (the app gets its own user)" >&2
  exit 2
fi

# `mc` keeps its config in $HOME/.mc; the container may run with a read-only or foreign HOME.
export MC_CONFIG_DIR="${MC_CONFIG_DIR:-/tmp/.mc}"
mkdir -p "$MC_CONFIG_DIR"

i=0
until mc alias set ocrq "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 30 ]; then
    echo "minio-init: MinIO at $MINIO_URL did not accept the root credentials after 60 s" >&2
    exit 1
  fi
  sleep 2
done

echo "minio-init: bucket ocrq/$BUCKET"
mc mb --ignore-existing "ocrq/$BUCKET"
mc anonymous set none "ocrq/$BUCKET"

echo "minio-init: lifecycle: expire objects after $DAYS day(s) (OCRQ_RETENTION_S=$RETENTION_S)"
# `ilm import` replaces the bucket's whole lifecycle configuration, so re-running converges.
mc ilm import "ocrq/$BUCKET" <<JSON
{
  "Rules": [
    {
      "ID": "ocrq-retention",
      "Status": "Enabled",
      "Filter": {"Prefix": ""},
      "Expiration": {"Days": $DAYS},
      "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
      "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}
    }
  ]
}
JSON
mc ilm rule ls "ocrq/$BUCKET"

echo "minio-init: application user and bucket-scoped policy"
POLICY_FILE="$MC_CONFIG_DIR/ocrq-rw.json"
cat >"$POLICY_FILE" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::$BUCKET"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                 "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::$BUCKET/*"]
    }
  ]
}
JSON
mc admin policy create ocrq ocrq-rw "$POLICY_FILE"
# `user add` on an existing user updates its secret, so a rotated OCRQ_S3_SECRET_KEY converges too.
mc admin user add ocrq "$OCRQ_S3_ACCESS_KEY" "$OCRQ_S3_SECRET_KEY"
# (plain shell matching: the mc image is minimal and need not ship grep)
case "$(mc admin user info ocrq "$OCRQ_S3_ACCESS_KEY")" in
  *ocrq-rw*) ;;
  *) mc admin policy attach ocrq ocrq-rw --user "$OCRQ_S3_ACCESS_KEY" ;;
esac
rm -f "$POLICY_FILE"

echo "minio-init: done"
