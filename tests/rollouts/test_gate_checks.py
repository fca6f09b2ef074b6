"""Automated gate checks: config validation, one measurement against loopback fakes, and judge()."""

import itertools
import time

import pytest
from django.core.exceptions import ValidationError

from rollouts.gate_checks import (
    MeasurementResult,
    Outcome,
    clean_config,
    describe_config,
    describe_outcome,
    judge,
    measure,
    values_match,
)
from rollouts.models import GateKind, Verdict
from tests import fakes
from tests.fakes import (
    FakeHTTP,
    invalid_json,
    json_reply,
    matrix,
    prom_error,
    refused_url,
    scalar,
    slow,
    status,
    vector,
)

# The fixtures, until tests/conftest.py imports them for every test.
fake_http = fakes.fake_http
fake_prometheus = fakes.fake_prometheus

HTTP = GateKind.HTTP_CHECK
METRIC = GateKind.METRIC_THRESHOLD


def http_config(url, **overrides):
    return clean_config(HTTP, {"url": url, **overrides})


def metric_config(address, **overrides):
    raw = {"address": address, "query": "sum(rate(errors[5m]))", "success_condition": {"op": "<=", "value": 0.3}}
    return clean_config(METRIC, {**raw, **overrides})


# ---------------------------------------------------------------------------------------------
# clean_config
# ---------------------------------------------------------------------------------------------

VALID_HTTP = {"url": "https://shop.example.com/healthz"}
VALID_METRIC = {
    "address": "https://prometheus.example.com",
    "query": "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[5m])) by (le))",
    "success_condition": {"op": "<=", "value": 0.3},
}


@pytest.mark.parametrize(
    ("kind", "changes", "field", "words"),
    [
        (HTTP, {"url": ""}, "url", "URL is required"),
        (HTTP, {"url": "ftp://files.example.com/x"}, "url", "http:// or https://"),
        (HTTP, {"url": "https://"}, "url", "name a host"),
        (HTTP, {"url": "https://admin:secret@shop.example.com/"}, "url", "password"),
        (HTTP, {"url": "https://shop.example.com:99999/"}, "url", "not a valid web address"),
        (HTTP, {"url": 42}, "url", "URL"),
        (HTTP, {"expected_status": 99}, "expected_status", "Expected status must be between 100 and 599"),
        (HTTP, {"expected_status": 600}, "expected_status", "Expected status"),
        (HTTP, {"expected_status": "ok"}, "expected_status", "Expected status must be a whole number"),
        (HTTP, {"expected_status": True}, "expected_status", "Expected status"),
        (HTTP, {"json_path": "status..db", "expected_value": "ok"}, "json_path", "JSON path"),
        (HTTP, {"json_path": "status db", "expected_value": "ok"}, "json_path", "JSON path"),
        (HTTP, {"json_path": "status.db"}, "expected_value", "Expected value is needed"),
        (HTTP, {"expected_value": "ok"}, "expected_value", "JSON path"),
        (HTTP, {"interval_seconds": 1}, "interval_seconds", "Interval must be between 2 and 86400 seconds"),
        (HTTP, {"interval_seconds": 2.5}, "interval_seconds", "Interval must be a whole number of seconds"),
        (HTTP, {"count": 0}, "count", "Count must be between 1"),
        (HTTP, {"failure_limit": -1}, "failure_limit", "Failure limit"),
        (HTTP, {"count": 3, "failure_limit": 3}, "failure_limit", "smaller than the count"),
        (HTTP, {"consecutive_error_limit": -1}, "consecutive_error_limit", "Consecutive error limit"),
        (HTTP, {"timeout_seconds": 31}, "timeout_seconds", "Timeout must be between 0.1 and 30 seconds"),
        (HTTP, {"timeout_seconds": 0}, "timeout_seconds", "Timeout"),
        (HTTP, {"timeout_seconds": "soon"}, "timeout_seconds", "Timeout must be a number of seconds"),
        (HTTP, {"expected_satus": 201}, "expected_satus", "is not a setting"),
        (METRIC, {"address": ""}, "address", "Address is required"),
        (METRIC, {"address": "prometheus:9090"}, "address", "Address must start with http:// or https://"),
        (METRIC, {"address": "https://prometheus.example.com/?x=1"}, "address", "base address"),
        (METRIC, {"query": "  "}, "query", "Query is required"),
        (METRIC, {"query": ["up"]}, "query", "Query must be a PromQL expression"),
        (METRIC, {"success_condition": None}, "success_condition", "Success condition is required"),
        (METRIC, {"success_condition": {"op": "~", "value": 1}}, "success_condition", "one of < <= > >= == !="),
        (METRIC, {"success_condition": {"op": "<", "value": "low"}}, "success_condition", "compare with a number"),
        (METRIC, {"success_condition": {"op": ["<"], "value": 1}}, "success_condition", "one of < <= > >= == !="),
        (METRIC, {"success_condition": {"op": "<", "value": float("nan")}}, "success_condition", "number"),
        (METRIC, {"success_condition": "below 3"}, "success_condition", "Success condition must be a comparison"),
        (METRIC, {"failure_condition": {"op": ">"}}, "failure_condition", "Failure condition"),
        (METRIC, {"inconclusive_limit": -2}, "inconclusive_limit", "Inconclusive limit"),
        (METRIC, {"count": 2.5}, "count", "Count must be a whole number"),
        (METRIC, {"json_path": "status"}, "json_path", "is not a setting"),
    ],
)
def test_clean_config__bad_input__error_names_the_field(kind, changes, field, words):
    # Given a valid config with one thing wrong
    raw = {**(VALID_HTTP if kind == HTTP else VALID_METRIC), **changes}

    # When
    with pytest.raises(ValidationError) as caught:
        clean_config(kind, raw)

    # Then the error is keyed by that field and says what is wrong in words
    errors = caught.value.message_dict
    assert field in errors, errors
    assert any(words in message for message in errors[field]), errors[field]


