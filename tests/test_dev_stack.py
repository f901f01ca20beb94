"""The dev stack under the SDK's mock monitor: what `pulumi up -s dev` would declare."""

from __future__ import annotations

from tests.conftest import one_resource, plan_of, resources_of

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
VOLUME = "docker:index/volume:Volume"
MODEL = "pulumi-python:dynamic:Resource"


def test_image_is_pinned_and_the_container_runs_it() -> None:
    plan = plan_of("dev")
    image = one_resource(plan, IMAGE)
    assert image["inputs"]["name"] == "ollama/ollama:0.32.13", image["urn"]
    container = one_resource(plan, CONTAINER)
    assert container["inputs"]["image"] == "ollama/ollama:0.32.13", container["urn"]
    assert image["urn"] in container["dependencies"], f"{container['urn']} must wait for the pull"


def test_models_live_in_a_named_volume_at_root_ollama() -> None:
    plan = plan_of("dev")
    volume = one_resource(plan, VOLUME)
    assert volume["inputs"]["name"] == "llmdeploy-ollama-models"
    container = one_resource(plan, CONTAINER)
    assert container["inputs"]["volumes"] == [
        {"containerPath": "/root/.ollama", "volumeName": "llmdeploy-ollama-models"}
    ], container["urn"]


def test_port_is_published_on_loopback_only_by_default() -> None:
    container = one_resource(plan_of("dev"), CONTAINER)
    assert container["inputs"]["ports"] == [
        {"external": 11434, "internal": 11434, "ip": "127.0.0.1", "protocol": "tcp"}
    ], container["urn"]


def test_bind_address_and_host_port_are_settings() -> None:
    plan = plan_of("dev", bindAddress="0.0.0.0", hostPort=11500)
    container = one_resource(plan, CONTAINER)
    assert container["inputs"]["ports"][0] == {
        "external": 11500,
        "internal": 11434,
        "ip": "0.0.0.0",
        "protocol": "tcp",
    }
    # A client on the Docker host still reaches it on loopback.
    assert plan["outputs"]["endpoint"] == "http://127.0.0.1:11500/v1"


def test_environment_from_settings() -> None:
    container = one_resource(
        plan_of(
            "dev",
            keepAlive="30m",
            numParallel=3,
            contextLength=4096,
            origins=["http://localhost:3000"],
            httpsProxy="http://proxy.corp:3128",
            noProxy="localhost,127.0.0.1",
        ),
        CONTAINER,
    )
    assert container["inputs"]["envs"] == [
        "HTTPS_PROXY=http://proxy.corp:3128",
        "NO_PROXY=localhost,127.0.0.1",
        "OLLAMA_CONTEXT_LENGTH=4096",
        "OLLAMA_HOST=0.0.0.0:11434",
        "OLLAMA_KEEP_ALIVE=30m",
        "OLLAMA_NUM_PARALLEL=3",
        "OLLAMA_ORIGINS=http://localhost:3000",
    ], container["urn"]


def test_a_proxy_given_as_a_secret_keeps_the_environment_secret(canary: str) -> None:
    proxy = f"http://user:{canary}@proxy.corp:3128"
    plan = plan_of("dev", secrets={"httpsProxy": proxy})
    container = one_resource(plan, CONTAINER)
    assert container["inputs"]["envs"] == "[secret]", container["urn"]
    assert canary not in str(plan)


def test_gpu_restart_and_healthcheck() -> None:
    default = one_resource(plan_of("dev"), CONTAINER)["inputs"]
    assert "gpus" not in default
    assert default["restart"] == "unless-stopped"
    assert default["healthcheck"]["tests"] == ["CMD", "ollama", "list"]
    assert default["wait"] is True
    with_gpu = one_resource(plan_of("dev", gpu=True, restart="always"), CONTAINER)["inputs"]
    assert with_gpu["gpus"] == "all" and with_gpu["restart"] == "always"


def test_each_configured_model_is_pulled_after_the_container() -> None:
    plan = plan_of("dev", model="llama3.2:1b", extraModels=["nomic-embed-text"])
    container = one_resource(plan, CONTAINER)
    pulls = resources_of(plan, MODEL)
    assert sorted(p["inputs"]["model"] for p in pulls) == ["llama3.2:1b", "nomic-embed-text"]
    for pull in pulls:
        assert pull["inputs"]["base_url"] == "http://127.0.0.1:11434", pull["urn"]
        assert container["urn"] in pull["dependencies"], f"{pull['urn']} must wait for the container"
        assert pull["inputs"]["__provider"] == "[dynamic provider]"


def test_outputs_have_the_names_every_stack_uses() -> None:
    outputs = plan_of("dev")["outputs"]
    assert outputs == {
        "endpoint": "http://127.0.0.1:11434/v1",
        "engine": "ollama",
        "health_url": "http://127.0.0.1:11434/",
        "model": "llama3.2:1b",
        # metrics_url is None: Pulumi drops null outputs, so it is absent (Ollama has no metrics).
    }


def test_everything_is_inside_the_component() -> None:
    plan = plan_of("dev")
    component = one_resource(plan, "llmdeploy:components:OllamaServer")
    for resource in plan["resources"]:
        if resource is not component:
            assert resource["parent"] == component["urn"], resource["urn"]
