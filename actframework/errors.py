"""The one exception tree of actframework.

Every error that actframework raises on purpose is an :class:`ActError`, so a
caller (the ``act`` and ``actd`` commands, the REST server, a script using the
library) can catch one class and show a one-line message. Each class below says
when it is raised; code raises the most specific class that fits and never a
bare ``ActError``. Errors from libraries we call (SQLAlchemy, requests, ...)
are wrapped where the caller needs to react to them, with the original kept as
``__cause__``.

::

    ActError
    ├── ConfigError
    ├── PluginError
    │   ├── UnknownBackendError
    │   ├── DuplicateBackendError
    │   └── BackendLoadError
    ├── StorageError
    │   └── TransferCancelled
    ├── StoreError
    │   ├── DatabaseUnavailableError
    │   ├── InvalidFilterError
    │   ├── InvalidColumnError
    │   ├── JobNotFoundError
    │   └── SchemaError
    ├── TransportError
    ├── ServerError
    ├── X509Error
    │   └── ProxyUnavailableError (also a CredentialUnavailableError)
    ├── TokenError
    │   ├── TokenIssuerError
    │   └── TokenUnavailableError (also a CredentialUnavailableError)
    ├── CredentialUnavailableError
    │   └── ClusterCredentialError
    ├── JobDescriptionError
    │   ├── DescriptionParseError
    │   ├── XRSLError
    │   │   └── XRSLParseError (also a DescriptionParseError)
    │   └── ADLError
    │       └── ADLParseError (also a DescriptionParseError)
    └── ARCError
        ├── ARCHTTPError
        │   └── ARCAuthError
        ├── ARCResponseError
        ├── ARCVersionError
        ├── CEUnreachableError
        ├── InputFileError
        ├── InputUploadError
        └── MissingResultFile
"""

from __future__ import annotations

import errno
from collections.abc import Iterable


class ActError(Exception):
    """Base of every error actframework raises on purpose.

    ``str(error)`` is a complete one-line message meant for a user.
    """


class ConfigError(ActError):
    """A configuration file is missing, unreadable, not valid YAML, or holds a
    key with a value of the wrong kind; also raised when ``actd init`` would
    overwrite an existing configuration without ``--force``."""


class PluginError(ActError):
    """A storage backend plugin could not be found, chosen or loaded."""


class UnknownBackendError(PluginError):
    """The configured storage backend name is not installed.

    The message lists the names that are installed, so the user can correct a
    typo or install the missing distribution.
    """

    def __init__(self, name: str, installed: Iterable[str]) -> None:
        self.name = name
        self.installed = sorted(installed)
        listing = ", ".join(self.installed) if self.installed else "none"
        super().__init__(f"unknown storage backend {name!r}; installed backends: {listing}")


class DuplicateBackendError(PluginError):
    """Two installed distributions register a storage backend under the same
    name, so which one runs would depend on installation order. The message
    names both distributions; uninstall one of them."""

    def __init__(self, name: str, distributions: Iterable[str]) -> None:
        self.name = name
        self.distributions = sorted(distributions)
        super().__init__(
            f"storage backend {name!r} is registered by more than one distribution: " + ", ".join(self.distributions)
        )


class BackendLoadError(PluginError):
    """A storage backend is installed but importing or constructing it failed,
    or the loaded object does not implement the storage hooks correctly."""


class StorageError(ActError):
    """A storage backend failed to stage, rewrite, retrieve or clean up: the
    storage server refused, a file is missing, or the backend cannot do the
    requested operation."""


class TransferCancelled(StorageError):
    """A transfer was stopped on purpose (Ctrl-C in ``act get``): raised
    from :meth:`TransferProgress.advance <actframework.hookspecs.TransferProgress.advance>`
    inside a backend, which lets it through and removes what it wrote."""


class StoreError(ActError):
    """The job store (database) could not carry out an operation: the database
    is unreachable, its schema is out of date, or a request to it is invalid."""


class DatabaseUnavailableError(StoreError):
    """The database could not be reached (or, SQLite, stayed locked) for
    longer than the store waits for it, or the connection was lost while a
    change was being committed, so whether it was made is unknown. Worth
    trying again later: the server answers 503, the engine backs off."""


