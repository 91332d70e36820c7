"""The exception tree: stable wire codes, retry classification, pickling, JSON form."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from edgesync import errors
from edgesync.errors import (
    AuthError,
    BaseMismatchError,
    CertificateMismatchError,
    ConfigError,
    CorruptDeltaError,
    DeltaError,
    EdgesyncError,
    EdgeUnreachableError,
    InvalidPathError,
    LimitExceededError,
    NotAFileError,
    NotFoundError,
    PackError,
    PermissionDeniedError,
    PluginError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    RevisionConflictError,
    ServiceUnavailableError,
    TokenExpiredError,
    TransientError,
    UnauthorizedError,
    UnsupportedError,
    UnsupportedFormatError,
    WireFormatError,
)

# The wire codes are part of the protocol: changing one is a breaking change.
# (class, code, retryable, fatal)
TABLE = [
    (EdgesyncError, "edgesync_error", False, False),
    (ConfigError, "config_error", False, True),
    (PluginError, "plugin_error", False, True),
    (PackError, "pack_error", False, True),
    (WireFormatError, "wire_format_error", False, False),
    (DeltaError, "delta_error", False, False),
    (UnsupportedFormatError, "unsupported_delta_format", False, False),
    (CorruptDeltaError, "corrupt_delta", False, False),
    (BaseMismatchError, "base_mismatch", False, False),
    (LimitExceededError, "limit_exceeded", False, False),
    (ProviderError, "provider_error", False, False),
    (NotFoundError, "not_found", False, False),
    (NotAFileError, "not_a_file", False, False),
    (RevisionConflictError, "revision_conflict", False, False),
    (InvalidPathError, "invalid_path", False, False),
    (PermissionDeniedError, "permission_denied", False, True),
    (UnsupportedError, "unsupported", False, False),
    (QuotaExceededError, "quota_exceeded", False, True),
    (AuthError, "auth_error", False, True),
    (TokenExpiredError, "token_expired", True, False),
    (TransientError, "transient_error", True, False),
    (RateLimitedError, "rate_limited", True, False),
    (ServiceUnavailableError, "service_unavailable", True, False),
    (UnauthorizedError, "unauthorized", False, True),
    (EdgeUnreachableError, "edge_unreachable", True, False),
    (CertificateMismatchError, "certificate_mismatch", False, True),
]
CLASSES = [row[0] for row in TABLE]

PARENTS = {
    ConfigError: EdgesyncError, PluginError: EdgesyncError, PackError: EdgesyncError,
    WireFormatError: EdgesyncError,
    DeltaError: EdgesyncError, UnsupportedFormatError: DeltaError, CorruptDeltaError: DeltaError,
    BaseMismatchError: DeltaError, LimitExceededError: DeltaError,
    ProviderError: EdgesyncError, NotFoundError: ProviderError,
    RevisionConflictError: ProviderError, InvalidPathError: ProviderError,
    QuotaExceededError: ProviderError, AuthError: ProviderError, TokenExpiredError: AuthError,
    TransientError: ProviderError, RateLimitedError: TransientError,
    ServiceUnavailableError: TransientError, NotAFileError: ProviderError,
    PermissionDeniedError: ProviderError, UnsupportedError: ProviderError,
    UnauthorizedError: EdgesyncError, EdgeUnreachableError: EdgesyncError,
    CertificateMismatchError: EdgesyncError,
}


def instance(cls: type[EdgesyncError]) -> EdgesyncError:
    """One of each, with its keyword fields set to something other than the default."""
    if cls is BaseMismatchError:
        return cls("made for another base", expected="ab" * 32, actual="cd" * 32)
    if cls is LimitExceededError:
        return cls("too big", limit="max_result_size")
    if cls is RateLimitedError:
        return cls("slow down", path="a/b.docx", retry_after=2.5)
    if cls is RevisionConflictError:
        return cls("changed elsewhere", path="a/b.docx", current="rev-7")
    if issubclass(cls, ProviderError):
        return cls(f"a {cls.__name__} happened", path="a/b.docx")
    return cls(f"a {cls.__name__} happened")


def test_the_table_covers_every_public_class():
    public = {getattr(errors, name) for name in errors.__all__}
    assert public == set(CLASSES)
    assert all(issubclass(cls, Exception) for cls in public)


@pytest.mark.parametrize("cls, code, retryable, fatal", TABLE)
def test_code_and_classification(cls, code, retryable, fatal):
    assert cls.code == code
    assert cls.retryable is retryable
    assert cls.fatal is fatal
    err = instance(cls)
    assert (err.code, err.retryable, err.fatal) == (code, retryable, fatal)
    assert not (err.retryable and err.fatal)


def test_codes_are_unique_and_stable_identifiers():
    codes = [cls.code for cls in CLASSES]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert code.isascii() and code == code.lower() and " " not in code
    # Each class defines its own code: a subclass never inherits its parent's.
    for cls in CLASSES[1:]:
        assert "code" in vars(cls), cls


@pytest.mark.parametrize("cls", CLASSES[1:])
def test_hierarchy(cls):
    assert cls.__bases__[0] is PARENTS[cls]
    assert issubclass(cls, EdgesyncError)


def test_not_found_is_also_a_lookup_error():
    assert issubclass(NotFoundError, LookupError)
    with pytest.raises(LookupError):
        raise NotFoundError("no such file")


def test_delta_errors_are_not_retryable():
    # A delta refused once is refused again: resend, don't retry.
    for cls in (DeltaError, UnsupportedFormatError, CorruptDeltaError, BaseMismatchError,
                LimitExceededError):
        assert not cls.retryable and not cls.fatal


@pytest.mark.parametrize("cls", CLASSES)
def test_message_and_str(cls):
    err = instance(cls)
    assert str(err) == err.message
    assert err.args == (err.message,)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(cls, protocol):
    err = instance(cls)
    back = pickle.loads(pickle.dumps(err, protocol=protocol))
    assert type(back) is cls
    assert back.message == err.message and str(back) == str(err)
    assert back.args == err.args
    assert vars(back) == vars(err)
    assert back.to_dict() == err.to_dict()


@pytest.mark.parametrize("cls", CLASSES)
def test_copy(cls):
    err = instance(cls)
    for clone in (copy.copy(err), copy.deepcopy(err)):
        assert type(clone) is cls and vars(clone) == vars(err)


def test_keyword_fields_survive_pickling():
    err = pickle.loads(pickle.dumps(instance(BaseMismatchError)))
    assert (err.expected, err.actual) == ("ab" * 32, "cd" * 32)
    err = pickle.loads(pickle.dumps(instance(LimitExceededError)))
    assert err.limit == "max_result_size"
    err = pickle.loads(pickle.dumps(instance(RateLimitedError)))
    assert err.retry_after == 2.5
    err = pickle.loads(pickle.dumps(RateLimitedError("no hint")))
    assert err.retry_after is None
    err = pickle.loads(pickle.dumps(instance(RevisionConflictError)))
    assert (err.path, err.current) == ("a/b.docx", "rev-7")


def test_keyword_field_defaults():
    assert (BaseMismatchError("x").expected, BaseMismatchError("x").actual) == ("", "")
    assert LimitExceededError("x").limit == ""
    assert RateLimitedError("x").retry_after is None
    assert (RevisionConflictError("x").path, RevisionConflictError("x").current) == ("", None)


@pytest.mark.parametrize("cls", CLASSES)
def test_to_dict(cls):
    err = instance(cls)
    data = err.to_dict()
    assert data["code"] == cls.code
    assert data["message"] == err.message
    assert json.loads(json.dumps(data)) == data


def test_to_dict_carries_the_keyword_fields():
    assert instance(BaseMismatchError).to_dict() == {
        "code": "base_mismatch", "message": "made for another base",
        "expected": "ab" * 32, "actual": "cd" * 32}
    assert instance(LimitExceededError).to_dict() == {
        "code": "limit_exceeded", "message": "too big", "limit": "max_result_size"}
    assert instance(RateLimitedError).to_dict() == {
        "code": "rate_limited", "message": "slow down", "path": "a/b.docx",
        "retry_after": 2.5}
    assert instance(RevisionConflictError).to_dict() == {
        "code": "revision_conflict", "message": "changed elsewhere", "path": "a/b.docx",
        "current": "rev-7"}
    assert instance(CorruptDeltaError).to_dict() == {
        "code": "corrupt_delta", "message": "a CorruptDeltaError happened"}


def test_errors_module_imports_only_the_standard_library():
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse(Path(errors.__file__).read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}
