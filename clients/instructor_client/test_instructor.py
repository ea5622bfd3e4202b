"""instructor over the openai SDK against the gateway's OpenAI route: TOOLS and JSON_SCHEMA modes, and its validation
retry, which sends the validation error back (a tool message carrying ``name``: accepted, listed as unused)."""

from __future__ import annotations

import instructor
import openai
import pytest
from pydantic import BaseModel, field_validator


@pytest.fixture(scope="module")
def raw(url, key):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


class City(BaseModel):
    name: str
    population: int


@pytest.mark.parametrize("mode", [instructor.Mode.TOOLS, instructor.Mode.JSON_SCHEMA])
def test_structured_output(raw, mode, unique):
    client = instructor.from_openai(raw, mode=mode)
    city = client.chat.completions.create(
        model="claude-haiku-4-5",
        response_model=City,
        messages=[{"role": "user", "content": f"The largest city in France {unique}"}],
    )
    assert isinstance(city, City)


class Picky(BaseModel):
    """Refuses its first answer, as a real validator refuses a wrong one: instructor must go round its retry loop."""

    name: str

    @field_validator("name")
    @classmethod
    def refuse_once(cls, value: str) -> str:
        Picky.seen += 1
        if Picky.seen == 1:
            raise ValueError("name must be the city's official name")
        return value


Picky.seen = 0


@pytest.mark.parametrize("mode", [instructor.Mode.TOOLS, instructor.Mode.JSON_SCHEMA])
def test_a_validation_retry(raw, mode, unique):
    Picky.seen = 0
    client = instructor.from_openai(raw, mode=mode)
    picked = client.chat.completions.create(
        model="claude-haiku-4-5",
        response_model=Picky,
        max_retries=2,
        messages=[{"role": "user", "content": f"Name a city {unique}"}],
    )
    assert isinstance(picked, Picky) and Picky.seen == 2
