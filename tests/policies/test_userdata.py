"""The pack's user-data reader on the shapes user data takes in practice (pure functions, no pack process)."""

from __future__ import annotations

import base64
import gzip
import json
import textwrap

import pytest
import yaml
from llmpolicies.dockerrun import DockerRun, EnvSetting, Publish, parse_docker_run, parse_publish, parse_size
from llmpolicies.engines import detect_engine, engine_of_image, is_pinned, metrics_port, parse_image
from llmpolicies.shell import Word, parse_script
from llmpolicies.userdata import UserData, read_user_data

TGI = "ghcr.io/huggingface/text-generation-inference:3.3.7"
VLLM = "vllm/vllm-openai:v0.31.0"


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def only_run(user_data: UserData) -> DockerRun:
    runs = user_data.docker_runs
    assert len(runs) == 1, f"expected one docker run, found {[(r.origin, r.image) for r in runs]}"
    return runs[0]


# A staging-style boot script: the token fetched at boot into an env file, a systemd unit whose ExecStart
# spans lines with backslashes, written by a quoted here-document (and an apostrophe in the description).
STAGING_SCRIPT = textwrap.dedent(f"""\
    #!/bin/bash
    set -euo pipefail
    mkdir -p /opt/tgi/data
    HF_TOKEN="$(aws secretsmanager get-secret-value --secret-id llm/staging/hf-token \\
        --query SecretString --output text)"
    cat > /etc/tgi.env <<EOF
    HF_TOKEN=${{HF_TOKEN}}
    EOF
    chmod 600 /etc/tgi.env
    cat > /etc/systemd/system/tgi.service <<'UNIT'
    [Unit]
    Description=Hugging Face's text-generation-inference
    After=docker.service
    Requires=docker.service

    [Service]
    Restart=on-failure
    TimeoutStopSec=120
    ExecStartPre=-/usr/bin/docker rm -f tgi
    ExecStart=/usr/bin/docker run --rm --name tgi --gpus all --shm-size 1g \\
        -p 8080:80 -p 9000:9000 -v /opt/tgi/data:/data --env-file /etc/tgi.env \\
        --stop-timeout 120 \\
        {TGI} \\
        --model-id meta-llama/Llama-3.1-8B-Instruct --num-shard 1 --max-input-tokens 4096 \\
        --prometheus-port 9000 --usage-stats off
    ExecStop=/usr/bin/docker stop -t 120 tgi

    [Install]
    WantedBy=multi-user.target
    UNIT
    systemctl daemon-reload
    systemctl enable --now tgi.service
""")


def test_systemd_unit_written_by_a_heredoc() -> None:
    user_data = read_user_data(STAGING_SCRIPT, base64_encoded=False)
    run = only_run(user_data)
    assert user_data.problems == []
    assert run.image == Word(TGI)
    assert run.origin == "user data → /etc/systemd/system/tgi.service"
    assert run.shm_bytes == 1024**3
    assert run.publish == [Publish("0.0.0.0", 8080, 80), Publish("0.0.0.0", 9000, 9000)]
    assert [word.text for word in run.command][:2] == ["--model-id", "meta-llama/Llama-3.1-8B-Instruct"]
    # The env file the script wrote, read back: its value is expanded when the script runs.
    assert run.env == [EnvSetting("HF_TOKEN", "${HF_TOKEN}", dynamic=True, source="--env-file")]
    assert set(user_data.files) == {"/etc/tgi.env", "/etc/systemd/system/tgi.service"}
    assert user_data.files["/etc/tgi.env"].expands
    assert not user_data.files["/etc/systemd/system/tgi.service"].expands


def test_launch_template_base64_with_line_continuations() -> None:
    script = textwrap.dedent(f"""\
        #!/bin/bash
        # vLLM on every instance of the group
        docker run -d --name vllm --restart unless-stopped \\
          --runtime nvidia --gpus all --ipc=host \\
          -p 8000:8000 \\
          -v /opt/hf:/root/.cache/huggingface \\
          -e HF_TOKEN -e VLLM_HTTP_TIMEOUT_KEEP_ALIVE=320 \\
          {VLLM} \\
          --model meta-llama/Llama-3.1-8B-Instruct --tensor-parallel-size 4 --generation-config vllm
    """)
    run = only_run(read_user_data(b64(script), base64_encoded=True))
    assert run.ipc == "host"
    assert run.image == Word(VLLM)
    assert run.env == [EnvSetting("HF_TOKEN", None), EnvSetting("VLLM_HTTP_TIMEOUT_KEEP_ALIVE", "320")]
    assert "--tensor-parallel-size" in [word.text for word in run.command]


