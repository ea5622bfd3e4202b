import pytest

from tests.integration.conftest import BREAKER_TABLE, HEALTH_TABLE

HELLO = {"messages": [{"role": "user", "content": [{"text": "Hello"}]}]}
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
OPUS = "us.anthropic.claude-opus-4-1-20250805-v1:0"


def test_health(api):
    status, _, body = api.call("GET", "/v1/health")
    assert (status, body) == (200, {"status": "ok"})


def test_models_lists_catalog_with_lifecycle_and_breaker_state(api):
    status, _, body = api.call("GET", "/v1/models")
    assert status == 200 and body["object"] == "list"
    models = {entry["id"]: entry for entry in body["data"]}
    assert models["claude-3-5-sonnet"]["lifecycle"] == "retired"
    assert models["claude-3-5-sonnet"]["successor"] == "claude-sonnet-4-5"
    assert models["claude-sonnet-4-5"]["breaker"] == "CLOSED"
    assert models["claude-sonnet-4-5"]["tiers"] == ["medium", "complex"]


def test_models_shows_an_open_breaker_from_dynamodb(api):
    for _ in range(5):
        api.fails("ServiceUnavailableException", 503)
        api.answers()
        assert api.call("POST", "/v1/chat", {**HELLO, "tier": "medium"})[0] == 200
    item = api.dynamodb.get_item(TableName=BREAKER_TABLE, Key={"pk": {"S": f"breaker#{SONNET}"}})["Item"]
    assert item["state"]["S"] == "OPEN"
    api.gateway.breaker._cache.clear()  # as a fresh Lambda would see it
    models = {entry["id"]: entry for entry in api.call("GET", "/v1/models")[2]["data"]}
    assert models["claude-sonnet-4-5"]["breaker"] == "OPEN"


def test_models_shows_each_models_live_health_from_the_health_view(api):
    from fmgateway.health.figures import HealthFigures

    class Seen:
        def figures(self, health_key):
            if health_key == SONNET:
                return HealthFigures(calls=200, failures=10, throttles=6, p50_ms=420.0, p99_ms=1900.0, ttft_p50_ms=180.0)
            return None

    api.gateway.health_view = Seen()
    models = {entry["id"]: entry for entry in api.call("GET", "/v1/models")[2]["data"]}
    assert models["claude-sonnet-4-5"]["health"] == {
        "calls": 200,
        "errorRate": 0.05,
        "throttleRate": 0.03,
        "p50Ms": 420.0,
        "p99Ms": 1900.0,
        "ttftP50Ms": 180.0,
        "windowSeconds": 60.0,
    }
    assert models["claude-sonnet-4-5"]["breaker"] == "CLOSED"
    assert models["nova-pro"]["health"] == {
        "calls": 0,
        "errorRate": None,
        "throttleRate": None,
        "p50Ms": None,
        "p99Ms": None,
        "ttftP50Ms": None,
        "windowSeconds": 60.0,  # the configured window, even before anything was measured
    }


def test_max_cost_usd_is_honoured_or_refused_with_a_400_naming_it(api):
    status, _, body = api.call("POST", "/v1/chat", {**HELLO, "tier": "complex", "maxCostUsd": 0.000001})
    assert status == 400 and body["error"]["message"].startswith("body.maxCostUsd: 1e-06 USD is below what any candidate")
    status, _, body = api.call("POST", "/v1/chat", {**HELLO, "tier": "complex", "maxCostUsd": -1})
    assert status == 400 and "maxCostUsd" in body["error"]["message"]
    api.answers("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    status, _, body = api.call(
        "POST", "/v1/chat", {**HELLO, "tier": "complex", "inferenceConfig": {"maxTokens": 4000}, "maxCostUsd": 0.1}
    )
    assert status == 200 and body["gateway"]["model"] == "claude-sonnet-4-5"  # opus may cost 0.30 USD: not tried
    assert list(body["gateway"]["strategy"]["dropped"]) == ["claude-opus-4-1"]


def test_chat_happy_path(api):
    api.answers(SONNET, text="Hi!", input_tokens=1000, output_tokens=100)
    status, _, body = api.call("POST", "/v1/chat", {**HELLO, "model": "claude-sonnet-4-5", "inferenceConfig": {"maxTokens": 50}})
    assert status == 200
    assert body["output"]["message"]["content"] == [{"text": "Hi!"}]
    assert body["stopReason"] == "end_turn"
    gateway = body["gateway"]
    assert gateway["model"] == "claude-sonnet-4-5" and gateway["modelId"] == SONNET
    assert gateway["route"] == "alias:claude-sonnet-4-5" and gateway["degraded"] is False
    assert gateway["costUsd"] == pytest.approx(0.003 + 0.0015)
    assert gateway["usage"] == {"inputTokens": 1000, "outputTokens": 100, "totalTokens": 1100}
    assert gateway["overheadMs"] >= 0 and len(gateway["attempts"]) == 1


