"""Identity fixtures: a CAS-protocol server on loopback, a real slapd, and cleanup of the accounts tests create."""
from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

import pytest

from tests.conftest import wipe

PREFIX = "id_"  # every account these tests create starts with it
DEPT_PREFIX = "idt_"


@pytest.fixture(autouse=True)
def _identity_cleanup(app):
    yield
    wipe(app, "DELETE FROM cas_ticket",
         f"DELETE FROM user_account WHERE username LIKE '{PREFIX}%' OR department_id IN "
         f"(SELECT id FROM department WHERE code LIKE '{DEPT_PREFIX}%')",
         f"DELETE FROM department WHERE code LIKE '{DEPT_PREFIX}%'")


class CasServer:
    """Just enough of the CAS protocol: /login issues a single-use service ticket for `self.user` and redirects to
    the service; /serviceValidate (CAS 2) and /p3/serviceValidate (CAS 3) answer with attributes; /logout."""

    def __init__(self) -> None:
        self.user = "id_alice"
        self.attributes: dict[str, str] = {}
        self.tickets: dict[str, str] = {}  # ticket -> service
        self.validations: list[dict] = []
        self.logouts: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                path = parts.path.removeprefix("/authserver")
                if path == "/login":
                    ticket = "ST-" + secrets.token_urlsafe(24)
                    outer.tickets[ticket] = q["service"]
                    sep = "&" if "?" in q["service"] else "?"
                    self.send_response(302)
                    self.send_header("Location", f"{q['service']}{sep}{urlencode({'ticket': ticket})}")
                    self.end_headers()
                elif path in ("/serviceValidate", "/p3/serviceValidate"):
                    outer.validations.append({"path": path, **q})
                    service = outer.tickets.pop(q.get("ticket", ""), None)  # single use
                    if service is None or service != q.get("service"):
                        body = ('<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">'
                                '<cas:authenticationFailure code="INVALID_TICKET">Ticket not recognized'
                                '</cas:authenticationFailure>'
                                '</cas:serviceResponse>')
                    else:
                        attrs = "".join(f"<cas:{k}>{escape(v)}</cas:{k}>" for k, v in outer.attributes.items())
                        body = ('<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess>'
                                f'<cas:user>{escape(outer.user)}</cas:user><cas:attributes>{attrs}</cas:attributes>'
                                '</cas:authenticationSuccess></cas:serviceResponse>')
                    data = body.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif path == "/logout":
                    outer.logouts.append(q.get("service") or q.get("url") or "")
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/authserver/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def cas_server() -> Iterator[CasServer]:
    server = CasServer()
    yield server
    server.close()


def _configure(app, values: dict) -> Iterator[None]:
    old = {k: app.config.get(k) for k in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(old)


@pytest.fixture(params=["3", "2"], ids=["cas3", "cas2"])
def cas_app(app, cas_server, request):
    cas_server.user = "id_alice"
    cas_server.attributes = {"cn": "艾丽斯", "deptCode": "0301", "mail": "alice@example.edu.cn"}
    cas_server.validations.clear()
    cas_server.logouts.clear()
    yield from _configure(app, {
        "CAS_SERVER_URL": cas_server.url, "CAS_VERSION": request.param, "CAS_ATTRIBUTE_DEPARTMENT": "deptCode",
        "CAS_ATTRIBUTE_DISPLAY_NAME": "cn", "CAS_DEPARTMENT_MAP": '{"0301": "hr"}', "CAS_DEFAULT_ROLE": "handler"})


# --- slapd ---------------------------------------------------------------------------------------------------------

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=lut,dc=edu,dc=cn"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PW = "slapd-test-secret"
SCHEMA_DIR = Path("/etc/ldap/schema")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Slapd:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="slapd-"))
        (self.dir / "db").mkdir()
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        modules = next((p for p in ("/usr/lib/ldap", "/usr/lib/x86_64-linux-gnu/ldap") if Path(p).is_dir()), None)
        includes = "\n".join(f"include {SCHEMA_DIR / n}.schema" for n in ("core", "cosine", "inetorgperson", "nis"))
        backend = "mdb"
        load = f"modulepath {modules}\nmoduleload back_{backend}\n" if modules and any(
            Path(modules).glob(f"back_{backend}*")) else ""
        (self.dir / "slapd.conf").write_text(f"""{includes}
pidfile {self.dir}/slapd.pid
{load}
database {backend}
maxsize 10485760
suffix "{SUFFIX}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PW}
directory {self.dir}/db
""")
        self.proc = subprocess.Popen([SLAPD, "-h", f"{self.url}/", "-f", str(self.dir / "slapd.conf"), "-d", "0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slapd exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("slapd did not start within 15 s")

    def ldif(self, text: str) -> None:
        subprocess.run(["ldapadd", "-x", "-H", self.url, "-D", ADMIN_DN, "-w", ADMIN_PW, "-c"],
                       input=text.encode(), check=False, capture_output=True)

    def reset(self) -> None:
        """Delete every entry, leaves first (ldapdelete -r on an empty database crashes this slapd)."""
        from ldap3 import SUBTREE, Connection

        with Connection(self.url, ADMIN_DN, ADMIN_PW, auto_bind=True) as conn:
            conn.search(SUFFIX, "(objectClass=*)", SUBTREE, attributes=["1.1"])
            for dn in sorted((e["dn"] for e in conn.response if e.get("type") == "searchResEntry"), key=len,
                             reverse=True):
                conn.delete(dn)

    def delete(self, dn: str) -> None:
        from ldap3 import Connection

        with Connection(self.url, ADMIN_DN, ADMIN_PW, auto_bind=True) as conn:
            assert conn.delete(dn), conn.result

    def modify(self, text: str) -> None:
        done = subprocess.run(["ldapmodify", "-x", "-H", self.url, "-D", ADMIN_DN, "-w", ADMIN_PW],
                              input=text.encode(), check=False, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    if not Path(SLAPD).exists():
        pytest.skip("slapd 未安装（/usr/sbin/slapd）：请运行 scripts/install-test-deps.sh 安装 slapd 和 ldap-utils")
    server = Slapd()
    yield server
    server.close()