def test_clean_config__several_problems__reports_each_at_once():
    with pytest.raises(ValidationError) as caught:
        clean_config(HTTP, {"url": "", "count": 0, "timeout_seconds": 99})

    assert set(caught.value.message_dict) == {"url", "count", "timeout_seconds"}


def test_clean_config__unknown_kind__error_on_kind():
    with pytest.raises(ValidationError) as caught:
        clean_config("smoke_signal", {"url": "https://x.example.com"})

    assert "smoke_signal" in caught.value.message_dict["kind"][0]


def test_clean_config__not_an_object__error_on_config():
    with pytest.raises(ValidationError) as caught:
        clean_config(HTTP, ["https://x.example.com"])

    assert "config" in caught.value.message_dict


@pytest.mark.parametrize("kind", [GateKind.MANUAL_APPROVAL, GateKind.CHECKLIST, GateKind.CI_RESULT])
def test_clean_config__kind_without_settings__empty(kind):
    assert clean_config(kind, {"url": "https://ignored.example.com"}) == {}


def test_clean_config__http_check_minimal__defaults_filled_in():
    assert clean_config(HTTP, VALID_HTTP) == {
        "url": "https://shop.example.com/healthz",
        "json_path": "",
        "expected_value": None,
        "expected_status": 200,
        "interval_seconds": 30,
        "count": 3,
        "failure_limit": 0,
        "consecutive_error_limit": 4,
        "timeout_seconds": 5,
    }


def test_clean_config__metric_minimal__defaults_filled_in():
    cleaned = clean_config(METRIC, VALID_METRIC)

    assert cleaned["failure_condition"] is None
    assert (cleaned["interval_seconds"], cleaned["count"], cleaned["failure_limit"]) == (60, 5, 0)
    assert (cleaned["inconclusive_limit"], cleaned["consecutive_error_limit"], cleaned["timeout_seconds"]) == (0, 4, 5)


def test_clean_config__form_strings__converted():
    # Given what an HTML form posts: everything as text, empty for "use the default"
    raw = {
        **VALID_METRIC,
        "success_condition": "≤ 0.3",
        "failure_condition": "> 0.5",
        "interval_seconds": "120",
        "count": " 4 ",
        "timeout_seconds": "2.5",
        "failure_limit": "",
    }

    cleaned = clean_config(METRIC, raw)

    assert cleaned["success_condition"] == {"op": "<=", "value": 0.3}
    assert cleaned["failure_condition"] == {"op": ">", "value": 0.5}
    assert (cleaned["interval_seconds"], cleaned["count"], cleaned["timeout_seconds"]) == (120, 4, 2.5)
    assert cleaned["failure_limit"] == 0


