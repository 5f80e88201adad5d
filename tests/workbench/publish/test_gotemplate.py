"""The Go text/template interpreter: each construct, Go's trimming rules and errors.

Expected outputs are what Go's text/template prints for the same template and data (worked out from the
language's rules; the data are maps with the keys present, as Ollama's structs always have their fields).
"""

from __future__ import annotations

import re

import pytest

from workbench.publish.gotemplate import GoTemplateError, render

DATA = {
    "System": "Sé breve.",
    "Messages": [
        {"Role": "user", "Content": "hola"},
        {"Role": "assistant", "Content": "¿sí?"},
        {"Role": "user", "Content": "adiós"},
    ],
    "Prompt": "",
    "Response": "",
    "A": {"B": {"C": "deep"}},
    "L": [1, 2, 3],
    "Words": ["a", "b"],
    "Empty": [],
    "M": {"b": 2, "a": 1},
    "N": 2,
    "Nested": [[0, 1], [2, 3]],
}


def r(template: str, data: dict | None = None) -> str:
    return render(template, DATA if data is None else data)


# --- text and fields ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain text, no actions", "plain text, no actions"),
        ("", ""),
        ("a }} b", "a }} b"),
        ("[{{ .System }}]", "[Sé breve.]"),
        ("{{.System}}", "Sé breve."),
        ("{{ .A.B.C }}", "deep"),
        ("{{ $.A.B.C }}", "deep"),
        ("{{ .Prompt }}|{{ .Response }}", "|"),
        ("{{ .Missing }}|{{ .Missing.Deeper }}", "|"),  # "" where Go prints <no value> for map keys
        ("{{ 3 }} {{ -2 }} {{ +4 }} {{ 0x1F }} {{ true }} {{ false }}", "3 -2 4 31 true false"),
        ("{{ .L }} {{ .Words }} {{ .M }}", "[1 2 3] [a b] map[a:1 b:2]"),
        ("{{ (index .Messages 1).Role }}", "assistant"),
        ("{{ ( index .Messages 2 ).Content }}", "adiós"),
    ],
)
def test_text_and_fields(template, expected):
    assert r(template) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ "a\\tb\\n\\"q\\"\\\\" }}', 'a\tb\n"q"\\'),
        ('{{ "\\u00e9\\x41\\101\\U0001F600" }}', "éAA\U0001f600"),
        ("{{ `raw \\n {{ not an action }}` }}", "raw \\n {{ not an action }}"),
        ("{{ `two\nlines` }}", "two\nlines"),
        ('{{ "}}" }}', "}}"),
    ],
)
def test_string_literals(template, expected):
    assert r(template) == expected


# --- whitespace trimming ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a  \n\t {{- .N }}", "a2"),
        ("{{ .N -}} \r\n  b", "2b"),
        ("a \n {{- .N -}} \n b", "a2b"),
        ("a {{ .N }} b", "a 2 b"),
        ("a\u00a0{{- .N -}}\u00a0b", "a\u00a02\u00a0b"),  # only space, \t, \r and \n are trimmed
        ("x {{-3}} y", "x -3 y"),  # no space after "-": the number -3
        ("x {{- 3 }}", "x3"),
        ("{{ 3 -}}\n\n", "3"),
        ("a {{ .N }}{{- .N }} b", "a 22 b"),  # trims text only, never output of actions
        ("{{- range .Words }}\n{{ . }}\n{{- end }}", "\na\nb"),
        ("{{- range .Words }}\n  {{- . -}}\n{{ end }}", "ab"),
        ("{{- if .System }}\nyes\n{{- else }}\nno\n{{- end }}\n", "\nyes\n"),
    ],
)
def test_trimming_as_go_does(template, expected):
    assert r(template) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a {{/* a comment */}} b", "a  b"),
        ("a {{- /* trimmed both sides */ -}} b", "ab"),
        ("a{{/* spans\nlines {{ .X }} */}}b", "ab"),
        ("a \n{{- /* left only */}} b", "a b"),
    ],
)
def test_comments(template, expected):
    assert r(template) == expected


# --- if / else if / else / with -----------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "expected"), [(1, "one"), (2, "two"), (3, "many")])
def test_if_else_if_else(n, expected):
    template = "{{ if eq .N 1 }}one{{ else if eq .N 2 }}two{{ else }}many{{ end }}"
    assert r(template, {"N": n}) == expected


@pytest.mark.parametrize(
    ("value", "truth"),
    [
        (False, False),
        (0, False),
        ("", False),
        ([], False),
        ({}, False),
        (None, False),
        (True, True),
        (1, True),
        (-1, True),
        ("0", True),
        (" ", True),
        ([0], True),
        ({"a": 0}, True),
    ],
)
def test_truthiness_as_go(value, truth):
    assert r("{{ if .V }}T{{ else }}F{{ end }}", {"V": value}) == ("T" if truth else "F")


