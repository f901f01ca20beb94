"""The pure half of `llmdeploy bench`: sweep, SLOs, cost, the result file, tables, compare, GuideLLM's report."""

from __future__ import annotations

import json

import pytest

from llmdeploy.core.bench.byte_tokenizer import byte_symbols, byte_tokenizer_files
from llmdeploy.core.bench.compare import change_mark, compare_markdown, compare_text, shared_levels
from llmdeploy.core.bench.cost import fleet_cost, usd_per_million_output_tokens
from llmdeploy.core.bench.errors import BenchInputError
from llmdeploy.core.bench.guidellm_report import levels_from_report
from llmdeploy.core.bench.judge import bench_run, gate
from llmdeploy.core.bench.render import markdown_table, text_table
from llmdeploy.core.bench.result import (
    BenchRun,
    LevelResult,
    Percentiles,
    Target,
    Tool,
    bench_result_schema,
    dump_run,
    load_run,
)
from llmdeploy.core.bench.scenario import guidellm_scenario, routes
from llmdeploy.core.bench.slo import parse_slo
from llmdeploy.core.bench.sweep import SweepSettings, parse_concurrencies, sweep_settings
from llmdeploy.core.gpus import gpu_instance_type

pytestmark = pytest.mark.unit


def level(concurrency: int, ttft_p99: float, itl_p99: float, tps: float, errors: int = 0) -> LevelResult:
    return LevelResult(
        concurrency=concurrency,
        requests_completed=100 - errors,
        requests_errored=errors,
        error_rate=errors / 100,
        duration_seconds=10.0,
        ttft_ms=Percentiles(p50=ttft_p99 / 2, p90=ttft_p99 * 0.9, p99=ttft_p99),
        itl_ms=Percentiles(p50=itl_p99 / 2, p90=itl_p99 * 0.9, p99=itl_p99),
        e2e_ms=Percentiles(p50=1000, p90=1500, p99=2000),
        output_tokens_per_second=tps,
        requests_per_second=tps / 100,
    )


def run_of(
    levels: list[LevelResult], slo: str | None = "ttft_p99=2s,itl_p99=100ms", **fleet: object
) -> BenchRun:
    return bench_run(
        created="2026-12-02T00:00:00Z",
        label="staging",
        load_generator=Tool(name="guidellm", version="0.8.1"),
        llmdeploy_version="0.1.0",
        target=Target(
            endpoint="http://x/v1",
            model="m",
            engine="tgi",
            fleet=fleet_cost(str(fleet.get("instance_type", "g5.xlarge")), 1, None, None),
        ),
        settings=SweepSettings(concurrencies=tuple(lv.concurrency for lv in levels)),
        slo=parse_slo(slo) if slo else None,
        levels=levels,
    )


# -- sweep -------------------------------------------------------------------------------------


def test_concurrency_levels_are_sorted_and_distinct() -> None:
    assert parse_concurrencies("8, 1,2,2") == (1, 2, 8)


@pytest.mark.parametrize("text", ["1,x", "0", "1,5000", ""])
def test_bad_concurrency_names_the_option_and_value(text: str) -> None:
    with pytest.raises(
        BenchInputError, match=r"^--concurrency: found .*; accepted: comma-separated whole numbers"
    ):
        parse_concurrencies(text)


@pytest.mark.parametrize(
    ("option", "kwargs"),
    [
        ("--prompt-tokens", {"prompt_tokens": 0}),
        ("--max-requests", {"max_requests": -1}),
        ("--max-seconds", {"max_seconds": 0}),
    ],
)
def test_bad_bounds_are_refused(option: str, kwargs: dict[str, float]) -> None:
    base = {
        "concurrencies": (1,),
        "prompt_tokens": 8,
        "output_tokens": 8,
        "max_requests": 5,
        "max_seconds": 5.0,
        "dataset": None,
    }
    with pytest.raises(BenchInputError, match=f"^{option}: found"):
        sweep_settings(**{**base, **kwargs})  # type: ignore[arg-type]


# -- SLO ---------------------------------------------------------------------------------------


