"""Windows read without litellm (evolve/mutate/window.py `bundled_window`): the list litellm ships,
shared with the price check (evolve/mutate/llm.py `bundled_models`)."""

from evolve.mutate.llm import bundled_models, listed
from evolve.mutate.window import bundled_window


def test_a_listed_model_has_its_window_with_or_without_its_provider_prefix():
    listing = bundled_models()
    assert "gpt-4o-mini" in listing  # litellm is installed with its bundled list
    window = listing["gpt-4o-mini"]["max_input_tokens"]
    assert bundled_window("gpt-4o-mini") == window == bundled_window("openai/gpt-4o-mini")
    assert listed("openai/gpt-4o-mini")


def test_a_local_servers_model_is_not_listed():
    assert bundled_window("openai/my-local-qwen") is None and not listed("openai/my-local-qwen")