def test_if_without_else_and_nested():
    assert r("{{ if .System }}[{{ if .Empty }}x{{ end }}]{{ end }}") == "[]"


def test_with_sets_dot():
    assert r("{{ with .A.B }}{{ .C }}{{ else }}none{{ end }}") == "deep"
    assert r("{{ with .Empty }}{{ . }}{{ else }}none{{ end }}") == "none"
    assert r("{{ with .Empty }}x{{ else with .A }}{{ .B.C }}{{ end }}") == "deep"


# --- range --------------------------------------------------------------------------------------------------


def test_range_dot_is_the_element():
    assert r("{{ range .Messages }}{{ .Role }}:{{ .Content }};{{ end }}") == "user:hola;assistant:¿sí?;user:adiós;"


def test_range_with_index_and_element():
    assert (
        r("{{ range $i, $m := .Messages }}{{ $i }}={{ $m.Role }}/{{ .Role }} {{ end }}")
        == "0=user/user 1=assistant/assistant 2=user/user "
    )


def test_range_with_one_variable_is_the_element():
    assert r("{{ range $w := .Words }}<{{ $w }}>{{ end }}") == "<a><b>"


def test_range_else_runs_for_empty_and_missing():
    assert r("{{ range .Empty }}x{{ else }}empty{{ end }}") == "empty"
    assert r("{{ range .Missing }}x{{ else }}empty{{ end }}") == "empty"
    assert r("{{ range .Words }}{{ . }}{{ else }}empty{{ end }}") == "ab"


def test_range_over_map_visits_sorted_keys():
    assert r("{{ range $k, $v := .M }}{{ $k }}={{ $v }};{{ end }}") == "a=1;b=2;"


def test_range_over_an_integer_counts_from_zero():
    assert r("{{ range .N }}{{ . }}{{ end }}|{{ range $i := 3 }}{{ $i }}{{ end }}") == "01|012"


def test_range_dollar_is_the_root():
    assert r("{{ range .Words }}{{ . }}{{ $.N }}{{ end }}") == "a2b2"


def test_ollama_last_message_idiom():
    template = (
        "{{- range $i, $_ := .Messages }}{{- $last := eq (len (slice $.Messages $i)) 1 }}"
        "{{ .Content }}{{ if $last }}!{{ else }},{{ end }}{{- end }}"
    )
    assert r(template) == "hola,¿sí?,adiós!"


# --- variables ----------------------------------------------------------------------------------------------


def test_declare_and_assign():
    assert r('{{ $x := "a" }}{{ $x }}{{ $x = "b" }}{{ $x }}') == "ab"


def test_assignment_inside_range_changes_the_outer_variable():
    assert r("{{ $n := 0 }}{{ range .L }}{{ $n = . }}{{ end }}{{ $n }}") == "3"
    first = "{{ $first := true }}{{ range .Words }}{{ if $first }}^{{ $first = false }}{{ end }}{{ . }}{{ end }}"
    assert r(first) == "^ab"


def test_declaration_in_a_range_body_is_fresh_each_iteration():
    assert r("{{ range .L }}{{ $v := . }}{{ $v }}{{ end }}") == "123"


def test_variable_from_if_pipeline_is_visible_in_both_branches():
    template = "{{ if $x := .V }}[{{ $x }}]{{ else }}<{{ $x }}>{{ end }}"
    assert r(template, {"V": "v"}) == "[v]"
    assert r(template, {"V": ""}) == "<>"


def test_shadowing_in_a_block_ends_with_the_block():
    assert r('{{ $x := "out" }}{{ if true }}{{ $x := "in" }}{{ $x }}{{ end }}{{ $x }}') == "inout"


def test_variable_declared_in_the_other_branch_fails_only_when_used():
    """Go's parser lets the else branch see what the if branch declared; execution then finds nothing."""
    assert r("{{ if true }}{{ $y := 1 }}{{ $y }}{{ else }}{{ $y }}{{ end }}") == "1"
    with pytest.raises(GoTemplateError, match="undefined variable"):
        r("{{ if false }}{{ $y := 1 }}{{ else }}{{ $y }}{{ end }}")


@pytest.mark.parametrize(
    "template",
    [
        "{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}",  # gone after {{end}}
        "{{ range .L }}{{ $y := 1 }}{{ end }}{{ $y }}",
        "{{ $z = 1 }}",  # assignment needs a declaration
        "{{ $nope }}",
    ],
)
def test_undefined_variables(template):
    with pytest.raises(GoTemplateError, match="undefined variable"):
        r(template)


