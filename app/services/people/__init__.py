"""Who may act: departments, roles, users, candidates; identity from CAS and LDAP."""
