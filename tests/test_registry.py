"""Registry: case-insensitive names, '-' == '_', suggestions, duplicate errors, order."""

import pytest

from kerastricks.errors import ConfigError
from kerastricks.registry import Entry, Registry, normalize_name


@pytest.fixture
def reg():
    r = Registry("widget")
    r.register("Big_Widget", object(), description="a big one", defaults={"size": 3}, colour="red")
    r.register("small", object(), description="a small one")

    @r.register("medium-widget", description="decorated")
    def medium():
        return "m"

    return r


def test_normalize_name():
    assert normalize_name("  Foo-Bar_baz ") == "foo_bar_baz"


def test_lookup_is_case_insensitive_and_dash_underscore_agnostic(reg):
    entry = reg.get("big-widget")
    assert reg.get("BIG_WIDGET") is entry and reg.get(" Big-Widget ") is entry
    assert reg.get("Medium_Widget").obj() == "m"
    assert "BIG-widget" in reg and "medium_widget" in reg
    assert "nope" not in reg and 3 not in reg


def test_entry_metadata(reg):
    entry = reg.get("big_widget")
    assert isinstance(entry, Entry)
    assert entry.name == "Big_Widget"
    assert entry.description == "a big one"
    assert entry.defaults == {"size": 3}
    assert entry.meta == {"colour": "red"}
    assert reg.get("small").defaults == {} and reg.get("small").meta == {}


def test_decorator_returns_the_function(reg):
    @reg.register("extra", description="x")
    def f():
        return 1

    assert f() == 1 and reg.get("extra").obj is f


def test_duplicate_registration_raises_even_with_other_spelling(reg):
    with pytest.raises(ValueError, match="widget 'SMALL' is already registered"):
        reg.register("SMALL", object(), description="again")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("big-widget", object(), description="again")
    assert len(reg) == 3


def test_unknown_name_suggests_closest(reg):
    with pytest.raises(ConfigError) as info:
        reg.get("smal", key="widget.name")
    err = info.value
    assert err.key == "widget.name"
    assert err.received == "smal"
    assert err.hint == "did you mean 'small'?"
    line = err.line()
    assert "\n" not in line
    assert "unknown widget 'smal'" in line
    assert "one of Big_Widget, small, medium-widget" in line
    assert "did you mean 'small'?" in line
    assert reg.suggest("big_widgt") == "Big_Widget"


def test_unknown_name_without_close_match_has_no_hint(reg):
    with pytest.raises(ConfigError) as info:
        reg.get("zzzzzzzz")
    assert info.value.hint is None and "did you mean" not in str(info.value)
    assert reg.suggest("zzzzzzzz") is None


def test_names_and_iteration_keep_registration_order(reg):
    assert reg.names() == ["Big_Widget", "small", "medium-widget"]
    assert [e.name for e in reg] == reg.names()
    assert len(reg) == 3
