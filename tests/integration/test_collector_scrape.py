"""The collector's scrape of the real vLLM, run by the real Prometheus server.

The prod plan's user data, and staging's with vLLM, write the OpenTelemetry Collector's configuration. Its `prometheus`
receiver takes a Prometheus scrape configuration: the language the Prometheus server itself reads
(the receiver embeds Prometheus's scrape code). So the Prometheus server (Debian's `prometheus`
package; `.ci/run` installs it) runs that very scrape job against the real vLLM CPU server, read
from the plan by the policy pack's user-data parser. Mapped for this machine only, as
`tests/fixtures/vllm_server.py` maps the engine's flags: the target (the instance's loopback port
becomes the test server's) and the interval (60 s becomes 1 s, so the test waits seconds, not minutes).

What it shows:
- every series the CloudWatch path and the dashboards read arrives with the scrape's own labels, and
  each series the `awsemf` exporter is told to send matches a real series name;
- the pipeline that sends CloudWatch the latency histograms over OTLP keeps exactly the engine's
  latency families, each a histogram of the real scrape with observations in its buckets, and drops
  every other series of it;
- the latency percentiles' PromQL on the prod dashboard is PromQL the Prometheus server accepts.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from llmdeploy.core.collector import COLLECTOR_CONFIG_PATH
from llmdeploy.core.metrics import VLLM_METRICS
from tests.fixtures.servers import LOOPBACK, ServerProcess, free_port
from tests.fixtures.vllm_server import TEST_API_KEY, RealVllm, plan_user_data

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEST_SCRAPE_INTERVAL = "1s"
LATENCY_FAMILIES = VLLM_METRICS.latency_families
# The filter processor's one condition: drop a metric unless it is one of these names (OTTL).
KEEP_ONLY = re.compile(r'name != "([^"]+)"(?: and name != "([^"]+)")*')


# The plans whose instances run a collector that scrapes vLLM, with their config overrides.
STACKS = {"prod": {}, "staging": {"engine": "vllm"}}


def collector_config_of_the_plan(stack: str) -> dict[str, Any]:
    """The collector configuration file the stack's launch template or instance writes at boot."""
    from tests.conftest import plan_of

    written = plan_user_data(plan_of(stack, **STACKS[stack])).files.get(COLLECTOR_CONFIG_PATH)
    assert written is not None, f"the {stack} user data writes no {COLLECTOR_CONFIG_PATH}"
    config: dict[str, Any] = json.loads(written.content)
    return config


def re2_to_python(selector: str) -> str:
    """awsemf's selectors are RE2, whose end of text is `\\z`; Python's is `\\Z`."""
    return selector.replace("\\z", "\\Z")


def scrape_job_for_this_machine(config: dict[str, Any], vllm: RealVllm) -> dict[str, Any]:
    """The receiver's one scrape job, its target moved to the test server and its interval to 1 s."""
    jobs = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert len(jobs) == 1, jobs
    job = json.loads(json.dumps(jobs[0]))
    [static] = job["static_configs"]
    [target] = static["targets"]
    host, _, port = target.rpartition(":")
    assert host in ("127.0.0.1", "localhost") and port.isdigit(), (
        f"the collector scrapes {target}, not loopback"
    )
    static["targets"] = [vllm.base_url.removeprefix("http://")]
    job["scrape_interval"] = TEST_SCRAPE_INTERVAL
    return dict(job)