class InvalidFilterError(StoreError):
    """A user-supplied job filter is malformed, e.g. an id list item that is
    neither an integer nor a range ``a-b``. The message is the aCT wording
    (``Invalid job ID: x``, ``Invalid job range: x``)."""


class InvalidColumnError(StoreError):
    """A column selection names a column that ``clientjobs`` or ``arcjobs``
    does not have. The message is the aCT wording ``Invalid column "x"``."""

    def __init__(self, column: str) -> None:
        self.column = column
        super().__init__(f'Invalid column "{column}"')


class JobNotFoundError(StoreError):
    """A job id does not exist or does not belong to the requesting user."""


class SchemaError(StoreError):
    """The database schema is missing or older than this version of
    actframework expects; ``actd db upgrade`` brings it up to date."""


class TransportError(ActError):
    """An HTTP request got no HTTP answer: the connection was refused or
    dropped, DNS failed, TLS verification failed, or the server did not answer
    within the timeout. Raised by :mod:`actframework.http` after its retries
    (for requests that are safe to repeat) are used up. The caller may try
    again later; for a request that was not safe to repeat (creating jobs),
    the server may or may not have acted on it."""


class ServerError(ActError):
    """The aCT server answered a client request with an error. ``status`` is
    the HTTP status, ``msg`` the server's message (what ``act`` prints)."""

    def __init__(self, status: int, msg: str) -> None:
        self.status = status
        self.msg = msg
        super().__init__(msg)

    @classmethod
    def from_answer(cls, status: int, body: object) -> ServerError:
        """The error of an answer: the ``msg`` of its JSON body, else ``HTTP <status>``."""
        message = body.get("msg") if isinstance(body, dict) else None
        return cls(status, str(message or f"HTTP {status}"))


class X509Error(ActError):
    """A certificate, proxy, key or CSR is unreadable, expired, not an RFC 3820
    proxy where one is needed, or does not chain to a trusted CA."""


class CredentialUnavailableError(ActError):
    """The engine cannot act for a job's owner on a cluster now: their
    credential (proxy or token) is gone, expired or unusable there. Only
    that owner's jobs wait, with this as their ``Error``; the CE is not
    taken for down."""


class ProxyUnavailableError(X509Error, CredentialUnavailableError):
    """The engine cannot act for a job's owner: their delegated proxy was
    deleted, has expired or cannot be read. The job waits (and eventually
    times out) until the owner delegates a new proxy (``act proxy``)."""


class TokenError(ActError):
    """A bearer token was refused: not a JWT, signed with an algorithm actd
    does not take (``none``, HMAC), from an issuer actd does not trust,
    signed by a key its issuer does not publish, with a signature that does
    not verify, expired or not yet valid, for another audience, or without a
    scope actd needs. The message says which, and what the user can do."""


class TokenIssuerError(TokenError):
    """A trusted issuer's OIDC discovery document or key set could not be
    fetched or read, so no token of it can be verified for now: the issuer's
    fault or the network's, not the token's."""


class TokenUnavailableError(TokenError, CredentialUnavailableError):
    """The engine cannot act for a job's owner with their token: it was
    deleted, has expired, or its audience does not include the cluster's.
    The job waits until the owner hands over a new token (``act token``)."""


class ClusterCredentialError(CredentialUnavailableError):
    """A cluster cannot serve a job with its owner's kind of credential:
    the cluster is configured for the other kind (``sites.<name>.auth``),
    or it speaks REST 1.0, which takes no token delegation, and the job
    has files the CE itself must transfer, or the CE refused this very
    credential a short while ago. The cluster refuses the job (another
    cluster of its list may take it); nothing is sent to it."""


class JobDescriptionError(ActError):
    """A job description cannot be used, whatever its language: catch this
    where xRSL and ADL are handled alike (the server, the engine)."""


class DescriptionParseError(JobDescriptionError):
    """A job description is not valid in its language. The message names the
    line and column (both from 1) where reading stopped, and what was wrong;
    ``line``, ``column`` and ``source`` (a file name, if known) say it to
    programs."""

    def __init__(self, message: str, line: int, column: int, source: str | None = None) -> None:
        self.line = line
        self.column = column
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}line {line}, column {column}: {message}")


