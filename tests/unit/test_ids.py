"""Model ids are checked locally, by the Hub's rules, before anything reaches the network."""

from __future__ import annotations

import pytest

from hubdex.hub.ids import invalid_reason, path


@pytest.mark.parametrize("good", ["gpt2", "openai-community/gpt2", "facebook/mask2former-swin-large-cityscapes-semantic",
                                  "stabilityai/stable-diffusion-3.5-large", "meta-llama/Llama-3.1-8B-Instruct",
                                  "a/" + "b" * 96, "user_1/model_v2.0"])
def test_hub_ids_pass(good):
    assert invalid_reason(good) is None


@pytest.mark.parametrize("bad,why", [("", "empty"), ("../../etc/passwd", "more than one"),
                                     ("openai-community/gpt2?expand=x#frag", "only letters"), ("a b", "only letters"),
                                     ("-x", "only letters"), ("x.", "only letters"), ("org/x--y", "'--'"),
                                     ("org/x..y", "'..'"), ("org/model.git", ".git"), ("a/" + "b" * 97, "only letters"),
                                     ("café/x", "only letters"), ("/x", "only letters")])
def test_non_ids_are_refused_with_a_reason(bad, why):
    assert why in (invalid_reason(bad) or "")


def test_ids_are_path_encoded_for_urls():
    assert path("org/model-1.0_x") == "org/model-1.0_x"
    assert path("org/a b?c#d") == "org/a%20b%3Fc%23d"  # never a query, a fragment or a space