def test_cloud_config_runcmd_and_write_files() -> None:
    unit = f"[Service]\nExecStart=/usr/bin/docker run --ipc=host -p 8000:8000 {VLLM} --model m\n"
    config = {
        "package_update": True,
        "write_files": [
            {
                "path": "/etc/systemd/system/vllm.service",
                "content": b64(gzip.compress(unit.encode())),
                "encoding": "gz+b64",
                "permissions": "0644",
            },
            {"path": "/etc/tgi.env", "content": b64("MODEL_ID=m\nPROMETHEUS_PORT=9100\n"), "encoding": "b64"},
        ],
        "runcmd": [
            ["systemctl", "enable", "--now", "vllm"],
            f"docker run -d --shm-size 2g --env-file /etc/tgi.env -p 9100:9100 {TGI}",
            ["sh", "-c", f"docker run -d --ipc=host {VLLM} --port 8001"],
        ],
    }
    user_data = read_user_data("#cloud-config\n" + yaml.safe_dump(config), base64_encoded=False)
    assert user_data.problems == []
    runs = {run.origin: run for run in user_data.docker_runs}
    assert set(runs) == {
        "user data write_files /etc/systemd/system/vllm.service",
        "user data runcmd",
        "user data runcmd (sh -c)",
    }, runs
    tgi = runs["user data runcmd"]
    assert tgi.shm_bytes == 2 * 1024**3
    assert ("PROMETHEUS_PORT", "9100") in [(env.name, env.value) for env in tgi.env]
    assert [word.text for word in runs["user data runcmd (sh -c)"].command] == ["--port", "8001"]


def test_mime_multipart_with_encoded_parts() -> None:
    shell = f"#!/bin/bash\ndocker run -d --ipc=host {VLLM}\n"
    ollama = gzip.compress(b"#!/bin/bash\ndocker run -d ollama/ollama:0.32.0\n")
    mime = textwrap.dedent(f"""\
        Content-Type: multipart/mixed; boundary="//"
        MIME-Version: 1.0

        --//
        Content-Type: text/cloud-config; charset="us-ascii"
        Content-Transfer-Encoding: 7bit
        Content-Disposition: attachment; filename="cloud-config.txt"

        #cloud-config
        runcmd:
          - docker run -d --shm-size 1g {TGI}

        --//
        Content-Type: text/x-shellscript; charset="us-ascii"
        Content-Transfer-Encoding: base64
        Content-Disposition: attachment; filename="userdata.txt"

        {b64(shell)}
        --//
        Content-Type: application/x-gzip
        Content-Transfer-Encoding: base64

        {b64(ollama)}
        --//--
    """)
    user_data = read_user_data(b64(mime), base64_encoded=True)
    assert user_data.problems == []
    images = sorted(run.image.text for run in user_data.docker_runs if run.image)
    assert images == sorted([TGI, VLLM, "ollama/ollama:0.32.0"])
    origins = sorted(run.origin for run in user_data.docker_runs)
    assert origins == [
        "user data MIME part 1 (text/cloud-config) runcmd",
        "user data MIME part 2 (text/x-shellscript)",
        "user data MIME part 3 (application/x-gzip) (gzip)",
    ]


def test_gzip_in_user_data_base64() -> None:
    script = f"#!/bin/bash\ndocker run --shm-size=1gb {TGI}\n"
    run = only_run(read_user_data(b64(gzip.compress(script.encode())), base64_encoded=True))
    assert run.shm_bytes == 1024**3
    assert run.origin == "user data (gzip)"


@pytest.mark.parametrize(
    "line",
    [
        f"sudo -E docker run --ipc=host {VLLM}",
        f"sudo -u root docker run --ipc=host {VLLM}",
        f"docker container run --ipc=host {VLLM}",
        f"docker -H unix:///var/run/docker.sock run --ipc=host {VLLM}",
        f"/usr/bin/docker run --ipc=host {VLLM} || true",
        f"if ! docker run --ipc=host {VLLM}; then exit 1; fi",
        f"env AWS_REGION=eu-west-1 nohup docker run --ipc=host {VLLM} &",
        f"bash -ec 'docker run --ipc=host {VLLM}'",
        f"podman run --ipc=host {VLLM}",
        f"docker run --ipc=host {VLLM} 2>&1 | tee /var/log/vllm.log",
    ],
)
def test_commands_around_docker_run(line: str) -> None:
    run = only_run(read_user_data(f"#!/bin/bash\n{line}\n", base64_encoded=False))
    assert run.ipc == "host" and run.image == Word(VLLM), line