# --- functions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ eq "b" "a" "b" }} {{ eq 1 2 3 }} {{ eq .N 2 }}', "true false true"),
        ('{{ ne "a" "b" }} {{ ne 1 1 }}', "true false"),
        ('{{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1 2 }}', "true true true false"),
        ('{{ and 1 "" 3 }}|{{ and 1 2 3 }}|{{ or 0 "" }}|{{ or 0 "x" 3 }}', "|3||x"),
        ("{{ and false (index .L 10) }} {{ or true (index .L 10) }}", "false true"),  # short-circuit
        ('{{ not "" }} {{ not .L }} {{ not 0 }}', "true false true"),
        ('{{ len .Messages }} {{ len "héllo" }} {{ len .M }} {{ len .Empty }}', "3 6 2 0"),  # len counts bytes
        (
            '{{ slice .L 1 }} {{ slice .L 1 2 }} {{ slice .L }} {{ slice "hello" 1 3 }} {{ slice "hi" 2 }}',
            "[2 3] [2] [1 2 3] el ",
        ),
        ('{{ index .L 0 }} {{ index .M "b" }} {{ index .Nested 1 0 }} {{ index .L }}', "1 2 2 [1 2 3]"),
        ('{{ .L | len }} {{ "a" | eq "a" }} {{ slice .Words 1 | len }}', "3 true 1"),
        ('{{ eq .Missing "x" }}', "false"),  # lenient: a missing key is nil (Ollama's structs have all)
        ("{{ if and .System (eq (len .Messages) 3) }}both{{ end }}", "both"),
    ],
)
def test_functions(template, expected):
    assert r(template) == expected


# --- errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a {{ .X", "unclosed action"),
        ("{{ json .Tools }}", "function 'json' not defined"),
        ("{{ if .System }}x", "{{if}} without {{end}}"),
        ("{{ range .L }}x{{ else }}y", "{{else}} without {{end}}"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ if 1 }}a{{ else }}b{{ else }}c{{ end }}", "unexpected {{else}}"),
        ("{{ range .L }}a{{ else if 1 }}b{{ end }}", "unexpected words after else"),
        ('{{ define "x" }}{{ end }}', "not supported"),
        ('{{ template "x" }}', "not supported"),
        ("{{ range .L }}{{ break }}{{ end }}", "not supported"),
        ('{{ "abc }}', "unterminated quoted string"),
        ('{{ "\\q" }}', "unknown escape"),
        ("{{ `abc }}", "unterminated raw string"),
        ("{{ 1.5 }}", "unsupported number"),
        ("{{ }}", "missing value for command"),
        ("{{ .System 1 }}", "can't give argument to non-function"),
        ("{{ nil }}", "nil is not a command"),
        ("{{ eq .N nil }}", "nil"),
        ("{{ (index .L 0 }}", "unclosed left paren"),
        ("{{ /* not a comment */ }}", "unexpected '/'"),
        ("{{/* a */ x }}", "comment ends before closing delimiter"),
        ("{{/* never closed", "unclosed comment"),
        ("{{ .N % 2 }}", "unexpected '%'"),
    ],
)
def test_parse_errors(template, message):
    with pytest.raises(GoTemplateError, match=re.escape(message)):
        r(template)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{{ eq 1 "1" }}', "incompatible types for comparison"),
        ("{{ eq .L .L }}", "non-comparable type"),
        ("{{ lt true false }}", "incompatible types for comparison"),
        ("{{ eq 1 }}", "wrong number of args for eq"),
        ("{{ not 1 2 }}", "wrong number of args for not"),
        ("{{ len 3 }}", "len of type int"),
        ("{{ index .L 3 }}", "index out of range"),
        ("{{ slice .L 2 1 }}", "index out of range"),
        ("{{ slice .N 1 }}", "can't slice"),
        ("{{ .Messages.Role }}", "can't evaluate field Role in type list"),
        ("{{ range true }}{{ end }}", "range can't iterate over bool"),
    ],
)
def test_execution_errors(template, message):
    with pytest.raises(GoTemplateError, match=message):
        r(template)


def test_error_names_line_column_and_action():
    with pytest.raises(GoTemplateError) as caught:
        r("first line\nab {{ frob .X }} tail")
    assert str(caught.value).startswith("line 2, column 4: '{{ frob .X }}'")
    assert isinstance(caught.value, ValueError)
    expected = "line 1, column 9: '{{ index .L 9 }}': index out of range"
    with pytest.raises(GoTemplateError, match=re.escape(expected)):
        r("{{ 1 }} {{ index .L 9 }}")
