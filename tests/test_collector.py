"""The OpenTelemetry Collector's configuration and install steps (llmdeploy/core/collector.py).

The collector binary cannot run here (its releases are on GitHub, which this machine cannot reach),
so its `validate` command is not used: the configuration is checked against the collector's
documented structure instead: every pipeline names only components that are defined, every defined
component is used, listeners are where they must be, and nothing carries a `$` the collector would
expand.
"""

from __future__ import annotations

import json

import pytest

from llmdeploy.core.collector import (
    COLLECTOR_CONFIG_PATH,
    COLLECTOR_VERSION,
    GENERATED_ENV_REFERENCES,
    OTLP_GRPC_LISTENER,
    OTLP_HEADERS_REFERENCE,
    OTLP_HEADERS_VARIABLE,
    PROMETHEUS_EXPORT_PORT,
    CloudWatchEmf,
    CloudWatchHistograms,
    CollectorArgs,
    RemoteWrite,
    collector_config,
    collector_policy_statements,
    collector_secret_arn,
    collector_steps,
    log_group_arn,
)
from llmdeploy.core.engines import VLLM

ARGS = CollectorArgs(
    job="vllm",
    scrape_target=f"127.0.0.1:{VLLM.metrics_port}",
    metrics_path="/metrics",
    scrape_interval_seconds=60,
    labels={"AutoScalingGroupName": "llmdeploy-prod-vllm"},
)
KINDS = ("receivers", "processors", "exporters")


def assert_well_formed(config: dict) -> None:
    """The collector's own rules: pipelines reference defined components; unused ones are an error-prone
    leftover (the collector ignores them), so none here."""
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for name, pipeline in config["service"]["pipelines"].items():
        assert name.split("/", 1)[0] in ("metrics", "traces", "logs"), name
        assert pipeline["receivers"] and pipeline["exporters"], (name, pipeline)
        for kind in KINDS:
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"pipeline {name} names undefined {kind} {component}"
                used[kind].add(component)
    for kind in KINDS:
        assert set(config[kind]) == used[kind], f"defined but unused {kind}: {set(config[kind]) - used[kind]}"
    assert set(config.get("extensions", {})) == set(config["service"].get("extensions", []))
    # The only `$`s are the environment references the generator writes itself.
    text = json.dumps(config)
    for reference in GENERATED_ENV_REFERENCES:
        text = text.replace(reference, "")
    assert "$" not in text


def test_the_engine_is_scraped_on_loopback_and_re_exposed_on_its_own_port() -> None:
    config = collector_config(ARGS)
    assert_well_formed(config)
    scrape = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert scrape == [
        {
            "job_name": "vllm",
            "scrape_interval": "60s",
            "metrics_path": "/metrics",
            "static_configs": [
                {"targets": ["127.0.0.1:8000"], "labels": {"AutoScalingGroupName": "llmdeploy-prod-vllm"}}
            ],
        }
    ]
    exporter = config["exporters"]["prometheus"]
    assert exporter["endpoint"] == f"0.0.0.0:{PROMETHEUS_EXPORT_PORT}"
    assert VLLM.container_port != PROMETHEUS_EXPORT_PORT
    # vLLM's names (`vllm:num_requests_waiting`) stay as they are.
    assert exporter["add_metric_suffixes"] is False
    assert config["service"]["pipelines"] == {
        "metrics": {"receivers": ["prometheus"], "processors": ["batch"], "exporters": ["prometheus"]}
    }


def test_an_otlp_endpoint_adds_traces_and_forwards_metrics() -> None:
    config = collector_config(
        CollectorArgs(**{**ARGS.__dict__, "otlp_endpoint": "https://otel.example.com:4317"})
    )
    assert_well_formed(config)
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == OTLP_GRPC_LISTENER
    assert OTLP_GRPC_LISTENER.startswith("127.0.0.1:")
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp_grpc"]
    assert config["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus", "otlp_grpc"]


def test_a_dollar_is_refused() -> None:
    with pytest.raises(ValueError, match=r"must not contain \$"):
        collector_config(CollectorArgs(**{**ARGS.__dict__, "labels": {"x": "${HOME}"}}))