@pytest.mark.parametrize(
    ("kind", "raw"), [(HTTP, {**VALID_HTTP, "json_path": "$.checks.0.ok", "expected_value": True})]
)
def test_clean_config__its_own_output__unchanged(kind, raw):
    cleaned = clean_config(kind, raw)

    assert cleaned["json_path"] == "checks.0.ok"
    assert clean_config(kind, cleaned) == cleaned
    assert clean_config(METRIC, clean_config(METRIC, VALID_METRIC)) == clean_config(METRIC, VALID_METRIC)


# ---------------------------------------------------------------------------------------------
# describe_config
# ---------------------------------------------------------------------------------------------


def test_describe_config__metric__one_line_summary():
    config = clean_config(
        METRIC,
        {
            "address": "https://prometheus.example.com",
            "query": "histogram_quantile(0.99, rate(latency_bucket[5m]))",
            "success_condition": {"op": "<=", "value": 0.3},
        },
    )

    text = describe_config(METRIC, config, name="p99 latency")

    assert text == (
        "p99 latency: histogram_quantile(0.99, rate(latency_bucket[5m])) ≤ 0.3 every 60 s, 5 times, "
        "fail after 1 failure or 5 errors in a row, pause after 1 inconclusive result"
    )


def test_describe_config__http_check_with_json__one_line_summary():
    config = clean_config(
        HTTP,
        {
            "url": "https://shop.example.com/healthz",
            "json_path": "status.db",
            "expected_value": "ok",
            "failure_limit": 1,
        },
    )

    assert describe_config(HTTP, config) == (
        'GET https://shop.example.com/healthz answers 200 with status.db = "ok" every 30 s, 3 times, '
        "fail after 2 failures or 5 errors in a row"
    )


def test_describe_config__invalid_or_other_kinds__no_exception():
    assert describe_config(HTTP, {"url": "nope"}) == "http check with invalid settings"
    assert describe_config(GateKind.MANUAL_APPROVAL, {}) == "Manual approval"
    assert "unknown gate kind" in describe_config("carrier_pigeon", {})


# ---------------------------------------------------------------------------------------------
# measure: http_check
# ---------------------------------------------------------------------------------------------


def test_measure_http_check__expected_status__success(fake_http):
    fake_http.script(200, path="/healthz")

    result = measure(HTTP, http_config(fake_http.url("/healthz")))

    assert isinstance(result, MeasurementResult)
    assert (result.verdict, result.value) == (Verdict.SUCCESS, 200.0)
    assert result.detail["status_code"] == 200
    assert [r.path for r in fake_http.requests] == ["/healthz"]
    assert fake_http.requests[0].method == "GET"


def test_measure_http_check__other_status__failure_says_expected_and_got(fake_http):
    fake_http.script(status(503, "down for maintenance"))

    result = measure(HTTP, http_config(fake_http.url("/healthz")))

    assert (result.verdict, result.value) == (Verdict.FAILURE, 503.0)
    assert result.message == "Expected HTTP 200, got 503."
    assert result.detail["body_excerpt"] == "down for maintenance"


def test_measure_http_check__custom_expected_status__success(fake_http):
    fake_http.script(204)

    result = measure(HTTP, http_config(fake_http.url(), expected_status=204))

    assert result.verdict == Verdict.SUCCESS


def test_measure_http_check__redirect__failure_not_followed(fake_http):
    fake_http.script(status(302, headers={"Location": "https://elsewhere.example.com/"}))

    result = measure(HTTP, http_config(fake_http.url()))

    assert result.verdict == Verdict.FAILURE
    assert len(fake_http.requests) == 1


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ({"status": {"db": "ok"}}, "status.db", "ok"),
        ({"checks": [{"ok": True}]}, "checks.0.ok", True),
        ({"checks": [{"ok": True}]}, "checks.0.ok", "true"),  # typed into a form
        ({"replicas": 3}, "replicas", "3"),
        ({"replicas": 3}, "replicas", 3.0),
    ],
)
def test_measure_http_check__json_value_matches__success(fake_http, body, path, expected):
    fake_http.script(body)

    result = measure(HTTP, http_config(fake_http.url(), json_path=path, expected_value=expected))

    assert result.verdict == Verdict.SUCCESS, result.message
    assert fake_http.requests[0].headers["accept"] == "application/json"


