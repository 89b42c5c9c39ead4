"""One error hierarchy for everything the user can be told about.

Every failure a user can act on is a :class:`PreserveError` carrying a one-line
message and a hint saying how to fix it. Front ends (the CLI, a FaaS handler)
catch ``PreserveError`` in one place and render it; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from preserve.secrets import redact_text

# Documented exit codes of the command-line interface.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_REPRODUCED = 3


class PreserveError(Exception):
    """Base class: an expected failure with a user-facing message and hint."""

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # Messages quote URIs, commands and server answers: never a credential in them.
        message = redact_text(message)
        super().__init__(message)
        self.message = message
        self.hint = redact_text(hint) if hint else hint

    def diagnostics(self) -> str:
        """The message and, on its own line, the hint."""
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class ConfigError(PreserveError):
    """Configuration file, environment variable or option is invalid."""


class MissingSecret(ConfigError):
    """A plug-in needs a secret configured nowhere; a front end on a terminal may ask for it."""

    def __init__(
        self, message: str, *, hint: str | None = None, section: str, key: str, prompt: str
    ) -> None:
        super().__init__(message, hint=hint)
        self.section = section  # the dotted table, "doi.datacite"
        self.key = key  # "password"
        self.prompt = prompt  # what to ask, naming the account (never the secret)


class ManifestError(PreserveError):
    """``preserve.yaml`` is missing or does not match its schema."""


class PluginNotFound(PreserveError):
    """A named builder, resolver, store, DOI provider or runner is not installed."""


class ServiceUnavailable(PreserveError):
    """A service the toolkit drives (Docker Engine, registry) does not answer."""


class BuildError(PreserveError):
    """The analysis environment (container image) could not be built or found."""


class RunError(PreserveError):
    """The analysis ran but failed: non-zero exit, crash, out of memory, timeout."""


class DataError(PreserveError):
    """An input could not be fetched, staged or described."""


class IntegrityError(PreserveError):
    """Content does not match its recorded size or digest."""


class StorageError(PreserveError):
    """A result could not be written: the disk is full, or the folder is not writable."""


class CrateError(PreserveError):
    """An RO-Crate is missing, malformed, or lacks what an operation needs."""


class RegistryError(PreserveError):
    """An OCI registry or store refused or failed a request."""


class AuthError(RegistryError):
    """Credentials are missing or were refused."""


class DoiError(PreserveError):
    """A DOI could not be minted, updated, published or resolved."""


class MetadataError(DoiError):
    """DOI metadata does not validate against the DataCite schema."""


class TargetError(PreserveError):
    """A function target (a platform, an endpoint) refused or failed a request."""

    def __init__(
        self, message: str, *, hint: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after  # seconds the platform asked to wait (429, 503)


class SourceError(PreserveError):
    """An event source (dCache storage events, a CloudEvents receiver, a folder) failed."""


class InvocationFailed(PreserveError):
    """A function ran and failed; its crate records the failure."""

    def __init__(self, message: str, *, hint: str | None = None, result: object = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result  # the result document, status "failed"


class CitationError(DoiError):
    """A citation could not be rendered (unknown style or format) or a bundle not assembled."""


class NotReproduced(PreserveError):
    """A rerun finished but its outputs differ from the published ones."""

    exit_code = EXIT_NOT_REPRODUCED
