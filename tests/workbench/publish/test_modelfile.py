"""Modelfile text: written for Ollama and read back from an edit."""

import pytest

from workbench.publish.merge import PublishError
from workbench.publish.modelfile import modelfile_body, parse_modelfile


def test_the_body_reads_back_as_it_was_written():
    parameters = {"stop": ["<|im_end|>", "<|endoftext|>"], "num_ctx": 1024, "temperature": 0.2}
    text = "FROM ./merged\n" + "\n".join(modelfile_body("{{ .Prompt }}", "Be brief.", parameters)) + "\n"
    assert text.count("PARAMETER stop") == 2 and 'SYSTEM """Be brief."""' in text
    assert parse_modelfile(text) == ("{{ .Prompt }}", "Be brief.", parameters)


def test_an_edit_that_cannot_be_followed_is_refused_with_its_line():
    with pytest.raises(PublishError, match="no TEMPLATE"):
        parse_modelfile("FROM ./merged\nPARAMETER num_ctx 1024\n")
    with pytest.raises(PublishError, match="line 2: LICENSE is not supported here"):
        parse_modelfile('TEMPLATE """x"""\nLICENSE MIT\n')
    with pytest.raises(PublishError, match="line 2: PARAMETER needs a name and a value"):
        parse_modelfile('TEMPLATE """x"""\nPARAMETER stop\n')
