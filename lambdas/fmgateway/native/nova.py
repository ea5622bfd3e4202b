"""Amazon Nova's InvokeModel body (``schemaVersion: messages-v1``) <-> Converse: the same messages, other names for
the inference settings. Nova takes both spellings in ``inferenceConfig``, and so does the gateway (AWS's own Nova
Invoke examples use the camel-case ones): ``max_new_tokens`` / ``maxTokens``, ``top_p`` / ``topP``, ``top_k`` /
``topK``, ``stopSequences``; the same setting under both names is a 400."""

from __future__ import annotations

from typing import Any

from fmgateway.native.bodies import Untranslatable, check_fields, invocation_metrics, require, usage

FAMILY = "Amazon Nova (messages-v1)"
MAX_TOKENS = ("inferenceConfig", "max_new_tokens")  # where the body says how long the answer may be
MAX_TOKENS_PATHS = (MAX_TOKENS, ("inferenceConfig", "maxTokens"))  # either spelling is capped to the model's limit
FIELDS = frozenset({"schemaVersion", "system", "messages", "inferenceConfig", "toolConfig"})
INFERENCE = {
    "max_new_tokens": "maxTokens",
    "maxTokens": "maxTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "topP": "topP",
    "stopSequences": "stopSequences",
}
SETTINGS = {**INFERENCE, "top_k": "topK", "topK": "topK"}  # both spellings, to the Converse name
STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "content_filtered", "guardrail_intervened"}


def request_to_converse(body: dict[str, Any]) -> dict[str, Any]:
    check_fields(body, FIELDS, FAMILY)
    require(body.get("schemaVersion", "messages-v1") == "messages-v1", "body.schemaVersion", "must be 'messages-v1'")
    require(isinstance(body.get("messages"), list) and body["messages"], "body.messages", "a non-empty list is required")
    converse: dict[str, Any] = {"messages": body["messages"]}
    if body.get("system"):
        require(isinstance(body["system"], list), "body.system", "a list of text blocks")
        converse["system"] = body["system"]
    config = body.get("inferenceConfig") or {}
    require(isinstance(config, dict), "body.inferenceConfig", "an object")
    inference: dict[str, Any] = {}
    seen: dict[str, str] = {}  # Converse setting -> the name it was sent under
    for name, value in config.items():
        setting = SETTINGS.get(name)
        require(setting is not None, f"body.inferenceConfig.{name}", f"not a Nova inference setting ({', '.join(SETTINGS)})")
        assert setting is not None
        require(setting not in seen, f"body.inferenceConfig.{name}", f"the same setting as {seen.get(setting)}: send one")
        seen[setting] = name
        if setting == "topK":
            converse["additionalModelRequestFields"] = {"inferenceConfig": {"topK": value}}
        else:
            inference[setting] = value
    if inference:
        converse["inferenceConfig"] = inference
    if body.get("toolConfig"):
        converse["toolConfig"] = body["toolConfig"]
    return converse


def converse_to_request(converse: dict[str, Any]) -> dict[str, Any]:
    extra = converse.get("additionalModelRequestFields") or {}
    top_k = (extra.get("inferenceConfig") or {}).get("topK")
    if set(extra) - {"inferenceConfig"} or set(extra.get("inferenceConfig") or {}) - {"topK"}:
        raise Untranslatable(f"Nova has no equivalent of additionalModelRequestFields {sorted(extra)}")
    for name in ("guardrailConfig", "outputConfig", "promptVariables"):
        if converse.get(name):
            raise Untranslatable(f"a Nova InvokeModel body has no equivalent of {name}")
    body: dict[str, Any] = {"schemaVersion": "messages-v1", "messages": converse["messages"]}
    if converse.get("system"):
        body["system"] = converse["system"]
    names = {converse_name: native for native, converse_name in INFERENCE.items()}
    inference = {names[name]: value for name, value in (converse.get("inferenceConfig") or {}).items() if name in names}
    if top_k is not None:
        inference["top_k"] = top_k
    if inference:
        body["inferenceConfig"] = inference
    if converse.get("toolConfig"):
        body["toolConfig"] = converse["toolConfig"]
    return body


def response_to_converse(native: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    tokens = native.get("usage") or {}
    stop = native.get("stopReason") or "end_turn"
    message = (native.get("output") or {}).get("message") or {"role": "assistant", "content": []}
    return {
        "output": {"message": {"role": "assistant", "content": message.get("content", [])}},
        "stopReason": stop if stop in STOP_REASONS else "end_turn",
        "usage": usage(int(tokens.get("inputTokens", 0)), int(tokens.get("outputTokens", 0))),
    }


def converse_to_response(converse: dict[str, Any], model_id: str) -> dict[str, Any]:
    return {
        "output": {"message": converse["output"]["message"]},
        "stopReason": converse.get("stopReason", "end_turn"),
        "usage": converse.get("usage") or usage(0, 0),
    }


class StreamRenderer:
    """ConverseStream events -> Nova's InvokeModelWithResponseStream chunks: the same events, one per chunk."""

    def __init__(self, model_id: str):
        self.model_id = model_id

    def feed(self, name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        if name == "metadata":
            tokens = data.get("usage") or {}
            metrics = invocation_metrics(data)
            return [{"metadata": {"usage": tokens, "metrics": {}, "trace": {}}, "amazon-bedrock-invocationMetrics": metrics}]
        return [{name: data}]