def test_env_files_written_in_other_ways() -> None:
    script = textwrap.dedent(f"""\
        #!/bin/bash
        cat <<EOF > /etc/a.env
        A=1
        EOF
        tee /etc/b.env >/dev/null <<'EOF'
        B=$NOT_EXPANDED
        EOF
        echo "C=3" > /etc/c.env
        echo "D=4" >> /etc/c.env
        docker run --env-file /etc/a.env --env-file=/etc/b.env --env-file /etc/c.env {TGI}
    """)
    run = only_run(read_user_data(script, base64_encoded=False))
    assert [(env.name, env.value, env.dynamic) for env in run.env] == [
        ("A", "1", False),
        # A quoted delimiter: nothing expands, the file holds `$NOT_EXPANDED` literally.
        ("B", "$NOT_EXPANDED", False),
        ("C", "3", False),
        ("D", "4", False),
    ]


def test_unterminated_quote_is_read_as_far_as_possible() -> None:
    script = f"#!/bin/bash\ndocker run --ipc=host {VLLM} --model 'unterminated\n"
    run = only_run(read_user_data(script, base64_encoded=False))
    assert run.image == Word(VLLM)


@pytest.mark.parametrize(
    ("raw", "base64_encoded", "problem"),
    [
        ("#!/bin/bash\necho hi\n", True, "is not base64"),
        (b64(b"\x1f\x8b\x08\x00broken"), True, "does not decompress"),
        ("#include\nhttps://example.com/x.sh\n", False, "includes content from URLs"),
        ("#cloud-config\nruncmd: [\n", False, "not valid YAML"),
        (
            "#cloud-config\nwrite_files:\n  - path: /x\n    content: '!!!'\n    encoding: b64\n",
            False,
            "does not decode",
        ),
    ],
)
def test_what_cannot_be_read_is_said(raw: str, base64_encoded: bool, problem: str) -> None:
    user_data = read_user_data(raw, base64_encoded=base64_encoded)
    assert any(problem in text for text in user_data.problems), user_data.problems


# ---------------------------------------------------------------------------
# docker run arguments


def words(line: str) -> list[Word]:
    return [Word(part) for part in line.split()]


def test_clustered_short_options_and_inline_values() -> None:
    run = parse_docker_run(
        words(f"-dit -p8000:8000 -eA=1 --shm-size=2g --rm=true --name x {VLLM} --port 8000"), "t"
    )
    assert run.image == Word(VLLM)
    assert run.publish == [Publish("0.0.0.0", 8000, 8000)]
    assert run.env == [EnvSetting("A", "1")]
    assert run.shm_size == "2g"
    assert [word.text for word in run.command] == ["--port", "8000"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("8000", [Publish("0.0.0.0", None, 8000)]),
        ("8080:80", [Publish("0.0.0.0", 8080, 80)]),
        ("127.0.0.1:9000:9000", [Publish("127.0.0.1", 9000, 9000)]),
        ("[::1]:9000:9000/tcp", [Publish("::1", 9000, 9000)]),
        ("9000-9001:9000-9001", [Publish("0.0.0.0", 9000, 9000), Publish("0.0.0.0", 9001, 9001)]),
        ("53:53/udp", [Publish("0.0.0.0", 53, 53, "udp")]),
    ],
)
def test_publish_specs(spec: str, expected: list[Publish]) -> None:
    assert parse_publish(spec) == expected


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1g", 1024**3),
        ("1GB", 1024**3),
        ("1gib", 1024**3),
        ("512m", 512 * 1024**2),
        ("64000000", 64000000),
        ("1.5g", int(1.5 * 1024**3)),
        ("lots", None),
    ],
)
def test_shm_sizes_as_docker_reads_them(text: str, size: int | None) -> None:
    assert parse_size(text) == size


def test_shell_expansions_stay_one_word() -> None:
    script = (
        'docker run -e HF_TOKEN="$(aws secretsmanager get-secret-value --secret-id "x y" --query S)" img\n'
    )
    run = only_run(read_user_data(script, base64_encoded=False))
    assert run.image == Word("img")
    assert run.env[0].name == "HF_TOKEN" and run.env[0].dynamic