def test_measure_http_check__json_value_differs__failure_says_expected_and_got(fake_http):
    fake_http.script({"status": {"db": "degraded"}})

    result = measure(HTTP, http_config(fake_http.url(), json_path="status.db", expected_value="ok"))

    assert (result.verdict, result.value) == (Verdict.FAILURE, 200.0)
    assert result.message == 'Expected status.db to be "ok", got "degraded".'
    assert result.detail["actual_value"] == '"degraded"'


def test_measure_http_check__json_path_missing__failure(fake_http):
    fake_http.script({"status": {}})

    result = measure(HTTP, http_config(fake_http.url(), json_path="status.db", expected_value="ok"))

    assert result.verdict == Verdict.FAILURE
    assert "has no status.db" in result.message


def test_measure_http_check__true_is_not_one__failure(fake_http):
    fake_http.script({"ok": 1})

    result = measure(HTTP, http_config(fake_http.url(), json_path="ok", expected_value=True))

    assert result.verdict == Verdict.FAILURE


def test_measure_http_check__body_not_json__error(fake_http):
    fake_http.script(invalid_json())

    result = measure(HTTP, http_config(fake_http.url(), json_path="status", expected_value="ok"))

    assert result.verdict == Verdict.ERROR
    assert "not JSON" in result.message
    assert result.detail["permanent"] is False


def test_measure_http_check__status_differs_with_json_path__failure_on_status(fake_http):
    fake_http.script(json_reply({"status": "ok"}, status=500))

    result = measure(HTTP, http_config(fake_http.url(), json_path="status", expected_value="ok"))

    assert result.message == "Expected HTTP 200, got 500."


def test_measure_http_check__slower_than_timeout__error(fake_http):
    # Given an endpoint that takes 2 s and a gate that waits 0.5 s
    fake_http.script(slow(2, json_reply({"status": "ok"})))
    started = time.monotonic()

    # When
    result = measure(HTTP, http_config(fake_http.url(), timeout_seconds=0.5))

    # Then the measurement gives up in time and reports a provider error that may be retried
    assert time.monotonic() - started < 1.8
    assert (result.verdict, result.value) == (Verdict.ERROR, None)
    assert "did not answer within 0.5 s" in result.message
    assert result.detail["permanent"] is False


def test_measure_http_check__connection_refused__error():
    result = measure(HTTP, http_config(refused_url("/healthz")))

    assert (result.verdict, result.value) == (Verdict.ERROR, None)
    assert "Could not reach 127.0.0.1" in result.message
    assert result.detail["permanent"] is False


def test_measure_http_check__private_target_not_allowed__permanent_error(fake_http, settings):
    # Given loopback is not on the allow-list
    settings.OUTBOUND_ALLOWED_NETWORKS = []

    result = measure(HTTP, http_config(fake_http.url("/healthz")))

    assert result.verdict == Verdict.ERROR
    assert "OUTBOUND_ALLOWED_NETWORKS" in result.message
    assert result.detail["permanent"] is True
    assert fake_http.requests == []


def test_measure__invalid_stored_config__permanent_error_without_request():
    result = measure(HTTP, {"url": "ftp://nope"})

    assert result.verdict == Verdict.ERROR
    assert result.detail["permanent"] is True
    assert "url" in result.detail["config_errors"]


def test_measure__kind_not_measured__value_error():
    with pytest.raises(ValueError, match="not measured"):
        measure(GateKind.MANUAL_APPROVAL, {})


# ---------------------------------------------------------------------------------------------
# measure: metric_threshold
# ---------------------------------------------------------------------------------------------

LATENCY = {"success_condition": {"op": "<=", "value": 0.3}, "failure_condition": {"op": ">", "value": 0.5}}


def test_measure_metric__meets_success_condition__success(fake_prometheus):
    fake_prometheus.script(0.21)

    result = measure(METRIC, metric_config(fake_prometheus.address, **LATENCY))

    assert (result.verdict, result.value) == (Verdict.SUCCESS, 0.21)
    assert result.message == "0.21 meets the success condition ≤ 0.3."
    assert result.detail["raw_value"] == "0.21"


