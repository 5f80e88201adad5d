"""Row and answer text as Markdown that renders to the same characters (the browser check is in
tests/reliability/test_no_injection.py)."""

from ui.text import html_literal, literal


def test_literal_escapes_every_markdown_meaning_and_keeps_line_breaks():
    assert literal("a *b* $x$ [l](javascript:x) :red[c]\nnext") == (
        "a \\*b\\* \\$x\\$ \\[l\\]\\(javascript\\:x\\) \\:red\\[c\\]  \nnext"
    )


def test_html_literal_leaves_no_tag_no_markdown_and_no_broken_entity():
    assert (
        html_literal("<b>'$x$'</b> ![a](b)")
        == "&#60;b&#62;&#39;&#36;x&#36;&#39;&#60;/b&#62; &#33;&#91;a&#93;&#40;b&#41;"
    )
