"""A Python agent backend using the vault over HTTP with the standard library only.

Usage: python-client.py BASE_URL TOKEN TENANT SESSION
Appends a conversation with a tool call and its result, then reads back the replayed
state and prints one JSON object with what it saw.
"""
import json
import sys
import urllib.error
import urllib.request

base, token, tenant, session = sys.argv[1:5]


def call(method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, json.loads(res.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode("utf-8"))


events = f"/v1/tenants/{tenant}/sessions/{session}/events"
turn1 = call("POST", events, {"agent": "py-agent", "events": [
    {"type": "message", "role": "system", "content": "You are a careful insurance assistant."},
    {"type": "message", "role": "user", "content": "What does policy P-77 cover? Ünïcödé ✓"},
    {"type": "tool_call", "callId": "c1", "tool": "lookup_policy", "input": {"policy": "P-77"}},
]}, {"X-Correlation-Id": "py-turn-1", "Idempotency-Key": "turn-1"})
retry = call("POST", events, {"events": [
    {"type": "message", "role": "system", "content": "You are a careful insurance assistant."},
    {"type": "message", "role": "user", "content": "What does policy P-77 cover? Ünïcödé ✓"},
    {"type": "tool_call", "callId": "c1", "tool": "lookup_policy", "input": {"policy": "P-77"}},
]}, {"Idempotency-Key": "turn-1"})
turn2 = call("POST", events, {"events": [
    {"type": "tool_result", "callId": "c1", "output": {"covers": ["fire", "flood"]}, "durationMs": 12},
    {"type": "state_patch", "scope": "world", "patch": {"policy": "P-77"}},
    {"type": "message", "role": "assistant", "content": "P-77 covers fire and flood.",
     "usage": {"promptTokens": 120, "completionTokens": 9}, "costUsd": 0.0004},
]}, {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
bad = call("POST", events, {"events": [{"type": "message", "role": "robot", "content": "x"}]})
status, state = call("GET", f"/v1/tenants/{tenant}/sessions/{session}/state")
_, early = call("GET", f"/v1/tenants/{tenant}/sessions/{session}/state?atSeq=2")
print(json.dumps({
    "turn1": turn1, "retry": retry, "turn2": turn2, "bad": bad, "stateStatus": status,
    "agent": state["agent"], "lastSeq": state["lastSeq"],
    "messages": [[m["role"], m["content"], m["correlationId"]] for m in state["messages"]],
    "toolCalls": [[c["tool"], c["input"], c["output"], c["durationMs"]] for c in state["toolCalls"]],
    "worldState": state["worldState"], "usage": state["usage"],
    "earlyMessages": len(early["messages"]),
}))