def test_install_is_pinned_and_starts_the_packaged_unit() -> None:
    steps = "\n".join(collector_steps(ARGS))
    assert f"/v{COLLECTOR_VERSION}/otelcol-contrib_{COLLECTOR_VERSION}_linux_${{arch}}.rpm" in steps
    assert f"/v{COLLECTOR_VERSION}/otelcol-contrib_{COLLECTOR_VERSION}_linux_${{arch}}.deb" in steps
    assert f"cat > {COLLECTOR_CONFIG_PATH} <<" in steps
    assert steps.endswith("systemctl restart otelcol-contrib.service")
    assert "latest" not in steps


WORKSPACE = "arn:aws:aps:eu-west-1:123456789012:workspace/ws-0123abcd-4567-89ef-0123-456789abcdef"


def test_remote_write_to_a_workspace_is_signed_and_needs_exactly_aps_remote_write() -> None:
    args = CollectorArgs(**{**ARGS.__dict__, "remote_write": RemoteWrite(WORKSPACE)})
    config = collector_config(args)
    assert_well_formed(config)
    assert config["extensions"] == {"sigv4auth": {"region": "eu-west-1", "service": "aps"}}
    assert config["service"]["extensions"] == ["sigv4auth"]
    exporter = config["exporters"]["prometheusremotewrite"]
    assert exporter["endpoint"] == (
        "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/"
        "ws-0123abcd-4567-89ef-0123-456789abcdef/api/v1/remote_write"
    )
    assert exporter["auth"] == {"authenticator": "sigv4auth"}
    assert config["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus", "prometheusremotewrite"]
    assert collector_policy_statements(args) == [
        {"Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": WORKSPACE}
    ]
    assert collector_policy_statements(ARGS) == []


def test_a_malformed_workspace_arn_is_refused() -> None:
    with pytest.raises(ValueError, match="is not a workspace ARN"):
        _ = RemoteWrite("arn:aws:aps:eu-west-1:123:workspace/x").url


OTLP = "https://otel.example.com:4317"
HEADERS_SECRET = "llmdeploy/otlp-headers"
XRAY_WRITE = {
    "Effect": "Allow",
    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    "Resource": "*",
}


def with_(**changes: object) -> CollectorArgs:
    return CollectorArgs(**{**ARGS.__dict__, **changes})


def test_otlp_headers_come_from_the_environment_never_the_config() -> None:
    args = with_(otlp_endpoint=OTLP, otlp_headers_secret=HEADERS_SECRET)
    config = collector_config(args)
    assert_well_formed(config)
    assert config["exporters"]["otlp_grpc"] == {"endpoint": OTLP, "headers": OTLP_HEADERS_REFERENCE}
    assert OTLP_HEADERS_REFERENCE == "${env:" + OTLP_HEADERS_VARIABLE + "}"
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp_grpc"]
    steps = "\n".join(collector_steps(args))
    # The secret is read by name at every collector start, into a root-only tmpfs file systemd reads.
    assert f"fetch_secret {OTLP_HEADERS_VARIABLE} {HEADERS_SECRET}" in steps
    assert "EnvironmentFile=-/run/llmdeploy-otelcol/secrets.env" in steps
    assert "ExecStartPre=+/usr/local/libexec/llmdeploy/otelcol-contrib-fetch-secrets" in steps
    # systemd unquotes EnvironmentFile= values: the JSON is single-quoted, and a quote in it refused.
    assert "printf \"%s='%s'\\n\"" in steps
    assert steps.index("systemctl daemon-reload") < steps.index("systemctl restart otelcol-contrib.service")


def test_headers_without_an_endpoint_are_refused() -> None:
    with pytest.raises(ValueError, match="without an OTLP endpoint"):
        collector_config(with_(otlp_headers_secret=HEADERS_SECRET))


def test_a_dollar_in_the_endpoint_is_still_refused() -> None:
    with pytest.raises(ValueError, match=r"must not contain \$"):
        collector_config(with_(otlp_endpoint="https://${env:X}:4317"))


def test_x_ray_gets_the_traces_pipeline_from_the_otlp_receiver() -> None:
    config = collector_config(with_(traces_to_xray=True, otlp_listener="172.17.0.1:4317"))
    assert_well_formed(config)
    assert config["exporters"]["awsxray"] == {}
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "172.17.0.1:4317"
    assert config["service"]["pipelines"]["traces"] == {
        "receivers": ["otlp"],
        "processors": ["batch"],
        "exporters": ["awsxray"],
    }
    # X-Ray takes traces only: metrics stay on Prometheus.
    assert config["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus"]
    both = collector_config(with_(traces_to_xray=True, otlp_endpoint=OTLP))
    assert both["service"]["pipelines"]["traces"]["exporters"] == ["otlp_grpc", "awsxray"]


