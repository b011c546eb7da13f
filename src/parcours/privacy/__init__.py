"""Privacy: pseudonymization, tenant keys, roles, tokens, audit, GDPR.

Modules: ``keys`` (tenant secrets, sealing), ``pseudonymize`` and ``redact`` (the
analytics copy), ``zones`` (the write path's analytics copy with the owner's identifiers),
``rotation`` (new tenant secret, analytics zone rebuilt), ``users`` and ``roles``
(users, tokens, passwords), ``audit`` (nominative reads), ``subject``, ``gdpr`` and
``scrub`` (export and erasure), ``cli`` (``parcours users|audit|gdpr|tenant``).
The API side is :mod:`parcours.web.auth`.
"""
