"""The official `openai` Python package driving the Portico gateway with an issued key.

Run by tests/it/gateway/dataplane.rs: python3 openai_sdk.py BASE_URL KEY MODEL LIMITED_KEY LIMITED_MODEL
"""
import sys

import openai

base_url, key, model, limited_key, limited_model = sys.argv[1:6]
client = openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)

completion = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "hello sdk"}]
)
assert completion.choices[0].message.content == "hello sdk", completion
assert completion.usage.total_tokens > 0, completion

stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "streamed words here"}],
    stream=True,
    stream_options={"include_usage": True},
)
text = ""
usage = None
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
    if chunk.usage:
        usage = chunk.usage
assert text == "streamed words here", text
assert usage is not None and usage.completion_tokens == 3, usage

assert [m.id for m in client.models.list()] == [model]

try:
    openai.OpenAI(base_url=base_url + "/v1", api_key="pk-wrong", max_retries=0).models.list()
    raise SystemExit("a bad key was accepted")
except openai.AuthenticationError:
    pass

limited = openai.OpenAI(base_url=base_url + "/v1", api_key=limited_key, max_retries=0)
limited.chat.completions.create(model=limited_model, messages=[{"role": "user", "content": "a"}])
try:
    limited.chat.completions.create(model=limited_model, messages=[{"role": "user", "content": "b"}])
    raise SystemExit("the model's limit was not enforced")
except openai.RateLimitError as error:
    assert int(error.response.headers["retry-after"]) >= 1

print("openai sdk ok")
