#!/bin/sh
# Debian packages the tests need: slapd (a real LDAP server the identity tests start on loopback), ldap-utils
# (ldapadd) and postgresql-client (pg_dump/pg_restore for the backup round trip). Installed only when missing; noninteractive, so slapd's debconf questions are not asked and the
# package's own server is not configured for anything (the tests write their own slapd.conf).
set -eu
missing=""
[ -x /usr/sbin/slapd ] || missing="$missing slapd"
command -v ldapadd >/dev/null 2>&1 || missing="$missing ldap-utils"
command -v pg_dump >/dev/null 2>&1 || missing="$missing postgresql-client"
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing:$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
# the package starts its own slapd on the default port; the tests use their own instance on a free port
$SUDO systemctl disable --now slapd >/dev/null 2>&1 || $SUDO service slapd stop >/dev/null 2>&1 || true
