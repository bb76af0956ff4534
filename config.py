"""Configuration classes; DATABASE_URL selects the database (default: SQLite in instance/)."""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


class Config:
    # No default key: without SECRET_KEY the embedded default makes a random one once and keeps it in
    # instance/secret_key (SECRET_KEY_FILE); ProductionConfig refuses to start without a strong explicit key.
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SECRET_KEY_FILE = os.environ.get("SECRET_KEY_FILE")  # default: <instance>/secret_key
    REQUIRE_EXPLICIT_SECRET_KEY = False
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'app.db'}")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    BPMN_DIR = BASE_DIR / "bpmn"
    FORMS_DIR = BASE_DIR / "forms"
    WTF_CSRF_TIME_LIMIT = None
    # One request (a form with all its files, or one API upload); above it 413 in Chinese, nothing saved. A file field's
    # own "max_mb" (default 20) limits each file. Attachment content is kept outside the database, by SHA-256, in
    # ATTACHMENT_DIR (default <instance>/attachments): back it up beside the database (README "Backup and restore").
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_MB", "25")) * 1024 * 1024
    ATTACHMENT_DIR = os.environ.get("ATTACHMENT_DIR") or None
    JSON_AS_ASCII = False
    TESTING = False
    OFFICE_CLOSE = os.environ.get("OFFICE_CLOSE", "17:30")  # deadlines end at office close, Beijing time
    SCHEDULER_SYNC_SECONDS = int(os.environ.get("SCHEDULER_SYNC_SECONDS", "30"))
    # Scheduler failover (README "Operations"): the active scheduler renews its lease every SCHEDULER_HEARTBEAT_SECONDS;
    # one not renewed for SCHEDULER_LEASE_SECONDS is taken over by a standby (within lease + heartbeat seconds).
    SCHEDULER_LEASE_SECONDS = float(os.environ.get("SCHEDULER_LEASE_SECONDS", "15"))
    SCHEDULER_HEARTBEAT_SECONDS = float(os.environ.get("SCHEDULER_HEARTBEAT_SECONDS", "5"))
    URGE_INTERVAL_HOURS = int(os.environ.get("URGE_INTERVAL_HOURS", "4"))
    INSPECTION_MONTHS = tuple(int(m) for m in os.environ.get("INSPECTION_MONTHS", "1,4,7,10").split(","))
    INSPECTION_DAYS = int(os.environ.get("INSPECTION_DAYS", "10"))  # working days to record an inspection
    MAIL_SERVER = os.environ.get("MAIL_SERVER")  # e-mail notifications only when set
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "data-sharing@lut.edu.cn")
    # Links in messages sent outside the site (企业微信, 钉钉) point here: the address users open, no trailing slash.
    SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:5000")
    # 企业微信 application messages (README "Operations"): on when corp id, agent id and secret are all set.
    WECOM_CORP_ID = os.environ.get("WECOM_CORP_ID", "")
    WECOM_AGENT_ID = os.environ.get("WECOM_AGENT_ID", "")
    WECOM_SECRET = os.environ.get("WECOM_SECRET", "")
    WECOM_API_BASE = os.environ.get("WECOM_API_BASE", "https://qyapi.weixin.qq.com")
    WECOM_USERID_FROM_USERNAME = os.environ.get("WECOM_USERID_FROM_USERNAME", "0") == "1"  # else wecom_userid only
    # 钉钉 group robot: on when the webhook is set; DINGTALK_SECRET enables 加签 (HMAC-SHA256) signing.
    DINGTALK_WEBHOOK = os.environ.get("DINGTALK_WEBHOOK", "")
    DINGTALK_SECRET = os.environ.get("DINGTALK_SECRET", "")
    CHANNEL_TIMEOUT_SECONDS = float(os.environ.get("CHANNEL_TIMEOUT_SECONDS", "5"))
    CHANNEL_MAX_ATTEMPTS = int(os.environ.get("CHANNEL_MAX_ATTEMPTS", "6"))  # then the delivery is marked failed
    CHANNEL_RETRY_SECONDS = int(os.environ.get("CHANNEL_RETRY_SECONDS", "60"))  # doubled after each failure ...
    CHANNEL_RETRY_MAX_SECONDS = int(os.environ.get("CHANNEL_RETRY_MAX_SECONDS", "3600"))  # ... up to this
    CHANNEL_BACKGROUND = os.environ.get("CHANNEL_BACKGROUND", "1") == "1"  # web requests hand sending to a thread
    # Accounts and sessions. Login throttling per client address; with several workers the counters must be shared:
    # RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379 (memory:// counts per process).
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "share")  # several sites on one Redis
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;100 per hour")  # POST /login per client
    # Behind N reverse proxies set TRUSTED_PROXY_COUNT=N, else every client looks like the proxy and shares one limit;
    # never set it without a proxy (X-Forwarded-For would then choose the address).
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))  # then the account is locked ...
    LOGIN_LOCKOUT_MINUTES = int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15"))  # ... for this long
    API_TOKEN_DAYS = int(os.environ.get("API_TOKEN_DAYS", "90"))
    PERMANENT_SESSION_LIFETIME = timedelta(minutes=int(os.environ.get("SESSION_IDLE_MINUTES", "30")))  # idle timeout
    SESSION_REFRESH_EACH_REQUEST = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Identity (see README "Operations"). CAS single sign-on when CAS_SERVER_URL is set (…/authserver/).
    CAS_SERVER_URL = os.environ.get("CAS_SERVER_URL", "")
    CAS_SERVICE_URL = os.environ.get("CAS_SERVICE_URL", "")  # our callback as registered at CAS; default: derived
    CAS_VERSION = os.environ.get("CAS_VERSION", "3")  # 2: /serviceValidate, 3: /p3/serviceValidate
    CAS_ATTRIBUTE_USERNAME = os.environ.get("CAS_ATTRIBUTE_USERNAME", "")  # empty: the CAS <cas:user>
    CAS_ATTRIBUTE_DISPLAY_NAME = os.environ.get("CAS_ATTRIBUTE_DISPLAY_NAME", "cn")
    CAS_ATTRIBUTE_DEPARTMENT = os.environ.get("CAS_ATTRIBUTE_DEPARTMENT", "departmentNumber")
    CAS_ATTRIBUTE_EMAIL = os.environ.get("CAS_ATTRIBUTE_EMAIL", "mail")
    CAS_DEFAULT_ROLE = os.environ.get("CAS_DEFAULT_ROLE", "handler")  # first login only; roles stay in this system
    CAS_DEPARTMENT_MAP = os.environ.get("CAS_DEPARTMENT_MAP", "")  # JSON {"CAS value": "our department code"}
    CAS_TIMEOUT_SECONDS = float(os.environ.get("CAS_TIMEOUT_SECONDS", "10"))
    CAS_VERIFY_TLS = os.environ.get("CAS_VERIFY_TLS", "1") != "0"
    # LDAP: bind authentication on the login form (non-local, non-administrator accounts) and organisation sync.
    LDAP_URL = os.environ.get("LDAP_URL", "")  # ldap://host:389 or ldaps://host:636
    LDAP_START_TLS = os.environ.get("LDAP_START_TLS", "0") == "1"
    LDAP_TIMEOUT_SECONDS = float(os.environ.get("LDAP_TIMEOUT_SECONDS", "10"))
    LDAP_BIND_DN = os.environ.get("LDAP_BIND_DN", "")  # service account for search and sync
    LDAP_BIND_PASSWORD = os.environ.get("LDAP_BIND_PASSWORD", "")
    LDAP_USER_DN_TEMPLATE = os.environ.get("LDAP_USER_DN_TEMPLATE", "")  # uid={username},ou=people,dc=…; or:
    LDAP_USER_BASE = os.environ.get("LDAP_USER_BASE", "")  # search base for users (login search and sync)
    LDAP_USER_FILTER = os.environ.get("LDAP_USER_FILTER", "(objectClass=inetOrgPerson)")
    LDAP_ATTR_USERNAME = os.environ.get("LDAP_ATTR_USERNAME", "uid")
    LDAP_ATTR_DISPLAY_NAME = os.environ.get("LDAP_ATTR_DISPLAY_NAME", "cn")
    LDAP_ATTR_EMAIL = os.environ.get("LDAP_ATTR_EMAIL", "mail")
    LDAP_ATTR_PHONE = os.environ.get("LDAP_ATTR_PHONE", "mobile")
    LDAP_ATTR_DEPARTMENT = os.environ.get("LDAP_ATTR_DEPARTMENT", "")  # empty: the code of the user's nearest OU
    LDAP_DEPARTMENT_BASE = os.environ.get("LDAP_DEPARTMENT_BASE", "")  # OUs under it become departments
    LDAP_DEPARTMENT_CODE_ATTR = os.environ.get("LDAP_DEPARTMENT_CODE_ATTR", "ou")
    LDAP_DEPARTMENT_NAME_ATTR = os.environ.get("LDAP_DEPARTMENT_NAME_ATTR", "description")
    LDAP_HEAD_GROUP_DN = os.environ.get("LDAP_HEAD_GROUP_DN", "")  # members (groupOfNames) are 部门负责人
    LDAP_HEAD_FILTER = os.environ.get("LDAP_HEAD_FILTER", "")  # or users matching this filter, e.g. (title=负责人)
    LDAP_DEFAULT_ROLE = os.environ.get("LDAP_DEFAULT_ROLE", "handler")
    LDAP_SYNC_MINUTES = int(os.environ.get("LDAP_SYNC_MINUTES", "0"))  # scheduled sync interval; 0: off
    # Operations (README "Operations"): LOG_FORMAT=json writes one JSON object per line to stderr; /metrics answers
    # loopback clients, or anyone sending `Authorization: Bearer <METRICS_TOKEN>`; /readyz reports not ready when a
    # timer is pending more than READY_TIMER_GRACE_SECONDS past its due time (the scheduler is behind or down).
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN")
    METRICS_ALLOW_LOOPBACK = os.environ.get("METRICS_ALLOW_LOOPBACK", "1") not in ("0", "false", "no")
    READY_TIMER_GRACE_SECONDS = int(os.environ.get("READY_TIMER_GRACE_SECONDS", "300"))
    # /readyz is not ready while no scheduler heartbeat is fresh (renewed within twice the lease); 0: report only
    READY_REQUIRE_SCHEDULER = os.environ.get("READY_REQUIRE_SCHEDULER", "1") not in ("0", "false", "no")


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = secrets.token_hex(32)  # a new key for every test run
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite:///:memory:")
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105  # fast for tests only; production keeps scrypt
    LOGIN_RATE_LIMIT = "100000 per minute"  # the suite signs the same users in from one address all the time
    LOGIN_MAX_FAILURES = 100000
    READY_REQUIRE_SCHEDULER = False  # most tests run no scheduler; tests/scheduler/test_failover.py turns it on


class ProductionConfig(Config):
    REQUIRE_EXPLICIT_SECRET_KEY = True
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