def query(base_url: str, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    parameters = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
    url = f"{base_url}/api/v1/query?{urllib.parse.urlencode(parameters)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


@pytest.fixture(scope="module", params=sorted(STACKS))
def scrape(
    request: pytest.FixtureRequest, real_vllm: RealVllm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Traffic on the real vLLM, then the Prometheus server running the plan's scrape job on it."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError(
            "the Prometheus server is missing: install Debian's `prometheus` package "
            "(`apt-get install prometheus`; .ci/run does)"
        )
    chat = openai.OpenAI(base_url=real_vllm.endpoint, api_key=TEST_API_KEY, timeout=60, max_retries=0)
    for _ in range(4):  # every latency histogram observes something
        stream = chat.chat.completions.create(
            model=real_vllm.served_name,
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=8,
            stream=True,
            extra_body={"ignore_eos": True},
        )
        for _ in stream:
            pass
    config = collector_config_of_the_plan(request.param)
    job = scrape_job_for_this_machine(config, real_vllm)
    directory = tmp_path_factory.mktemp("prometheus")
    (directory / "prometheus.yml").write_text(json.dumps({"scrape_configs": [job]}))
    port = free_port()
    server = ServerProcess(
        "Prometheus server",
        [
            binary,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
        ],
        directory / "prometheus.log",
    )
    base_url = f"http://{LOOPBACK}:{port}"
    try:
        server.wait_until_answering(f"{base_url}/-/ready", timeout_seconds=60)
        deadline = time.monotonic() + 60
        up = f'up{{job="{job["job_name"]}"}}'
        while not any(sample["value"][1] == "1" for sample in query(base_url, up)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Prometheus never scraped the real vLLM:\n{server.log_tail()}")
            time.sleep(0.5)
        yield base_url, job, config
    finally:
        server.stop()


def test_every_series_the_stacks_read_arrives_with_the_scrape_labels(
    scrape: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    base_url, job, config = scrape
    labels = {"job": job["job_name"], **job["static_configs"][0]["labels"]}
    assert labels.keys() - {"job"}, "the scrape labels each series with where it comes from"
    wanted = [*VLLM_METRICS.scraped]
    for family in LATENCY_FAMILIES:
        wanted += [f"{family}_bucket", f"{family}_sum", f"{family}_count"]
    missing = []
    for name in wanted:
        series = query(base_url, f'{{__name__="{name}", job="{job["job_name"]}"}}')
        if not series:
            missing.append(name)
            continue
        for sample in series:
            assert labels.items() <= sample["metric"].items(), (name, sample["metric"])
    assert not missing, f"series the stacks read that the scrape did not produce: {missing}"
    scraped = {sample["metric"]["__name__"] for sample in query(base_url, f'{{job="{job["job_name"]}"}}')}
    # The collector's Prometheus receiver makes one metric of a histogram family, named as the family.
    scraped |= {name.removesuffix("_bucket") for name in scraped if name.endswith("_bucket")}
    for declaration in config["exporters"].get("awsemf", {}).get("metric_declarations", []):
        for selector in declaration["metric_name_selectors"]:
            pattern = re.compile(re2_to_python(selector))
            assert any(pattern.search(name) for name in scraped), (
                f"awsemf selector {selector} matches no series"
            )


def kept_names(condition: str) -> set[str]:
    """The names a `name != "a" and name != "b"` drop condition keeps; any other shape fails."""
    assert KEEP_ONLY.fullmatch(condition), f"not a keep-only-these-names condition: {condition}"
    return set(re.findall(r'name != "([^"]+)"', condition))


def test_the_otlp_pipeline_sends_cloudwatch_the_latency_histograms_and_nothing_else(
    scrape: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    base_url, job, config = scrape
    pipeline = config["service"]["pipelines"]["metrics/cloudwatch-histograms"]
    assert pipeline["exporters"] == ["otlp_http/cloudwatch"], pipeline
    [filter_name] = [name for name in pipeline["processors"] if name.startswith("filter/")]
    [condition] = config["processors"][filter_name]["metrics"]["metric"]
    kept = kept_names(condition)
    assert kept == set(LATENCY_FAMILIES), kept
    selector = f'job="{job["job_name"]}"'
    for family in sorted(kept):
        bounds = {
            sample["metric"]["le"]
            for sample in query(base_url, f'{{__name__="{family}_bucket", {selector}}}')
        }
        assert "+Inf" in bounds and len(bounds) > 2, f"{family} is no histogram of the scrape: {bounds}"
        [count] = query(base_url, f'sum({{__name__="{family}_count", {selector}}})')
        assert float(count["value"][1]) > 0, f"{family}: nothing observed"
    # The receiver makes one metric of a histogram or summary family, named as the family: every other
    # metric of the real scrape meets the drop condition.
    scraped = {sample["metric"]["__name__"] for sample in query(base_url, f"{{{selector}}}")}
    metrics = {re.sub(r"_(bucket|sum|count)$", "", name) for name in scraped} | scraped
    dropped = metrics - kept
    # The gauges and counters stay on the EMF path alone.
    assert set(VLLM_METRICS.scraped) <= dropped, set(VLLM_METRICS.scraped) - dropped
    assert kept <= metrics, kept - metrics


def test_the_dashboards_latency_promql_is_accepted_by_prometheus(
    scrape: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    """Prometheus parses what CloudWatch will run. It holds these histograms as classic ones, which a
    native-histogram query does not read, so the answer is empty: the syntax is what is checked."""
    from tests.conftest import plan_of

    base_url, _, _ = scrape
    [dashboard] = [
        resource
        for resource in plan_of("prod")["resources"]
        if resource["type"] == "aws:cloudwatch/dashboard:Dashboard"
    ]
    body = json.loads(dashboard["inputs"]["dashboardBody"])
    markdown = "\n".join(w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text")
    queries = re.findall(r"`(histogram_quantile\(.+?)`", markdown)
    assert len(queries) == 3 * len(LATENCY_FAMILIES), queries
    for promql in queries:
        assert query(base_url, promql) == [], promql