def test_measure_metric__meets_failure_condition__failure(fake_prometheus):
    fake_prometheus.script(0.64)

    result = measure(METRIC, metric_config(fake_prometheus.address, **LATENCY))

    assert (result.verdict, result.value) == (Verdict.FAILURE, 0.64)
    assert result.message == "0.64 meets the failure condition > 0.5."


def test_measure_metric__meets_both__failure_wins(fake_prometheus):
    fake_prometheus.script(0.7)
    conditions = {"success_condition": {"op": "<", "value": 1}, "failure_condition": {"op": ">", "value": 0.5}}

    result = measure(METRIC, metric_config(fake_prometheus.address, **conditions))

    assert result.verdict == Verdict.FAILURE


def test_measure_metric__meets_neither__inconclusive(fake_prometheus):
    fake_prometheus.script(0.4)

    result = measure(METRIC, metric_config(fake_prometheus.address, **LATENCY))

    assert (result.verdict, result.value) == (Verdict.INCONCLUSIVE, 0.4)
    assert result.message == "0.4 meets neither the success condition ≤ 0.3 nor the failure condition > 0.5."


def test_measure_metric__no_failure_condition_and_not_success__inconclusive(fake_prometheus):
    fake_prometheus.script(0.9)

    result = measure(METRIC, metric_config(fake_prometheus.address))

    assert result.verdict == Verdict.INCONCLUSIVE


@pytest.mark.parametrize(("answer", "words"), [(vector(), "no series"), ("NaN", "NaN")])
def test_measure_metric__no_data__inconclusive(fake_prometheus, answer, words):
    fake_prometheus.script(answer)

    result = measure(METRIC, metric_config(fake_prometheus.address, **LATENCY))

    assert (result.verdict, result.value) == (Verdict.INCONCLUSIVE, None)
    assert result.message.startswith("No data")
    assert words in result.message


def test_measure_metric__provider_500__error(fake_prometheus):
    fake_prometheus.script(status(500, "internal error"))

    result = measure(METRIC, metric_config(fake_prometheus.address, **LATENCY))

    assert (result.verdict, result.value) == (Verdict.ERROR, None)
    assert "HTTP 500" in result.message
    assert result.detail["permanent"] is False


def test_measure_metric__bad_query__permanent_error_with_prometheus_reason(fake_prometheus):
    fake_prometheus.script(prom_error(400, "parse error at char 4"))

    result = measure(METRIC, metric_config(fake_prometheus.address, **LATENCY))

    assert result.verdict == Verdict.ERROR
    assert result.message == "The metrics server answered HTTP 400: parse error at char 4"
    assert result.detail["permanent"] is True


@pytest.mark.parametrize(
    "answer",
    [invalid_json(), json_reply({"status": "error", "error": "overloaded"}), json_reply({"status": "success"})],
)
def test_measure_metric__unusable_answer__error(fake_prometheus, answer):
    fake_prometheus.script(answer)

    result = measure(METRIC, metric_config(fake_prometheus.address, **LATENCY))

    assert (result.verdict, result.value) == (Verdict.ERROR, None)


def test_measure_metric__range_vector__permanent_error(fake_prometheus):
    fake_prometheus.script(matrix(0.1, 0.2))

    result = measure(METRIC, metric_config(fake_prometheus.address, **LATENCY))

    assert result.verdict == Verdict.ERROR
    assert "instant query" in result.message
    assert result.detail["permanent"] is True


def test_measure_metric__scalar_result__success(fake_prometheus):
    fake_prometheus.script(scalar(0.05))

    result = measure(METRIC, metric_config(fake_prometheus.address, **LATENCY))

    assert (result.verdict, result.value) == (Verdict.SUCCESS, 0.05)
    assert result.detail["result_type"] == "scalar"


def test_measure_metric__several_series__first_used_and_said(fake_prometheus):
    fake_prometheus.script(vector(0.1, 0.9))

    result = measure(METRIC, metric_config(fake_prometheus.address, **LATENCY))

    assert (result.verdict, result.value) == (Verdict.SUCCESS, 0.1)
    assert "first of 2 series" in result.message