def test_parse_script_reads_systemd_exec_prefixes() -> None:
    parsed = parse_script("[Service]\nExecStart=-/usr/bin/docker run --ipc=host img\n", "unit")
    assert [command.argv for command in parsed.commands] == [["/usr/bin/docker", "run", "--ipc=host", "img"]]


# ---------------------------------------------------------------------------
# Engines


@pytest.mark.parametrize(
    ("image", "engine"),
    [
        (VLLM, "vllm"),
        ("docker.io/vllm/vllm-openai:v0.31.0", "vllm"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/vllm-openai:v0.31.0", "vllm"),
        (TGI, "tgi"),
        ("ollama/ollama:0.32.0", "ollama"),
        ("docker.io/ollama/ollama", "ollama"),
        ("nginx:1.27", None),
        ("myorg/ollama-proxy:1", None),
    ],
)
def test_engine_from_image(image: str, engine: str | None) -> None:
    found = engine_of_image(image)
    assert (found.name if found else None) == engine


@pytest.mark.parametrize(
    ("entrypoint", "command", "engine"),
    [
        (["vllm"], ["serve", "m"], "vllm"),
        ([], ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "m"], "vllm"),
        (["text-generation-launcher"], ["--model-id", "m"], "tgi"),
        (["/bin/ollama"], ["serve"], "ollama"),
        ([], ["python", "app.py"], None),
    ],
)
def test_engine_from_command(entrypoint: list[str], command: list[str], engine: str | None) -> None:
    found = detect_engine("custom/image:1", entrypoint, command)
    assert (found.name if found else None) == engine


def test_metrics_ports_follow_the_engines_flags() -> None:
    vllm = engine_of_image(VLLM)
    tgi = engine_of_image(TGI)
    ollama = engine_of_image("ollama/ollama:0.32.0")
    assert vllm and tgi and ollama
    assert metrics_port(vllm, ["--model", "m"], {}) == 8000
    assert metrics_port(vllm, ["--port=8001"], {}) == 8001
    assert metrics_port(tgi, [], {}) == 9000
    assert metrics_port(tgi, ["--prometheus-port", "9100"], {}) == 9100
    assert metrics_port(tgi, [], {"PROMETHEUS_PORT": "9200"}) == 9200
    assert metrics_port(ollama, [], {}) is None


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        (VLLM, True),
        ("vllm/vllm-openai:latest", False),
        ("vllm/vllm-openai", False),
        ("localhost:5000/vllm/vllm-openai", False),
        ("localhost:5000/vllm/vllm-openai:v1", True),
        ("ollama/ollama@sha256:" + "a" * 64, True),
    ],
)
def test_pinned_images(image: str, pinned: bool) -> None:
    assert is_pinned(image) is pinned, parse_image(image)


# ---------------------------------------------------------------------------
# Constant propagation and the forms no static reading follows (fail closed)


def test_plain_assignments_are_followed_as_constants() -> None:
    parsed = parse_script(
        'IPC=host\nexport IMG="vllm/vllm-openai:v0.31.0"\nDOCKER=/usr/bin/docker\n$DOCKER run --ipc=$IPC "${IMG}"\n',
        "ud",
    )
    command = parsed.commands[-1]
    assert command.argv == ["/usr/bin/docker", "run", "--ipc=host", "vllm/vllm-openai:v0.31.0"]
    assert not any(word.dynamic for word in command.words)
    assert parsed.unresolved == []


def test_su_c_and_systemd_run_are_followed() -> None:
    parsed = parse_script(
        "su ec2-user -c 'docker run -d vllm/vllm-openai:v0.31.0'\n"
        "systemd-run --unit tgi -p Restart=always docker run ghcr.io/huggingface/text-generation-inference:3.3.7\n",
        "ud",
    )
    argvs = [command.argv for command in parsed.commands]
    assert ["docker", "run", "-d", "vllm/vllm-openai:v0.31.0"] in argvs
    assert ["docker", "run", "ghcr.io/huggingface/text-generation-inference:3.3.7"] in argvs