@pytest.mark.parametrize(("path", "model_id"), [("/v1/classify", HAIKU), ("/v1/generate", SONNET), ("/v1/analyze", OPUS)])
def test_task_routes_use_their_tier(api, path, model_id):
    api.answers(model_id)
    status, _, body = api.call("POST", path, HELLO)
    assert status == 200 and body["gateway"]["modelId"] == model_id
    assert body["gateway"]["route"].startswith("path:")


def test_task_route_rejects_model_choice(api):
    status, _, body = api.call("POST", "/v1/classify", {**HELLO, "model": "nova-pro"})
    assert status == 400 and "takes its tier from the path" in body["error"]["message"]


def test_openai_chat_completions(api):
    api.answers(HAIKU, text="Paris", input_tokens=9, output_tokens=1, stop="max_tokens")
    status, headers, body = api.call(
        "POST", "/v1/chat/completions", {"model": "simple", "messages": [{"role": "user", "content": "Capital of France?"}]}
    )
    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Paris", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    assert headers["x-gateway-model"] == "claude-haiku-4-5" and headers["x-gateway-degraded"] == "false"
    assert float(headers["x-gateway-cost-usd"]) > 0
    assert headers["x-request-id"]  # the openai SDK's _request_id, on every answer


def test_fallback_when_the_primary_is_throttled(api):
    api.fails("ThrottlingException", 429)
    api.answers("us.amazon.nova-pro-v1:0", text="from nova")
    status, _, body = api.call("POST", "/v1/chat", {**HELLO, "tier": "medium"})
    assert status == 200
    assert body["gateway"]["model"] == "nova-pro"
    assert [a["outcome"] for a in body["gateway"]["attempts"]] == ["throttled", "ok"]


def test_all_fail_then_cached_answer_is_degraded(api):
    api.answers(SONNET, text="remember me")
    assert api.call("POST", "/v1/chat", {**HELLO, "tier": "medium"})[0] == 200
    for _ in range(3):
        api.fails("ServiceUnavailableException", 503)
    status, _, body = api.call("POST", "/v1/chat", {**HELLO, "tier": "medium"})
    assert status == 200
    assert body["gateway"]["degraded"] is True
    assert body["output"]["message"]["content"] == [{"text": "remember me"}]


def test_all_fail_without_cache_is_503_with_retry_after(api):
    for _ in range(3):
        api.fails("ThrottlingException", 429)
    status, headers, body = api.call("POST", "/v1/chat", {**HELLO, "tier": "medium"})
    assert status == 503
    assert int(headers["Retry-After"]) >= 1
    assert body["error"]["code"] == "service_unavailable" and body["error"]["requestId"]


def test_bedrock_validation_error_is_400_without_fallback(api):
    api.fails("ValidationException", 400)
    status, _, body = api.call("POST", "/v1/chat", {**HELLO, "tier": "medium"})
    assert status == 400 and "rejected the request" in body["error"]["message"]


def test_bedrock_access_denied_is_502(api):
    api.fails("AccessDeniedException", 403)
    status, _, body = api.call("POST", "/v1/chat", {**HELLO, "tier": "medium"})
    assert status == 502 and body["error"]["code"] == "model_error"


@pytest.mark.parametrize(
    ("path", "body", "message", "param"),
    [
        ("/v1/chat", "{not json", "body: invalid JSON", None),
        ("/v1/chat", "[1, 2]", "body: must be a JSON object", None),
        ("/v1/chat", "", "body: a JSON object is required", None),
        ("/v1/chat", {"messages": []}, "body.messages must contain at least 1 items", "messages"),
        (
            "/v1/chat",
            {"messages": [{"role": "robot", "content": [{"text": "x"}]}]},
            "body.messages[0].role must be one of",
            "messages[0].role",
        ),
        (
            "/v1/chat",
            {**HELLO, "inferenceConfig": {"temperature": 3}},
            "body.inferenceConfig.temperature",
            "inferenceConfig.temperature",
        ),
        ("/v1/chat", {**HELLO, "tier": "huge"}, "body.tier must be one of", "tier"),
        ("/v1/chat", {**HELLO, "model": "gpt-9"}, "unknown model 'gpt-9'", "model"),
        ("/v1/chat", {**HELLO, "extra": 1}, "body must not contain", "extra"),
        ("/v1/generate", {"prompt": "x"}, "body must contain ['messages']", "messages"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, "body.model: required", "model"),
        (
            "/v1/chat/completions",
            {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "x"}]},
            "body.stream",
            "stream",
        ),
    ],
)
def test_bad_requests_are_400_with_a_message(api, path, body, message, param):
    """The error contract: OpenAI's type, the gateway's code, the field as OpenAI's ``param`` (no ``body.``)."""
    status, headers, response = api.call("POST", path, body)
    assert status == 400
    assert response["error"]["code"] == "invalid_request" and response["error"]["type"] == "invalid_request_error"
    assert message in response["error"]["message"]
    assert response["error"]["param"] == param
    assert headers["x-request-id"] == response["error"]["requestId"]