@pytest.mark.parametrize(
    ("changes", "statements"),
    [
        ({}, []),
        (
            {"remote_write": RemoteWrite(WORKSPACE)},
            [{"Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": WORKSPACE}],
        ),
        # The headers secret is read through the role's secret policy (collector_secret_arn), not here.
        ({"otlp_endpoint": OTLP, "otlp_headers_secret": HEADERS_SECRET}, []),
        ({"traces_to_xray": True}, [XRAY_WRITE]),
        (
            {"remote_write": RemoteWrite(WORKSPACE), "traces_to_xray": True, "otlp_endpoint": OTLP},
            [{"Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": WORKSPACE}, XRAY_WRITE],
        ),
    ],
)
def test_the_role_gets_exactly_what_the_exporters_need(changes: dict, statements: list) -> None:
    assert collector_policy_statements(with_(**changes)) == statements


def test_the_headers_secret_arn_is_the_given_arn_or_the_named_secret_in_this_account() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:otlp-headers-AbCdEf"
    assert collector_secret_arn(arn, "aws", "us-east-1", "210987654321") == arn
    assert collector_secret_arn(HEADERS_SECRET, "aws", "us-east-1", "123456789012") == (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:llmdeploy/otlp-headers-??????"
    )


def test_a_collector_listening_on_dockers_bridge_starts_after_docker() -> None:
    from llmdeploy.core.collector import DOCKER_BRIDGE_OTLP_LISTENER, collector_drop_in, collector_steps

    # The packaged unit as it is: no drop-in, no daemon-reload (nor when nothing listens on the bridge).
    assert collector_drop_in(ARGS) is None
    assert collector_drop_in(with_(otlp_listener=DOCKER_BRIDGE_OTLP_LISTENER)) is None
    assert not any("daemon-reload" in line for line in collector_steps(ARGS))
    # docker0 (the bridge's gateway address) exists once Docker runs: ordered after it at every boot.
    bridge = with_(traces_to_xray=True, otlp_listener=DOCKER_BRIDGE_OTLP_LISTENER)
    drop_in = collector_drop_in(bridge)
    assert drop_in is not None
    assert drop_in.splitlines()[:3] == ["[Unit]", "Wants=docker.service", "After=docker.service"]
    assert "EnvironmentFile" not in drop_in
    steps = "\n".join(collector_steps(bridge))
    assert "After=docker.service" in steps and steps.index("daemon-reload") < steps.index("systemctl restart")
    # A headers secret adds the fetch before each start, after the ordering.
    both = collector_drop_in(with_(otlp_endpoint=OTLP, otlp_headers_secret="otlp-headers",
                                   otlp_listener=DOCKER_BRIDGE_OTLP_LISTENER))  # fmt: skip
    assert both is not None and both.index("After=docker.service") < both.index("[Service]")


EMF = CloudWatchEmf(
    namespace="llmdeploy/tgi",
    log_group="/llmdeploy/staging/tgi-metrics",
    dimensions=("Deployment",),
    metric_units={"tgi_queue_size": "Count", "vllm:kv_cache_usage_perc": "None"},
)
EMF_ARGS = CollectorArgs(
    job="tgi",
    scrape_target="127.0.0.1:9000",
    metrics_path="/metrics",
    scrape_interval_seconds=60,
    labels={"Deployment": "llmdeploy-staging-tgi"},
    cloudwatch=EMF,
)
EMF_GROUP_ARN = log_group_arn(EMF.log_group, "aws", "us-east-1", "123456789012")


def test_awsemf_sends_the_chosen_series_dimensioned_by_the_given_labels_alone() -> None:
    config = collector_config(EMF_ARGS)
    assert_well_formed(config)
    assert config["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus", "awsemf"]
    emf = config["exporters"]["awsemf"]
    assert emf["namespace"] == "llmdeploy/tgi" and emf["log_group_name"] == "/llmdeploy/staging/tgi-metrics"
    # No copy without dimensions (each would be one more billed custom metric).
    assert emf["dimension_rollup_option"] == "NoDimensionRollup"
    (declaration,) = emf["metric_declarations"]
    assert declaration["dimensions"] == [["Deployment"]]
    # Whole names; anchored with RE2's `\z` since `$` is the collector's expansion.
    assert declaration["metric_name_selectors"] == ["^tgi_queue_size\\z", "^vllm:kv_cache_usage_perc\\z"]
    assert emf["metric_descriptors"] == [
        {"metric_name": "tgi_queue_size", "unit": "Count", "overwrite": True},
        {"metric_name": "vllm:kv_cache_usage_perc", "unit": "None", "overwrite": True},
    ]


