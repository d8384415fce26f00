from tests.api.conftest import listening, port  # noqa: F401 - the API's socket fixtures
