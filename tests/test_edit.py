import pytest

from locoder.exceptions import ToolError
from locoder.tools.edit import apply_edit, unified_diff

SOURCE = "def f():\n    x = 1\n    return x\n\n\ndef g():\n    return 2\n"


def test_exact_unique_block():
    assert apply_edit(SOURCE, "    x = 1\n", "    x = 10\n") == SOURCE.replace("x = 1\n", "x = 10\n")


def test_block_not_unique_is_refused():
    text = "a = 1\nb = 2\na = 1\n"
    with pytest.raises(ToolError, match="occurs 2 times"):
        apply_edit(text, "a = 1\n", "a = 3\n")


def test_trailing_whitespace_differences_are_tolerated():
    text = "def f():   \n    return 1\n"
    assert apply_edit(text, "def f():\n    return 1", "def f():\n    return 2") == "def f():\n    return 2\n"


def test_wrong_indentation_is_tolerated_and_reindented():
    out = apply_edit(SOURCE, "x = 1\nreturn x", "x = 5\nreturn x + 1")
    assert "    x = 5\n    return x + 1\n" in out
    assert out.startswith("def f():\n") and out.endswith("def g():\n    return 2\n")


def test_over_indented_search_is_dedented():
    text = "if a:\n  b()\n"
    assert apply_edit(text, "        b()", "        c()") == "if a:\n  c()\n"


def test_loose_match_that_is_not_unique_is_refused():
    text = "if a:\n    go()\nif b:\n  go()\n"
    with pytest.raises(ToolError, match="matches 2 places"):
        apply_edit(text, "go() ", "stop()")


def test_missing_block_names_the_closest_line():
    with pytest.raises(ToolError, match="closest line is 3"):
        apply_edit(SOURCE, "    return y", "    return z")


def test_empty_search_is_refused():
    with pytest.raises(ToolError, match="empty"):
        apply_edit(SOURCE, "", "x")


def test_unified_diff_shows_change_and_is_capped():
    diff = unified_diff("a\nb\n", "a\nc\n", "f.py")
    assert "--- a/f.py" in diff and "-b" in diff and "+c" in diff
    big = unified_diff("".join(f"{i}\n" for i in range(200)), "", "f.py", max_lines=20)
    assert "more diff lines" in big