def test_slo_parses_durations_and_fractions() -> None:
    targets = {t.name: t.limit for t in parse_slo("ttft_p99=2s, itl_p99=100ms,error_rate=1%,e2e_p50=1.5s")}
    assert targets == {"ttft_p99": 2000.0, "itl_p99": 100.0, "error_rate": 0.01, "e2e_p50": 1500.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ttft_p95=2s", "found 'ttft_p95'"),
        ("ttft_p99=2", "ttft_p99: found '2'; accepted: a duration"),
        ("error_rate=150%", "error_rate: found '150%'"),
        ("ttft_p99", "found 'ttft_p99'"),
    ],
)
def test_bad_slo_is_one_line_naming_the_value(text: str, message: str) -> None:
    with pytest.raises(BenchInputError) as raised:
        parse_slo(text)
    assert str(raised.value).startswith("--slo: ") and message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_each_level_is_judged_and_the_highest_passing_is_reported() -> None:
    run = run_of(
        [level(1, 300, 20, 50), level(4, 900, 40, 180), level(16, 2500, 90, 400), level(64, 9000, 300, 420)]
    )
    assert [lv.slo_passed for lv in run.levels] == [True, True, False, False]
    assert run.levels[2].slo_failures == ["ttft_p99 2500ms > 2000ms"]
    assert run.levels[3].slo_failures == ["ttft_p99 9000ms > 2000ms", "itl_p99 300ms > 100ms"]
    assert run.slo_max_concurrency == 4
    assert run.usd_per_million_output_tokens_at_slo == run.levels[1].usd_per_million_output_tokens


def test_gate_fails_at_a_failing_level_and_passes_at_a_passing_one() -> None:
    run = run_of([level(1, 300, 20, 50), level(16, 2500, 90, 400)])
    assert gate(run, 1) is None
    assert gate(run, 16) == "SLO fails at 16 concurrent streams: ttft_p99 2500ms > 2000ms"


def test_error_rate_target() -> None:
    run = run_of([level(1, 100, 10, 50, errors=5)], slo="error_rate=1%")
    assert run.levels[0].slo_failures == ["error_rate 5.0% > 1.0%"]
    assert run.slo_max_concurrency is None


# -- cost --------------------------------------------------------------------------------------


def test_cost_per_million_output_tokens_from_the_catalogue_price() -> None:
    known = gpu_instance_type("g5.xlarge")
    assert known is not None and known.on_demand_usd_per_hour
    fleet = fleet_cost("g5.xlarge", 2, None, None)
    assert fleet.usd_per_hour == pytest.approx(2 * known.on_demand_usd_per_hour)
    # 2 instances at $P/h making 1000 tokens/s: 3.6 M tokens an hour.
    assert usd_per_million_output_tokens(fleet.usd_per_hour, 1000.0) == pytest.approx(
        2 * known.on_demand_usd_per_hour / 3.6
    )


def test_spot_share_is_priced_only_with_a_given_spot_price() -> None:
    known = gpu_instance_type("g5.xlarge")
    assert known is not None and known.on_demand_usd_per_hour
    unpriced = fleet_cost("g5.xlarge", 3, 1, None)
    assert unpriced.usd_per_hour is None and "2 Spot instance(s) and no --spot-price" in unpriced.price_basis
    priced = fleet_cost("g5.xlarge", 3, 1, 0.4)
    assert priced.usd_per_hour == pytest.approx(known.on_demand_usd_per_hour + 2 * 0.4)
    assert usd_per_million_output_tokens(None, 100.0) is None


def test_unknown_instance_type_gets_no_cost_never_a_guess() -> None:
    fleet = fleet_cost("p9.imaginary", 1, None, None)
    assert fleet.usd_per_hour is None and "not in the GPU catalogue" in fleet.price_basis


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, None, None), "--instances: found 0"),
        ((2, 3, None), "--on-demand: found 3"),
        ((1, None, -1.0), "--spot-price"),
    ],
)
def test_bad_fleet_input(args: tuple[int, int | None, float | None], message: str) -> None:
    with pytest.raises(BenchInputError, match=message):
        fleet_cost("g5.xlarge", *args)


# -- result file, tables ------------------------------------------------------------------------


def test_result_file_round_trips_and_has_a_schema() -> None:
    run = run_of([level(1, 300, 20, 50)])
    assert load_run(dump_run(run), "a.json") == run
    schema = bench_result_schema()
    assert {"levels", "target", "settings", "load_generator", "slo_max_concurrency"} <= set(
        schema["properties"]
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "a.json: not JSON"),
        ('{"schema_version": 2}', "a.json: schema_version: "),
        ("[]", "a.json: (top level)"),
    ],
)
def test_a_bad_result_file_is_one_line(text: str, message: str) -> None:
    with pytest.raises(BenchInputError) as raised:
        load_run(text, "a.json")
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_text_and_markdown_tables_show_every_level_and_the_verdicts() -> None:
    run = run_of([level(1, 300, 20, 50), level(16, 2500, 90, 400)])
    text, markdown = text_table(run), markdown_table(run)
    for rendered in (text, markdown):
        assert "SLO ttft_p99=2s, itl_p99=100ms: met up to 1 concurrent streams" in rendered
        assert "FAIL: ttft_p99 2500ms > 2000ms" in rendered
        assert "150/270/300" in rendered  # TTFT p50/p90/p99
        assert "1 x g5.xlarge" in rendered and "guidellm 0.8.1" in rendered
    assert markdown.count("\n| ") == 4  # header, rule, two levels
    header = next(line for line in text.splitlines() if line.startswith("streams"))
    assert "TTFT p50/p90/p99 ms" in header and "$/M out tok" in header