def test_awsemf_needs_the_log_stream_actions_on_its_own_log_group_only() -> None:
    assert collector_policy_statements(EMF_ARGS, EMF_GROUP_ARN) == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                "arn:aws:logs:us-east-1:123456789012:log-group:/llmdeploy/staging/tgi-metrics",
                "arn:aws:logs:us-east-1:123456789012:log-group:/llmdeploy/staging/tgi-metrics:log-stream:*",
            ],
        }
    ]
    with pytest.raises(ValueError, match="ARN of log group"):
        collector_policy_statements(EMF_ARGS)
    with pytest.raises(ValueError, match="is not the ARN of log group"):
        collector_policy_statements(EMF_ARGS, log_group_arn("/other", "aws", "us-east-1", "123456789012"))


def test_a_dollar_in_the_cloudwatch_names_is_refused() -> None:
    with pytest.raises(ValueError, match=r"must not contain \$"):
        collector_config(
            CollectorArgs(**{**EMF_ARGS.__dict__, "cloudwatch": CloudWatchEmf("ns${x}", "/g", ("D",), {})})
        )


HISTOGRAMS = CloudWatchHistograms(("tgi_request_duration", "tgi_request_queue_duration"))
HISTOGRAM_ARGS = CollectorArgs(
    job="tgi",
    scrape_target="127.0.0.1:9000",
    metrics_path="/metrics",
    scrape_interval_seconds=60,
    cloudwatch=EMF,
    cloudwatch_histograms=HISTOGRAMS,
)


def test_the_latency_histograms_go_whole_to_cloudwatchs_otlp_endpoint_in_their_own_pipeline() -> None:
    config = collector_config(HISTOGRAM_ARGS)
    assert_well_formed(config)
    # The EMF pipeline is unchanged; the histograms leave the same scrape through a filter of their own.
    assert config["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus", "awsemf"]
    assert config["service"]["pipelines"]["metrics/cloudwatch-histograms"] == {
        "receivers": ["prometheus"],
        "processors": ["filter/latency-histograms", "batch"],
        "exporters": ["otlp_http/cloudwatch"],
    }
    # OTTL: a metric is dropped when the condition holds, so everything but the two names is.
    assert config["processors"]["filter/latency-histograms"] == {
        "error_mode": "ignore",
        "metrics": {"metric": ['name != "tgi_request_duration" and name != "tgi_request_queue_duration"']},
    }
    # The region and its partition's domain come from IMDS at boot, into the collector's environment.
    assert config["exporters"]["otlp_http/cloudwatch"] == {
        "metrics_endpoint": "https://monitoring.${env:AWS_REGION}.${env:LLMDEPLOY_AWS_DOMAIN}/v1/metrics",
        "auth": {"authenticator": "sigv4auth/cloudwatch"},
    }
    assert config["extensions"]["sigv4auth/cloudwatch"] == {
        "region": "${env:AWS_REGION}",
        "service": "monitoring",
    }
    steps = "\n".join(collector_steps(HISTOGRAM_ARGS))
    assert "/latest/meta-data/placement/region" in steps and "/latest/meta-data/services/domain" in steps
    assert steps.index("llmdeploy-region.conf") < steps.index("systemctl restart otelcol-contrib.service")


def test_cloudwatch_otlp_needs_put_metric_data_and_nothing_without_histograms() -> None:
    statements = collector_policy_statements(HISTOGRAM_ARGS, EMF_GROUP_ARN)
    assert statements[1:] == [{"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*"}]
    empty = CollectorArgs(**{**HISTOGRAM_ARGS.__dict__, "cloudwatch_histograms": CloudWatchHistograms(())})
    assert "metrics/cloudwatch-histograms" not in collector_config(empty)["service"]["pipelines"]
    assert len(collector_policy_statements(empty, EMF_GROUP_ARN)) == 1
    assert "meta-data/services/domain" not in "\n".join(collector_steps(empty))


@pytest.mark.parametrize("name", ['a" or name != "b', "tgi_request_duration\\", "has space", ""])
def test_a_histogram_name_that_is_no_metric_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not a Prometheus metric name"):
        collector_config(
            CollectorArgs(
                **{**HISTOGRAM_ARGS.__dict__, "cloudwatch_histograms": CloudWatchHistograms((name,))}
            )
        )
