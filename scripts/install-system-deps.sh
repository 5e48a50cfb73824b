#!/usr/bin/env bash
# Installs the system packages ocrq needs, when they are missing:
#   always:  redis-server (the queue and job store of `ocrq dev`)
#   --test:  chromium (browser tests of the console), DejaVu fonts (labels drawn by the tests),
#            rabbitmq-server (tests/topology/test_rabbitmq.py starts a private one; never the system's),
#            poppler-utils (pdftotext reads the searchable PDFs the tests get back),
#            nginx-light (tests/topology/test_slowclients.py runs the shipped compose/nginx.conf in front of the gateway)
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ "${1:-}" = "--test" ]; then
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
  command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)
  command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ocrq: please install: ${need[*]} (no apt-get here)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "ocrq: need root to install: ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "ocrq: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