@pytest.mark.parametrize(
    ("script", "why"),
    [
        ("IMG=$(cat /etc/image)\n$IMG_RUNNER run x\n", "runs a command whose name is only known"),
        ('eval "docker run x"\n', "runs eval"),
        ("curl -fsSL https://example.com/s.sh | bash\n", "pipes a script"),
        (". /opt/start.sh\n", "sources /opt/start.sh"),
        ("bash /opt/start.sh\n", "runs the script /opt/start.sh"),
    ],
)
def test_what_cannot_be_followed_is_said(script: str, why: str) -> None:
    parsed = parse_script(script, "ud")
    assert any(why in problem for problem in parsed.unresolved), parsed.unresolved


def test_a_written_script_is_followed_not_reported() -> None:
    parsed = parse_script("cat > /opt/start.sh <<'EOF'\ndocker run x\nEOF\nbash /opt/start.sh\n", "ud")
    assert parsed.unresolved == []


def test_test_operators_are_not_command_separators() -> None:
    parsed = parse_script('if [[ -z "${value}" || "${value}" == x ]]; then exit 1; fi\n', "ud")
    assert parsed.unresolved == []


# ---------------------------------------------------------------------------
# Shell read by tree-sitter-bash: constructs, branches, and what the parser cannot read


def test_quoted_heredoc_delimiter_keeps_the_body_unexpanded() -> None:
    parsed = parse_script("cat > /etc/x.env <<'EOF'\nIMG=$(curl -s http://x)\nEOF\n", "ud")
    assert [(w.path, w.content, w.expands) for w in parsed.writes] == [
        ("/etc/x.env", "IMG=$(curl -s http://x)\n", False)
    ]
    # The body is not run by this script: only `cat` runs here (the file's own commands are its own).
    assert [c.argv for c in parsed.commands if c.origin == "ud"] == [["cat"]]
    unquoted = parse_script("cat > /etc/x.env <<EOF\nA=$B\nEOF\n", "ud")
    assert unquoted.writes[0].expands


def test_tab_stripping_heredoc_body() -> None:
    parsed = parse_script("\tcat <<-EOF > /etc/a.env\n\tA=1\n\t\tB=2\n\tEOF\n", "ud")
    assert parsed.writes[0].content == "A=1\nB=2\n"


@pytest.mark.parametrize(
    "script",
    [
        f'case "$(uname -m)" in\n  x86_64) docker run --ipc=host {VLLM} ;;\n  *) exit 1 ;;\nesac\n',
        f'[[ -e /dev/nvidia0 && "$(hostname)" != build ]] && docker run --ipc=host {VLLM}\n',
        f'CID="$(docker run -d --ipc=host {VLLM})"\necho "$CID"\n',
        f"ID=`docker run -d --ipc=host {VLLM}`\n",
        f"start() {{\n  local port=8000\n  docker run --ipc=host {VLLM}\n}}\nstart\n",
        f"( cd /opt && docker run --ipc=host {VLLM} )\n",
        f"{{ docker run --ipc=host {VLLM}; }} > /var/log/vllm.log 2>&1\n",
        f"for i in 1 2 3; do\n  if docker run --ipc=host {VLLM}; then break; fi\ndone\n",
        f"until docker run --ipc=host {VLLM}; do sleep 5; done\n",
        f'bash <<< "docker run --ipc=host {VLLM}"\n',
        f"sudo bash <<'EOF'\ndocker run --ipc=host {VLLM}\nEOF\n",
    ],
)
def test_docker_run_found_inside_every_construct(script: str) -> None:
    run = only_run(read_user_data(f"#!/bin/bash\n{script}", base64_encoded=False))
    assert run.ipc == "host" and run.image == Word(VLLM), script


def test_unparseable_fragment_is_reported_by_line_and_the_rest_still_read() -> None:
    parsed = parse_script(f"set -e\ndocker run --ipc=host {VLLM}\nfi )\necho done\n", "ud")
    assert any(
        problem.startswith("ud line") and "shell parser cannot read" in problem
        for problem in parsed.unresolved
    ), parsed.unresolved
    assert "3" in next(p for p in parsed.unresolved if "cannot read" in p).split(":")[0]
    assert ["docker", "run", "--ipc=host", VLLM] in [c.argv for c in parsed.commands]
    assert ["echo", "done"] in [c.argv for c in parsed.commands]


def test_unclosed_construct_is_reported() -> None:
    parsed = parse_script(f"if true; then\n  docker run --ipc=host {VLLM}\n", "ud")
    assert any("expected 'fi'" in problem for problem in parsed.unresolved), parsed.unresolved
    assert ["docker", "run", "--ipc=host", VLLM] in [c.argv for c in parsed.commands]


