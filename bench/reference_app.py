"""The reference of bench/read_api.py: a bare FastAPI route returning constant JSON."""

from fastapi import FastAPI

app = FastAPI()
PAYLOAD = {"deep_link": "https://www.moncompteformation.gouv.fr/espace-prive/html/#/formation/x"}


@app.get("/constant")
async def constant() -> dict[str, str]:
    return PAYLOAD
