import pytest

from fmgateway.openai_surface.answer import gateway_headers, to_response
from fmgateway.openai_surface.request import to_chat_request
from fmgateway.values.errors import InvalidRequest
from fmgateway.values.exchange import Attempt, ChatResult
from fmgateway.values.model import Model


def test_request_conversion():
    request = to_chat_request(
        {
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "user", "content": [{"type": "text", "text": "there"}]},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}]},
            ],
            "max_tokens": 50,
            "temperature": 0.7,
            "top_p": 0.9,
            "stop": "END",
        }
    )
    assert request.model == "claude-sonnet-4-5" and request.tier is None
    assert request.system == [{"text": "Be brief."}]
    assert request.messages[0] == {"role": "user", "content": [{"text": "Hi"}, {"text": "there"}]}  # merged turns
    assert request.messages[2]["content"][0] == {"image": {"format": "png", "source": {"bytes": "aGk="}}}
    assert request.inference == {"maxTokens": 50, "temperature": 0.7, "topP": 0.9, "stopSequences": ["END"]}


def test_tier_names_and_auto_are_models_too():
    assert to_chat_request({"model": "complex", "messages": [{"role": "user", "content": "x"}]}).tier == "complex"
    assert to_chat_request({"model": "auto", "messages": [{"role": "user", "content": "x"}]}).model == "auto"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "auto", "stream": True, "messages": [{"role": "user", "content": "x"}]}, "body.stream"),
        ({"model": "auto", "n": 2, "messages": [{"role": "user", "content": "x"}]}, "body.n"),
        ({"model": "auto", "messages": [{"role": "assistant", "content": "x"}]}, "first non-system message"),
        (
            {
                "model": "auto",
                "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}],
            },
            "only data:image",
        ),
    ],
)
def test_unsupported_requests_are_400(body, message):
    with pytest.raises(InvalidRequest, match=message):
        to_chat_request(body)


def test_response_shape():
    model = Model("nova-pro", "amazon.nova-pro-v1:0", "amazon", "us", 1, 1, frozenset(), frozenset(), 0, 0, "active", None)
    result = ChatResult(
        message={"role": "assistant", "content": [{"text": "Hel"}, {"text": "lo"}]},
        stop_reason="max_tokens",
        usage={"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
        model=model,
        route="tier:medium",
        attempts=[Attempt("claude-sonnet-4-5", "throttled", "ThrottlingException"), Attempt("nova-pro", "ok")],
        degraded=False,
        cost_usd=0.0001,
        overhead_ms=0.4,
    )
    body = to_response(result, "req-1", 1700000000)
    assert body["object"] == "chat.completion" and body["id"] == "chatcmpl-req-1"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello", "refusal": None},
            "finish_reason": "length",
            "logprobs": None,
        }
    ]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    headers = gateway_headers(result)
    assert headers["x-gateway-model"] == "nova-pro" and headers["x-gateway-attempts"] == "2"
    assert headers["x-gateway-degraded"] == "false" and headers["x-gateway-route"] == "tier:medium"
