"""Fixtures of the ops tests: moto's server, the AWS test doubles beside it, the llama server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.aws_test_doubles import InstanceRefreshTestDouble, ServiceQuotasTestDouble
from tests.fixtures.moto_server import MotoServer, aws_env, moto_server

__all__ = ["aws_env", "moto_server"]


@pytest.fixture(scope="session")
def service_quotas_server() -> Iterator[ServiceQuotasTestDouble]:
    double = ServiceQuotasTestDouble()
    yield double
    double.stop()


@pytest.fixture
def quotas(
    aws_env: MotoServer, service_quotas_server: ServiceQuotasTestDouble, monkeypatch: pytest.MonkeyPatch
) -> ServiceQuotasTestDouble:
    """Service Quotas calls go to the test double (moto has no EC2 quotas); the rest to moto."""
    service_quotas_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SERVICE_QUOTAS", service_quotas_server.url)
    return service_quotas_server


@pytest.fixture(scope="session")
def instance_refresh_server(moto_server: MotoServer) -> Iterator[InstanceRefreshTestDouble]:
    double = InstanceRefreshTestDouble(moto_server)
    yield double
    double.stop()


@pytest.fixture
def refreshes(
    aws_env: MotoServer, instance_refresh_server: InstanceRefreshTestDouble, monkeypatch: pytest.MonkeyPatch
) -> InstanceRefreshTestDouble:
    """Auto Scaling calls go through the instance-refresh test double, which passes the rest to moto."""
    instance_refresh_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_AUTO_SCALING", instance_refresh_server.url)
    return instance_refresh_server
