#!/bin/sh
# Debian packages the tests need: slapd (a real LDAP server the identity tests start on loopback), ldap-utils
# (ldapadd), postgresql-client (pg_dump/pg_restore for the backup round trip) and the 审批单 PDF's libraries and fonts. Installed only when missing; noninteractive, so slapd's debconf questions are not asked and the
# package's own server is not configured for anything (the tests write their own slapd.conf).
set -eu
missing=""
[ -x /usr/sbin/slapd ] || missing="$missing slapd"
command -v ldapadd >/dev/null 2>&1 || missing="$missing ldap-utils"
command -v pg_dump >/dev/null 2>&1 || missing="$missing postgresql-client"
# WeasyPrint (the 审批单 PDF) needs Pango and a Chinese font; poppler-utils (pdftotext, pdftoppm) checks the PDF
for pkg in libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk poppler-utils; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing:$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
# the package starts its own slapd on the default port; the tests use their own instance on a free port
$SUDO systemctl disable --now slapd >/dev/null 2>&1 || $SUDO service slapd stop >/dev/null 2>&1 || true