# -- compare -----------------------------------------------------------------------------------


def test_change_marks_only_what_matters() -> None:
    assert change_mark(100.0, 105.0, lower_is_better=True) == ""
    assert change_mark(100.0, 130.0, lower_is_better=True) == "+30% worse"
    assert change_mark(100.0, 130.0, lower_is_better=False) == "+30% better"
    assert change_mark(None, 130.0, lower_is_better=False) == ""


def test_compare_marks_changes_and_flipped_verdicts() -> None:
    before = run_of([level(1, 300, 20, 50), level(16, 1500, 60, 400)])
    after = run_of([level(1, 310, 20, 52), level(16, 2500, 60, 600), level(64, 9000, 90, 700)])
    text = compare_text([before, after])
    assert shared_levels([before, after]) == [1, 16]
    assert "staging #1" in text and "staging #2" in text
    rows = [line for line in text.splitlines() if "staging #2" in line and not line.startswith("staging #2:")]
    row_1, row_16 = rows
    assert (
        "TTFT p99 ms +67% worse" in row_16 and "out tok/s +50% better" in row_16 and "SLO now fails" in row_16
    )
    assert "no change over 10%" in row_1
    assert "| staging #2 |" in compare_markdown([before, after])


def test_compare_needs_two_runs_with_a_level_in_common() -> None:
    with pytest.raises(BenchInputError, match="found 1 result file"):
        shared_levels([run_of([level(1, 1, 1, 1)])])
    with pytest.raises(BenchInputError, match="share no concurrency level"):
        shared_levels([run_of([level(1, 1, 1, 1)]), run_of([level(2, 1, 1, 1)])])


# -- GuideLLM: scenario and report ---------------------------------------------------------------


def test_routes_keep_the_v1_base_guidellm_strips() -> None:
    assert routes("http://h:8000/v1/") == (
        "http://h:8000",
        {
            "/v1/chat/completions": "v1/chat/completions",
            "/v1/completions": "v1/completions",
            "/v1/models": "v1/models",
            "/health": "v1/models",
        },
    )
    target, api_routes = routes("https://h/openai")
    assert target == "https://h/openai" and api_routes["/v1/chat/completions"] == "chat/completions"


def test_scenario_bounds_every_level_and_has_no_key() -> None:
    settings = SweepSettings(
        concurrencies=(1, 4), prompt_tokens=64, output_tokens=16, max_requests=20, max_seconds=9
    )
    scenario = guidellm_scenario(
        endpoint="http://h/v1",
        model="m",
        settings=settings,
        tokenizer="t",
        report_path="r.json",
        request_timeout_seconds=30,
    )
    spec = scenario["spec"]
    assert spec["profile"] == {"kind": "concurrent", "streams": [1, 4]}
    assert {"kind": "max_requests", "count": 20} in spec["constraints"]
    assert {"kind": "max_duration", "seconds": 9} in spec["constraints"]
    assert spec["data"] == [{"kind": "synthetic_text", "prompt_tokens": 64, "output_tokens": 16}]
    assert "api_key" not in json.dumps(scenario)


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("prompts.jsonl", {"kind": "json_file", "path": "prompts.jsonl"}),
        ("org/name", {"kind": "huggingface", "source": "org/name"}),
    ],
)
def test_dataset_source(dataset: str, expected: dict[str, str]) -> None:
    settings = SweepSettings(dataset=dataset)
    scenario = guidellm_scenario(
        endpoint="http://h/v1",
        model="m",
        settings=settings,
        tokenizer="t",
        report_path="r",
        request_timeout_seconds=1,
    )
    assert scenario["spec"]["data"] == [expected]


def test_a_report_of_another_shape_is_refused() -> None:
    with pytest.raises(BenchInputError, match=r"^GuideLLM report: metadata.version: found 1"):
        levels_from_report({"metadata": {"version": 1}, "benchmarks": []})
    with pytest.raises(BenchInputError, match=r"^GuideLLM report: metadata.version: missing"):
        levels_from_report({})


def test_byte_tokenizer_has_every_byte_once() -> None:
    symbols = byte_symbols()
    assert len(symbols) == len(set(symbols)) == 256
    assert byte_tokenizer_files()["tokenizer.json"]["model"]["vocab"]["A"] == ord("A")