def test_unterminated_quote_is_reported_and_read_with_the_quote_closed() -> None:
    parsed = parse_script(f"docker run --ipc=host {VLLM}\necho 'unterminated\n", "ud")
    assert any("line 2: the shell parser cannot read" in problem for problem in parsed.unresolved)
    assert ["echo", "unterminated\n"] in [c.argv for c in parsed.commands], parsed.commands


def test_written_data_files_need_no_shell_syntax_until_something_runs_them() -> None:
    data = "cat > /etc/app.json <<'EOF'\n{\"a\": [1, 2]}\nEOF\n"
    assert parse_script(data, "ud").unresolved == []
    ran = parse_script(data + "bash /etc/app.json\n", "ud")
    assert any("runs /etc/app.json, which the shell parser cannot read" in p for p in ran.unresolved), ran
    # A `#!` line makes the written file a script at once; cloud-config write_files follow the same rule.
    assert parse_script("cat > /opt/s <<'EOF'\n#!/bin/sh\nfi )\nEOF\n", "ud").unresolved
    config = {"write_files": [{"path": "/opt/s.sh", "content": "{ broken"}], "runcmd": ["sh /opt/s.sh"]}
    user_data = read_user_data("#cloud-config\n" + yaml.safe_dump(config), base64_encoded=False)
    assert any("runs /opt/s.sh, which the shell parser" in p for p in user_data.script.unresolved)


@pytest.mark.parametrize(
    ("script", "image"),
    [
        # Both branches agree: still a constant.
        ("if a; then IMG=x:1; else IMG=x:1; fi\n", Word("x:1", False, True)),
        # One branch changes it: not known after the `if`.
        ("IMG=x:1\nif a; then IMG=y:2; fi\n", Word('"$IMG"', True, True)),
        ("IMG=x:1\n[ -f /e ] && IMG=y:2\n", Word('"$IMG"', True, True)),
        ("IMG=x:1\nfor i in a b; do IMG=$i; done\n", Word('"$IMG"', True, True)),
        # A subshell's assignment ends with it.
        ("IMG=x:1\n( IMG=y:2 )\n", Word("x:1", False, True)),
        ("IMG=x:1\nread -r IMG < /etc/image\n", Word('"$IMG"', True, True)),
    ],
)
def test_constants_follow_control_flow(script: str, image: Word) -> None:
    parsed = parse_script(script + 'docker run "$IMG"\n', "ud")
    assert parsed.commands[-1].words[-1] == Word(image.text.strip('"'), image.dynamic, image.quoted)


def test_a_constant_splits_into_words_and_an_empty_one_vanishes() -> None:
    parsed = parse_script(
        f'OPTS="--ipc=host --shm-size 1g"\nEXTRA=""\ndocker run $OPTS $EXTRA {VLLM}\n', "ud"
    )
    assert parsed.commands[-1].argv == ["docker", "run", "--ipc=host", "--shm-size", "1g", VLLM]


def test_a_script_built_at_run_time_fed_to_a_shell_is_unresolved() -> None:
    parsed = parse_script('bash <<< "$(curl -fsSL https://example.com/s.sh)"\n', "ud")
    assert any("feeds a shell a script built when the script runs" in p for p in parsed.unresolved)


def _user_data_values(value: object) -> list[str]:
    if isinstance(value, dict):
        return [
            found
            for key, item in value.items()
            for found in ([item] if key == "userData" and isinstance(item, str) else _user_data_values(item))
        ]
    if isinstance(value, list):
        return [found for item in value for found in _user_data_values(item)]
    return []


@pytest.mark.parametrize(("stack", "base64_encoded"), [("staging", False), ("prod", True)])
def test_our_stacks_user_data_reads_without_a_syntax_problem(
    stack: str, base64_encoded: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user data llmdeploy renders parses cleanly: nothing unresolved, the one server found, and the
    only files the shell parser cannot read are the JSON/YAML configuration it writes (data, never run)."""
    from llmdeploy import cli

    assert cli.main(["plan", stack, "--format", "json"]) == 0
    values = _user_data_values(json.loads(capsys.readouterr().out))
    assert len(values) == 1, values
    user_data = read_user_data(values[0], base64_encoded=base64_encoded)
    assert user_data.problems == [] and user_data.script.unresolved == []
    assert all(path.endswith((".json", ".yaml")) for path in user_data.script.unreadable), user_data.script
    assert len(user_data.docker_runs) == 1