def test_body_over_the_limit_is_413(api):
    big = {"messages": [{"role": "user", "content": [{"text": "x" * 300_000}]}]}
    status, _, body = api.call("POST", "/v1/chat", big)
    assert status == 413 and body["error"]["code"] == "request_too_large"


def test_prompt_larger_than_every_context_window_is_413(api, monkeypatch):
    api.gateway.config.get().raw["limits"]["maxRequestBytes"] = 6_000_000
    status, _, body = api.call("POST", "/v1/chat", {"messages": [{"role": "user", "content": [{"text": "x " * 2_100_000}]}]})
    assert status == 413 and "context window" in body["error"]["message"]


def test_unknown_route_is_404(api):
    status, _, body = api.call("GET", "/v1/nope")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_wrong_method_is_405(api):
    status, _, body = api.call("GET", "/v1/chat")
    assert status == 405 and "use POST" in body["error"]["message"]


def test_invalid_base64_image_is_400(api):
    image = {"image": {"format": "png", "source": {"bytes": "not base64!!"}}}
    status, _, body = api.call("POST", "/v1/chat", {"messages": [{"role": "user", "content": [image]}], "tier": "medium"})
    assert status == 400 and "base64" in body["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"model": "simple", "messages": [{"role": "user", "content": ""}]},
        {"model": "simple", "messages": [{"role": "user", "content": "hi"}], "stop": [""]},
        {"model": "simple", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
    ],
)
def test_bad_openai_input_is_400_and_never_opens_a_breaker(api, body):
    for _ in range(6):  # more than the failure threshold
        status, _, response = api.call("POST", "/v1/chat/completions", body)
        assert status == 400, response
    assert api.dynamodb.scan(TableName=BREAKER_TABLE)["Items"] == []


def test_deeply_nested_json_is_400(api):
    status, _, body = api.call("POST", "/v1/chat", "[" * 50_000)
    assert status == 400 and "nested deeper than 32 levels" in body["error"]["message"]


HI = '[{"role": "user", "content": [{"text": "hi"}]}]'
HOSTILE = [
    ('{"messages": ' + HI + ', "inferenceConfig": {"temperature": NaN}}', "NaN"),
    ('{"messages": [{"role": "user", "content": [{"text": "\\ud800"}]}]}', "surrogate"),
    ('{"messages": ' + HI + ', "inferenceConfig": {"maxTokens": ' + "9" * 4301 + "}}", "range"),
    ('{"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}', "messages[0].role"),
    ('{"messages": [{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}]}', "alternate"),
    (
        '{"messages": [{"role": "user", "content": [{"document": {"format": "pdf", "name": "d", "source": {"bytes": "aGé="}}}]}]}',  # noqa: E501
        "messages[0].content[0].document.source.bytes",
    ),
]


@pytest.mark.parametrize("path", ["/v1/chat", "/v1/classify"])
@pytest.mark.parametrize(("raw", "says"), HOSTILE)
def test_hostile_converse_bodies_are_400_before_any_model_call(api, path, raw, says):
    status, _, body = api.call("POST", path, raw)  # no stubbed answer: a model call would fail the test
    assert status == 400 and says in body["error"]["message"], body
    assert set(body["error"]) == {"message", "type", "param", "code", "requestId"}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"model": "simple", "messages": [{"role": "user", "content": "hi"}], "temperature": 2.5}, "temperature"),
        (
            {"model": "simple", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "custom"}]},
            "body.tools[0].type",
        ),
        ({"model": "simple", "messages": [{"role": "assistant", "content": "hi"}]}, "role 'user'"),
        (
            {
                "model": "simple",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGé="}}]}
                ],
            },
            "body.messages[0].content[0].image_url.url",
        ),
        ({"model": "simple", "messages": [{"role": "user", "content": "   "}]}, "must not be empty"),
    ],
)
def test_hostile_openai_bodies_are_400(api, body, says):
    status, _, response = api.call("POST", "/v1/chat/completions", body)
    assert status == 400 and says in response["error"]["message"], response


def test_wrong_method_names_the_allowed_ones(api):
    status, headers, _ = api.call("DELETE", "/v1/chat")
    assert status == 405 and headers["Allow"] == "POST"


def test_the_callers_key_reaches_the_health_window_and_the_table(api):
    """The API key id from API Gateway's request context is what the per-key cap counts failures by."""
    from fmgateway.health import stats as health_stats

    api.fails("ServiceUnavailableException", 503)
    api.answers()
    assert api.call("POST", "/v1/chat", {**HELLO, "tier": "medium"})[0] == 200
    slot = f"k{health_stats.key_slot('key-1')}"
    assert api.gateway.health.totals(SONNET)[slot] == 1
    api.gateway.health.wait()
    items = api.dynamodb.scan(TableName=HEALTH_TABLE)["Items"]
    assert any(item["pk"]["S"].startswith(SONNET + "#") and item.get(slot) == {"N": "1"} for item in items)
