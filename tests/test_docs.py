"""The wire-format document states what the code does."""

from __future__ import annotations

from pathlib import Path

from edgesync.delta import _engine

DOC = (Path(__file__).parent.parent / "docs" / "delta-format.md").read_text(encoding="utf-8")


def test_the_documented_preset_dictionary_is_the_one_in_use():
    section = DOC[DOC.index("### 1.1 The preset dictionary"):DOC.index("## 2. Payload")]
    listing = section.split("```")[1]
    assert "".join(listing.split()).encode("ascii") == _engine.PAYLOAD_DICTIONARY
    assert f"({len(_engine.PAYLOAD_DICTIONARY)} bytes" in section


def test_the_documented_header_is_the_one_in_use():
    assert f"format version: `{_engine.VERSION:02x}`" in DOC
    assert _engine.HEADER_SIZE == 69 and "| 69 | … | payload" in DOC


def test_every_hook_is_documented_for_plugin_authors():
    import inspect

    from edgesync.hookspecs import EdgesyncSpecs

    guide = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text(encoding="utf-8")
    hooks = [name for name in vars(EdgesyncSpecs) if name.startswith("edgesync_")]
    assert hooks
    for name in hooks:
        returns = inspect.signature(getattr(EdgesyncSpecs, name)).return_annotation
        assert f"### {name}() -> {returns}" in guide, name


def test_every_error_code_the_api_returns_is_documented():
    from edgesync import errors
    from edgesync.edge.api import STATUS

    api = (Path(__file__).parent.parent / "docs" / "edge-api.md").read_text(encoding="utf-8")
    for cls in STATUS:
        assert f"`{cls.code}`" in api, cls.code
    for name in errors.__all__:
        cls = getattr(errors, name)
        if issubclass(cls, (errors.ProviderError, errors.DeltaError)) and cls.code not in (
                "provider_error", "delta_error", "transient_error"):
            assert cls.code in api or name in api, name
    for code in ("no_such_endpoint", "method_not_allowed", "internal_error"):
        assert f"`{code}`" in api


def test_every_configuration_key_is_documented():
    import tomllib

    from edgesync.edge.setup import CONFIG_TEMPLATE as _CONFIG_TEMPLATE

    api = (Path(__file__).parent.parent / "docs" / "edge-api.md").read_text(encoding="utf-8")
    text = _CONFIG_TEMPLATE.format(mode='"personal"', user='"me"', listen='"0.0.0.0:8443"',
                                   tls="true", provider='"local"', options='root = "/x"\n')
    data = tomllib.loads(text)
    for key, value in data.items():
        if isinstance(value, dict):
            for sub in value:
                if sub != "options":
                    assert f"`{key}.{sub}`" in api, f"{key}.{sub}"
        else:
            assert f"`{key}`" in api, key