class XRSLError(JobDescriptionError):
    """An xRSL job description cannot be used: an attribute is missing or has
    a value of the wrong form (e.g. an ``inputfiles`` entry that is not a pair)."""


class XRSLParseError(XRSLError, DescriptionParseError):
    """A job description is not valid xRSL. The message names the line and
    column (both from 1) where parsing stopped, and what was expected."""


class ADLError(JobDescriptionError):
    """An ADL job description cannot be used: an element the job needs has a
    value of the wrong form (a ``Priority`` that is not a number). Reading a
    document reports such faults as :class:`ADLParseError`, with where they
    stand; this class itself is raised for documents built or changed by a
    program, which have no positions."""


class ADLParseError(ADLError, DescriptionParseError):
    """A job description is not well-formed XML, carries a document type
    declaration (refused: entity declarations are how XML bombs and file
    disclosures work), is XML but not ADL, or lacks what ARC requires of an
    element the job needs (an ``InputFile`` without a ``Name``). The message
    names the line and column (both from 1) of the offending construct."""


class ARCError(ActError):
    """An ARC CE refused or failed an operation. Bulk operations do not raise
    this for individual jobs: they return per-job results aligned with the
    input, each holding either a value or an :class:`ARCError`."""


class ARCHTTPError(ARCError):
    """The CE answered with an HTTP status other than the one the operation
    expects, for the whole request or (in bulk results) for one job.
    ``status`` is an int; ``reason`` the CE's text."""

    def __init__(self, status: int, reason: str, what: str = "") -> None:
        self.status = status
        self.reason = reason
        prefix = f"{what}: " if what else ""
        super().__init__(f"{prefix}{status} {reason}".rstrip())


class ARCAuthError(ARCHTTPError):
    """The CE refused our credentials (proxy or token) for the whole request:
    A-REX 6 answers 403, A-REX 7 500, both "User can't be assigned
    configuration". A refusal, not a CE outage: the credentials need
    renewing or the CE's configuration does not admit them."""


class ARCResponseError(ARCError):
    """The CE answered with something that is not the document the operation
    expects: a body that is not JSON (an HTML error page from a proxy in
    front of the CE), JSON cut short, or JSON of the wrong shape (a list
    where an object belongs, a job result without an id, a ``null`` state).

    Raised for the whole request when the answer as a whole is unusable; in
    bulk results, held by the one job whose element is unusable while the
    other jobs keep theirs. For a request that creates jobs, the CE may have
    acted on it although its answer cannot be read (like a
    :class:`TransportError`). The message names the operation and what was
    wrong, with at most a short excerpt of the answer."""


class ARCVersionError(ARCError):
    """The CE offers no ARC CE REST version that this client implements (or
    not the version explicitly asked for)."""


class CEUnreachableError(ARCError):
    """The engine could not reach a CE, or the CE would not work with it, in
    this cycle (its jobs are left for the next one). The engine backs off
    before it tries that CE again."""


class InputFileError(ARCError):
    """A job's local input file does not exist or cannot be read, so the job
    was not submitted."""


class InputUploadError(ARCError):
    """A job was created on the CE but uploading its input files failed. The
    job exists on the CE (``ce_id``) and waits for inputs that will not come:
    the caller should kill it."""

    def __init__(self, ce_id: str, errors: list[str]) -> None:
        self.ce_id = ce_id
        self.errors = list(errors)
        super().__init__(f"job {ce_id}: input upload failed: " + "; ".join(self.errors))


class MissingResultFile(ARCError):
    """A file to download from a job's session or diagnose directory is not
    there (HTTP 404)."""

    def __init__(self, ce_id: str, path: str) -> None:
        self.ce_id = ce_id
        self.path = path
        super().__init__(f"job {ce_id}: {path} does not exist")


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` is an :class:`OSError` saying the file system, or
    the user's quota, is full (``ENOSPC``, ``EDQUOT``): a fault of this host
    that goes away once room is made, not of the job or the request."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
