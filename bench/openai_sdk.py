"""Checks mock-upstream's four APIs with the official OpenAI Python SDK: chat completions, legacy completions,
embeddings and the Responses API, each whole and (but embeddings) streamed. The SDK must parse every answer and
report the usage the mock computed: with `tokenizer = "o200k_base"` the mock counts the prompt with o200k and
answers exactly max_tokens tokens ("ok " each), so the expected figures are known here beforehand: the prompt
"hello world hello world" is 4 tokens in o200k ("hello", " world", " hello", " world").

Not part of `cargo test` (it needs Python and `pip install openai`). Run, after `cargo build --bin mock-upstream`:
python3 bench/openai_sdk.py [path/to/mock-upstream]
"""

import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import openai

MOCK = sys.argv[1] if len(sys.argv) > 1 else "target/debug/mock-upstream"
PORT = 18391
PROMPT = "hello world hello world"
PROMPT_TOKENS = 4
ANSWER = 7  # tokens asked for


def main():
    prompt_tokens = PROMPT_TOKENS
    config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    config.write(
        f'[[providers]]\nname = "sdk"\nport = {PORT}\nmodels = ["m"]\ntokenizer = "o200k_base"\n'
        'latency = { dist = "fixed", value = "1ms" }\n'
        'stream = { ttft = { dist = "fixed", value = "1ms" }, inter_token = { dist = "fixed", value = "1ms" }, usage = true }\n'
    )
    config.close()
    mock = subprocess.Popen([MOCK, "--config", config.name], stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{PORT}/healthz")
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{PORT}/v1", api_key="unused", max_retries=0)
        checks(client, prompt_tokens)
    finally:
        mock.terminate()
        mock.wait()
        os.unlink(config.name)
    print(f"openai {openai.__version__}: all four APIs accepted, whole and streamed; usage as computed")


def checks(client, prompt_tokens):
    text = "ok " * ANSWER
    messages = [{"role": "user", "content": PROMPT}]

    c = client.chat.completions.create(model="m", messages=messages, max_tokens=ANSWER)
    expect("chat", (c.usage.prompt_tokens, c.usage.completion_tokens, c.choices[0].message.content),
           (prompt_tokens, ANSWER, text))
    chunks = list(client.chat.completions.create(model="m", messages=messages, max_tokens=ANSWER, stream=True,
                                                 stream_options={"include_usage": True}))
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    expect("chat stream", (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens, streamed),
           (prompt_tokens, ANSWER, text))

    c = client.completions.create(model="m", prompt=PROMPT, max_tokens=ANSWER)
    expect("completions", (c.usage.prompt_tokens, c.usage.completion_tokens, c.choices[0].text),
           (prompt_tokens, ANSWER, text))
    chunks = list(client.completions.create(model="m", prompt=PROMPT, max_tokens=ANSWER, stream=True,
                                            stream_options={"include_usage": True}))
    streamed = "".join(ch.choices[0].text for ch in chunks if ch.choices)
    expect("completions stream", (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens, streamed),
           (prompt_tokens, ANSWER, text))

    # The SDK asks for base64 by default and decodes it to floats; floats when asked.
    for fmt in (openai.NOT_GIVEN, "float"):
        e = client.embeddings.create(model="m", input=PROMPT, encoding_format=fmt)
        expect(f"embeddings ({fmt or 'SDK default: base64'})",
               (e.usage.prompt_tokens, e.usage.total_tokens, len(e.data), e.data[0].embedding[:2]),
               (prompt_tokens, prompt_tokens, 1, [1.0, 0.0]))
    e = client.embeddings.create(model="m", input=[PROMPT, "ping"], dimensions=3)
    expect("embeddings, two inputs", (len(e.data), e.data[1].embedding),
           (2, [0.0, 1.0, 0.0]))

    r = client.responses.create(model="m", input=messages, max_output_tokens=ANSWER)
    expect("responses", (r.usage.input_tokens, r.usage.output_tokens, r.output_text, r.status),
           (prompt_tokens, ANSWER, text, "completed"))
    events = list(client.responses.create(model="m", input=messages, max_output_tokens=ANSWER, stream=True))
    deltas = "".join(ev.delta for ev in events if ev.type == "response.output_text.delta")
    done = events[-1]
    expect("responses stream", (done.type, done.response.usage.input_tokens, done.response.usage.output_tokens,
                                deltas, [ev.sequence_number for ev in events]),
           ("response.completed", prompt_tokens, ANSWER, text, list(range(len(events)))))
    # The SDK's stream helper rebuilds the response from the events, and checks their order as it goes.
    with client.responses.stream(model="m", input=messages, max_output_tokens=ANSWER) as stream:
        final = stream.get_final_response()
    expect("responses.stream helper", (final.output_text, final.usage.output_tokens), (text, ANSWER))


def expect(what, got, want):
    if got != want:
        raise SystemExit(f"{what}: got {got!r}, expected {want!r}")
    print(f"ok  {what}: {got!r}")


def wait_for(url):
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"mock-upstream did not answer at {url}")


if __name__ == "__main__":
    main()
