"""The public surface: ``__all__`` lists exactly the public names, and each is documented."""

from __future__ import annotations
import __future__

import inspect
import re
import types

import attrs
import pytest

import edgesync
import edgesync.delta
import edgesync.errors
import edgesync.testing.documents

DELTA_API = {"FORMAT_VERSION", "DeltaInfo", "Limits", "MemberInfo", "describe", "diff", "patch"}


def public_names(module: types.ModuleType) -> set[str]:
    """Names a user sees: not private, not submodules, not ``from __future__`` features."""
    return {name for name, value in vars(module).items()
            if not name.startswith("_")
            and not isinstance(value, (types.ModuleType, __future__._Feature))}


def test_delta_all_is_the_api():
    assert set(edgesync.delta.__all__) == DELTA_API
    assert len(edgesync.delta.__all__) == len(DELTA_API)
    assert public_names(edgesync.delta) == DELTA_API
    namespace: dict = {}
    exec("from edgesync.delta import *", namespace)
    assert set(namespace) - {"__builtins__"} == DELTA_API


@pytest.mark.parametrize("module", [edgesync, edgesync.delta, edgesync.errors,
                                    edgesync.testing.documents], ids=lambda m: m.__name__)
def test_all_names_exist_and_are_public(module):
    assert module.__doc__ and module.__doc__.strip()
    for name in module.__all__:
        assert not name.startswith("_") or name == "__version__"
        assert hasattr(module, name), name
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("module", [edgesync.errors, edgesync.testing.documents],
                         ids=lambda m: m.__name__)
def test_all_lists_every_public_definition(module):
    defined = {name for name, value in vars(module).items()
               if not name.startswith("_")
               and getattr(value, "__module__", None) == module.__name__}
    assert defined <= set(module.__all__)


def _own_doc(obj: object) -> str:
    """The object's own docstring (a class's, not one inherited from its base)."""
    if inspect.isclass(obj):
        return vars(obj).get("__doc__") or ""
    return obj.__doc__ or ""


@pytest.mark.parametrize("name", sorted(DELTA_API - {"FORMAT_VERSION"}))
def test_delta_public_names_have_docstrings(name):
    obj = getattr(edgesync.delta, name)
    doc = _own_doc(obj)
    assert doc.strip(), name
    assert len(doc.split()) >= 8, f"{name}: a docstring of a few words is not documentation"


def test_format_version_is_documented():
    source = inspect.getsource(edgesync.delta)
    assert re.search(r"^#: .+\nFORMAT_VERSION = ", source, re.MULTILINE)
    assert edgesync.delta.FORMAT_VERSION == 1


@pytest.mark.parametrize("cls", [edgesync.delta.Limits, edgesync.delta.DeltaInfo,
                                 edgesync.delta.MemberInfo], ids=lambda c: c.__name__)
def test_every_field_is_documented(cls):
    doc = _own_doc(cls)
    for field in attrs.fields(cls):
        assert f":ivar {field.name}:" in doc, f"{cls.__name__}.{field.name}"


@pytest.mark.parametrize("name", edgesync.errors.__all__)
def test_error_classes_have_docstrings(name):
    assert _own_doc(getattr(edgesync.errors, name)).strip()


@pytest.mark.parametrize("name", edgesync.testing.documents.__all__)
def test_document_helpers_have_docstrings(name):
    obj = getattr(edgesync.testing.documents, name)
    if callable(obj):
        assert _own_doc(obj).strip(), name


@pytest.mark.parametrize("name", ["diff", "patch", "describe"])
def test_functions_document_their_parameters(name):
    fn = getattr(edgesync.delta, name)
    doc = _own_doc(fn)
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{name}({param})"


# --- the modules of the edge and the plugin contract ------------------------------------------

import edgesync.agent  # noqa: E402
import edgesync.edge  # noqa: E402
import edgesync.hashing  # noqa: E402
import edgesync.hookspecs  # noqa: E402
import edgesync.paths  # noqa: E402
import edgesync.plugins  # noqa: E402
import edgesync.providers  # noqa: E402
import edgesync.testing  # noqa: E402
import edgesync.testing.edge  # noqa: E402
import edgesync.testing.emulation  # noqa: E402
import edgesync.testing.fakes  # noqa: E402
import edgesync.testing.waiting  # noqa: E402
import edgesync.tls  # noqa: E402
import edgesync.types  # noqa: E402

CONTRACT_MODULES = [edgesync.agent, edgesync.types, edgesync.paths, edgesync.hookspecs, edgesync.plugins,
                    edgesync.hashing, edgesync.providers, edgesync.edge, edgesync.tls,
                    edgesync.testing, edgesync.testing.fakes, edgesync.testing.emulation, edgesync.testing.edge,
                    edgesync.testing.waiting]


@pytest.mark.parametrize("module", CONTRACT_MODULES, ids=lambda m: m.__name__)
def test_contract_modules_export_documented_names(module):
    assert module.__doc__ and len(module.__doc__.split()) >= 20, module.__name__
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert len(_own_doc(obj).split()) >= 5, f"{module.__name__}.{name}"


@pytest.mark.parametrize("module", [m for m in CONTRACT_MODULES
                                    if m not in (edgesync.agent, edgesync.edge,
                                                 edgesync.providers, edgesync.testing)],
                         ids=lambda m: m.__name__)
def test_contract_all_lists_every_public_definition(module):
    defined = {name for name, value in vars(module).items()
               if not name.startswith("_") and (inspect.isclass(value)
                                                or inspect.isfunction(value))
               and getattr(value, "__module__", None) == module.__name__
               and not hasattr(value, "edgesync_impl")}  # hook implementations are pluggy's
    assert defined <= set(module.__all__), defined - set(module.__all__)


def test_importing_edgesync_stays_light():
    """``import edgesync`` and the delta engine do not pull in the server or HTTP stacks."""
    import subprocess
    import sys

    code = ("import sys, edgesync, edgesync.delta, edgesync.errors; "
            "print(sorted(m for m in ('cheroot', 'requests', 'click', 'pluggy', 'cryptography')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("cls", [edgesync.types.RemoteEntry, edgesync.types.UploadInfo,
                                 edgesync.types.ProviderFacts, edgesync.types.Capabilities,
                                 edgesync.types.ProviderSpec, edgesync.types.HashSpec,
                                 edgesync.edge.FileRecord, edgesync.edge.EdgeConfig,
                                 edgesync.edge.RetryPolicy, edgesync.edge.SaveResult,
                                 edgesync.agent.AgentConfig, edgesync.agent.PushResult,
                                 edgesync.agent.FileStatus],
                         ids=lambda c: c.__name__)
def test_every_record_field_is_documented(cls):
    doc = _own_doc(cls)
    for field in attrs.fields(cls):
        assert f":ivar {field.name}:" in doc, f"{cls.__name__}.{field.name}"
