"""Who may use the operator API: personal keys, identity provider tokens, roles, the
lock-out, and the audit trail of every action and refusal (``guard.Access``)."""
