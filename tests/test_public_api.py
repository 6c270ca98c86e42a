import assistant


def test_exported_members_are_importable_and_listed() -> None:
    for name in assistant.__all__:
        assert hasattr(assistant, name), name
    public = {n for n in dir(assistant) if not n.startswith("_") and n[0].isupper()}
    modules = {"embeddings", "errors", "index", "library", "settings", "taxonomy", "types", "store", "text",
               "tokens", "retrieval", "answering", "extractive"}
    assert public - set(assistant.__all__) - modules == set()


def test_error_tree() -> None:
    assert issubclass(assistant.NotFound, assistant.InputError)
    for cls in (assistant.ConfigError, assistant.InputError, assistant.BackendError, assistant.PermissionDenied):
        assert issubclass(cls, assistant.CasepilotError)
    assert assistant.InputError.exit_code == 2 and assistant.ConfigError.exit_code == 1