def test_measure_metric__slower_than_timeout__error(fake_prometheus):
    fake_prometheus.script(slow(2, vector(0.1)))

    result = measure(METRIC, metric_config(fake_prometheus.address, timeout_seconds=0.5, **LATENCY))

    assert result.verdict == Verdict.ERROR
    assert "did not answer within 0.5 s" in result.message


def test_measure_metric__any_query__sent_unchanged(fake_prometheus):
    # Given a query with the characters that break naive URL building
    query = 'sum(rate(http_requests_total{job="api",code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) + 0 & x'
    fake_prometheus.script(0.01)

    measure(METRIC, metric_config(fake_prometheus.address, query=query, **LATENCY))

    assert fake_prometheus.queries == [query]
    assert fake_prometheus.requests[0].path == "/api/v1/query"


def test_measure_metric__address_with_trailing_slash__same_endpoint(fake_prometheus):
    fake_prometheus.script(0.01)

    result = measure(METRIC, metric_config(fake_prometheus.address + "/", **LATENCY))

    assert result.verdict == Verdict.SUCCESS
    assert fake_prometheus.requests[0].path == "/api/v1/query"


# ---------------------------------------------------------------------------------------------
# judge
# ---------------------------------------------------------------------------------------------

S, F, INC, E = Verdict.SUCCESS, Verdict.FAILURE, Verdict.INCONCLUSIVE, Verdict.ERROR
METRIC_LIMITS = {"count": 3, "failure_limit": 0, "inconclusive_limit": 0, "consecutive_error_limit": 2}


def run(config, verdicts):
    """judge() after each verdict, counting the way the engine does; returns the outcomes."""
    counts = {"success": 0, "failure": 0, "inconclusive": 0, "error": 0}
    consecutive_errors = 0
    outcomes = []
    for verdict in verdicts:
        counts[verdict] += 1
        consecutive_errors = consecutive_errors + 1 if verdict == E else 0
        outcomes.append(
            judge(
                config,
                measurement_count=sum(counts.values()),
                success_count=counts["success"],
                failure_count=counts["failure"],
                inconclusive_count=counts["inconclusive"],
                consecutive_errors=consecutive_errors,
                last_verdict=verdict,
            )
        )
    return outcomes


@pytest.mark.parametrize(
    ("limits", "verdicts", "outcome"),
    [
        ({}, [S], "continue"),
        ({}, [S, S], "continue"),
        ({}, [S, S, S], "passed"),
        ({}, [S, F], "failed"),
        ({"failure_limit": 1}, [S, F, S], "passed"),
        ({"failure_limit": 1}, [F, S, F], "failed"),
        ({}, [S, E, E, S, S], "passed"),  # errors are retried, not counted
        ({}, [S, E, E], "continue"),  # at the error limit
        ({}, [S, E, E, E], "failed"),  # errors past the limit fail
        ({}, [E, E, S, E, E, S], "continue"),  # a success resets the run of errors
        ({}, [S, S, INC], "inconclusive"),
        ({"inconclusive_limit": 1}, [S, S, INC], "continue"),  # tolerated, but does not count
        ({"inconclusive_limit": 1}, [S, S, INC, S], "passed"),  # resolved by a later success
        ({"inconclusive_limit": 1}, [S, INC, S, INC], "inconclusive"),
        ({"inconclusive_limit": 1}, [S, INC, INC, S, S], "inconclusive"),  # never passes once the limit is crossed
        ({}, [INC, F], "failed"),  # a failure past the limit beats inconclusive
        ({"count": 1}, [INC, E, S], "inconclusive"),
        ({"count": 1}, [E, S], "passed"),
    ],
)
def test_judge__sequence__outcome(limits, verdicts, outcome):
    outcomes = run({**METRIC_LIMITS, **limits}, verdicts)

    assert outcomes[-1] == outcome
    assert isinstance(outcomes[-1], Outcome)


def test_judge__inconclusive__never_passes():
    # Every sequence of up to 5 verdicts, with tolerant and strict limits
    for limits in ({}, {"inconclusive_limit": 1}, {"inconclusive_limit": 3, "failure_limit": 1}):
        config = {**METRIC_LIMITS, **limits}
        for length in range(1, 6):
            for verdicts in itertools.product([S, F, INC, E], repeat=length):
                outcome = run(config, verdicts)[-1]
                if verdicts[-1] == INC or verdicts.count(INC) > config["inconclusive_limit"]:
                    assert outcome != Outcome.PASSED, (config, verdicts)


