#!/usr/bin/env bash
# Production start: gunicorn (WEB_WORKERS web workers, gunicorn.conf.py) plus one `flask scheduler run` (run this
# on every node: the scheduler lease keeps exactly one active, the others stand by and take over), against
# DATABASE_URL with APP_CONFIG=config.ProductionConfig. Migrates first. SIGTERM/SIGINT stop both; when
# either process ends, the other is stopped too and the script exits non-zero (let systemd restart the whole).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export APP_CONFIG=${APP_CONFIG:-config.ProductionConfig} FLASK_APP=wsgi.py PYTHONUNBUFFERED=1

fail() { echo "run-prod: $*" >&2; exit 2; }
[[ -n "${DATABASE_URL:-}" ]] || fail "请设置 DATABASE_URL，例如 postgresql+psycopg://share:密码@127.0.0.1:5432/share"
[[ -n "${SECRET_KEY:-}" && ${#SECRET_KEY} -ge 32 ]] || \
  fail "请设置 SECRET_KEY（至少 32 个字符）：python3 -c 'import secrets; print(secrets.token_hex(32))'"
case "$DATABASE_URL" in
  postgresql*) ;;
  *) echo "run-prod: 警告：多个 web worker 建议使用 PostgreSQL（DATABASE_URL=postgresql+psycopg://...）" >&2 ;;
esac
if [[ "${WEB_WORKERS:-2}" -gt 1 && "${RATELIMIT_STORAGE_URI:-memory://}" == memory://* ]]; then
  echo "run-prod: 警告：RATELIMIT_STORAGE_URI 为 memory://，登录限流按 worker 分别计数；建议 redis://127.0.0.1:6379" >&2
fi

"$BIN/flask" db upgrade || fail "数据库迁移失败"

set -m  # children in their own process groups: a background job would otherwise ignore SIGINT
"$BIN/flask" scheduler run &
scheduler=$!
"$BIN/gunicorn" -c gunicorn.conf.py &
web=$!

stop() {
  kill -INT "$scheduler" 2>/dev/null   # the scheduler shuts down on SIGINT
  kill -TERM "$web" 2>/dev/null        # gunicorn: graceful stop (graceful_timeout)
}
# A stop we asked for: `flask scheduler run` ends on SIGINT with 0 (it releases the scheduler lease), gunicorn with 0.
trap 'stop; wait "$scheduler"; s=$?; wait "$web"; w=$?; echo "run-prod: 已停止（scheduler $s, gunicorn $w）" >&2
      exit $(( (s == 0 || s == 1 || s == 130) && w == 0 ? 0 : 1 ))' TERM INT
wait -n "$scheduler" "$web"
status=$?
echo "run-prod: 进程退出（状态 $status），停止其余进程" >&2
stop
wait
exit "$(( status == 0 ? 1 : status ))"
