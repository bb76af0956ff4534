"""Identity: the login form (local password or LDAP bind), CAS single sign-on, organisation sync and import."""
from __future__ import annotations

from sqlalchemy import select

from ....extensions import db
from ....models import Role, User
from ....models.types import utcnow
from ...security import accounts
from . import ldap_sync


def authenticate(username: str, password: str, client: str) -> User:
    """The login form. Without LDAP every account uses its local password (accounts.sign_in). With LDAP, local
    accounts and administrators keep their local passwords; directory accounts (and unknown names, provisioned on a
    first successful bind) are checked by an LDAP bind under the same lockout and audit rules."""
    if not ldap_sync.configured() or len(username) > 60 or not username.isprintable():
        return accounts.sign_in(username, password, client)
    user = db.session.scalar(select(User).where(User.username == username))
    if user is not None and (user.auth_source == "local" or user.has_role(Role.admin.value)):
        return accounts.sign_in(username, password, client)
    if user is not None and (not user.active or (user.locked_until is not None and user.locked_until > utcnow())):
        accounts.external_sign_in_failed(user.id, username, "ldap", client,  # never reaches the directory
                                          "disabled" if not user.active else "locked")
    entry = ldap_sync.bind_user(username, password)
    if entry is None:
        accounts.external_sign_in_failed(user.id if user else None, username, "ldap", client,
                                          "password" if user else "unknown")
    if user is None:
        user = ldap_sync.provision_from_entry(entry, client)
    return accounts.external_sign_in(user, "ldap", client)