def test_judge__measurement_count_including_errors__ignored():
    # Given a caller whose measurement_count also counts errors
    outcome = judge(
        METRIC_LIMITS,
        measurement_count=10,
        success_count=2,
        failure_count=0,
        inconclusive_count=0,
        consecutive_errors=0,
        last_verdict=S,
    )

    assert outcome == Outcome.CONTINUE


def test_judge__no_measurements_yet__continue():
    outcome = judge(
        clean_config(HTTP, VALID_HTTP),
        measurement_count=0,
        success_count=0,
        failure_count=0,
        inconclusive_count=0,
        consecutive_errors=0,
        last_verdict=None,
    )

    assert outcome == "continue"


def test_judge__count_reached_with_only_tolerated_failures__failed():
    # Only an unvalidated config tolerates as many failures as it measures
    assert run({"count": 2, "failure_limit": 2}, [F, F])[-1] == Outcome.FAILED


@pytest.mark.parametrize(
    ("outcome", "counts", "text"),
    [
        ("failed", {"failure_count": 1}, "1 measurement failed; 0 failures are tolerated."),
        ("failed", {"consecutive_errors": 3}, "3 errors in a row could not measure the gate; 2 are tolerated."),
        ("inconclusive", {"inconclusive_count": 1}, "1 inconclusive result (0 tolerated): a person must decide"),
        ("passed", {"success_count": 3}, "3 of 3 measurements succeeded."),
        ("continue", {"success_count": 1}, "1 of 3 measurements taken."),
    ],
)
def test_describe_outcome__each_outcome__says_why(outcome, counts, text):
    full = {"success_count": 0, "failure_count": 0, "inconclusive_count": 0, "consecutive_errors": 0, **counts}

    assert describe_outcome(METRIC_LIMITS, outcome, **full).startswith(text)


# ---------------------------------------------------------------------------------------------
# Together, and the fakes themselves
# ---------------------------------------------------------------------------------------------


def test_metric_gate__scripted_run__passes_after_count(fake_prometheus):
    # Given a metric that is good, missing once, then good again
    fake_prometheus.script(0.1, "NaN", 0.2, 0.15)
    config = metric_config(fake_prometheus.address, count=3, inconclusive_limit=1, **LATENCY)

    # When measured until judged
    verdicts = [measure(METRIC, config).verdict for _ in range(4)]

    # Then
    assert verdicts == [S, INC, S, S]
    assert run(config, verdicts) == ["continue", "continue", "continue", "passed"]
    assert len(fake_prometheus.queries) == 4


def test_values_match__text_and_json__compared_as_json():
    assert values_match("ok", "ok")
    assert values_match(None, "null")
    assert values_match(2, 2.0)
    assert not values_match("2", 2)
    assert not values_match(False, 0)
    assert not values_match({"a": 1}, {"a": True})


def test_fake_prometheus__script_exhausted__last_answer_repeats(fake_prometheus):
    fake_prometheus.script(0.1, 0.2)
    config = metric_config(fake_prometheus.address, **LATENCY)

    values = [measure(METRIC, config).value for _ in range(3)]

    assert values == [0.1, 0.2, 0.2]


def test_fake_http__per_path_scripts__answered_separately(fake_http):
    fake_http.script(503, path="/a")
    fake_http.script(204)

    assert measure(HTTP, http_config(fake_http.url("/a"))).value == 503.0
    assert measure(HTTP, http_config(fake_http.url("/b"))).value == 204.0


def test_fake_http__stopped_while_a_reply_waits__stops_quickly_and_refuses():
    # Given a server sleeping through a 10 s reply for a client that gave up
    fake = FakeHTTP().start()
    fake.script(slow(10))
    url = fake.url()
    measure(HTTP, http_config(url, timeout_seconds=0.2))

    # When
    started = time.monotonic()
    fake.stop()

    # Then teardown does not wait the 10 s out, and the port no longer answers
    assert time.monotonic() - started < 2
    assert measure(HTTP, http_config(url)).verdict == Verdict.ERROR
