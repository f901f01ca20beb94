"""Print the shell commands that run `capacity_device.py` on a GPU machine.

The GPU machine gets no copy of this branch, only command lines (at most
2,000 characters each), so the commands carry the measurement script and the
bundled config.json files of the measured models, compressed and cut into
chunks: `python3 bench/capacity_device_command.py` prints one command per
line; run them in order on one machine (each but the last appends a chunk to
/tmp/payload; the last checks the payload is whole, unpacks it and measures).
It writes `$OUT/capacity_measured.json`, which goes to
`bench/results/capacity_measured.json`.

Only keys that shape the model travel (token ids, versions and loader hints are
dropped), and models whose architecture repeats another's (base vs instruct,
the AWQ checkpoint of Llama-3.1-70B) are measured once.
"""

from __future__ import annotations

import ast
import base64
import json
import lzma
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "llmdeploy" / "data" / "models"
MEASURED = (
    "meta-llama/Meta-Llama-3-8B",
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.2-3B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-72B-Instruct",
    "google/gemma-2-2b-it",
    "google/gemma-2-9b-it",
    "microsoft/Phi-3-mini-4k-instruct",
    "microsoft/phi-4",
)
DROPPED_KEYS = {
    "architectures",
    "auto_map",
    "_name_or_path",
    "transformers_version",
    "torch_dtype",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "initializer_range",
    "use_cache",
    "quantization_config",
}
LIMIT = 2000


def shaping_config(name: str) -> dict[str, object]:
    config = json.loads((MODELS / name / "config.json").read_text())
    return {key: value for key, value in config.items() if key not in DROPPED_KEYS}


def script_without_docstrings() -> str:
    tree = ast.parse((REPO / "bench" / "capacity_device.py").read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list) or not body or not isinstance(body[0], ast.Expr):
            continue
        if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body.pop(0)
            if not body:
                body.append(ast.Pass())
    return ast.unparse(tree)


CHUNK = 1900


def commands() -> list[str]:
    configs = {name: shaping_config(name) for name in MEASURED}
    program = (
        f"open('/tmp/c.json','w').write({json.dumps(configs, separators=(',', ':'))!r})\n"
        f"open('/tmp/m.py','w').write({script_without_docstrings()!r})\n"
    )
    packed = base64.b64encode(lzma.compress(program.encode(), preset=9 | lzma.PRESET_EXTREME)).decode()
    chunks = [packed[i : i + CHUNK] for i in range(0, len(packed), CHUNK)]
    lines = [f"echo -n '{chunk}' >> /tmp/payload && wc -c /tmp/payload" for chunk in chunks]
    lines[0] = lines[0].replace(">>", ">", 1)
    unpack = "import lzma,base64;exec(lzma.decompress(base64.b64decode(open('/tmp/payload').read())))"
    lines.append(
        f'test "$(wc -c < /tmp/payload)" -eq {len(packed)} || {{ echo "payload incomplete: the machine '
        f'was restarted between commands; run them all again"; exit 3; }}; python3 -c "{unpack}" && '
        f'PYTHONUNBUFFERED=1 python3 /tmp/m.py /tmp/c.json "$OUT/capacity_measured.json"'
    )
    return lines


if __name__ == "__main__":
    for line in commands():
        if len(line) > LIMIT:
            raise SystemExit(f"a command is {len(line)} characters, over the {LIMIT} the GPU machine takes")
        print(line)
