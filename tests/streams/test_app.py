"""The Faust app is built from settings: brokers, credentials, topics and tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mode.utils.queues import FlowControlQueue

from schemas.config import parse_settings
from streams.app import DEDUP_PARTITIONS, KafkaSettingsError, TopicNames, client_options, create_app

SASL = """
kafka:
  bootstrap: b1:9093,b2:9093
  security_protocol: SASL_SSL
  sasl_mechanism: SCRAM-SHA-512
  sasl_username: wirewatch
  sasl_password_env: KAFKA_PASSWORD
  topic_prefix: "staging."
  topic_partitions: 6
"""


def test_sasl_settings_reach_both_clients_with_the_password_from_the_environment(tmp_path: Path) -> None:
    settings = parse_settings(SASL)
    app = create_app(settings, {"KAFKA_PASSWORD": "pw"}, data_dir=tmp_path)
    assert [str(u) for u in app.app.conf.broker] == ["kafka://b1:9093", "kafka://b2:9093"]
    assert app.app.conf.broker_credentials.username == "wirewatch"
    options = client_options(settings.kafka, {"KAFKA_PASSWORD": "pw", "KAFKA_BOOTSTRAP": "other:9092"})
    assert options["bootstrap_servers"] == ["other:9092"]
    assert (options["sasl_mechanism"], options["sasl_plain_password"]) == ("SCRAM-SHA-512", "pw")
    assert options["ssl_context"] is not None


def test_a_missing_sasl_password_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(KafkaSettingsError, match=r"kafka\.sasl_password_env"):
        create_app(parse_settings(SASL), {}, data_dir=tmp_path)


def test_topics_carry_the_prefix_and_dedup_reads_one_partition(tmp_path: Path) -> None:
    app = create_app(parse_settings(SASL), {"KAFKA_PASSWORD": "pw"}, data_dir=tmp_path)
    assert app.names == TopicNames.with_prefix("staging.")
    assert app.raw.get_topic_name() == "staging.pages.raw"
    assert app.clean.partitions == DEDUP_PARTITIONS == 1
    assert app.tagged.partitions == 6


def local_app(tmp_path: Path) -> Any:
    return create_app(parse_settings("kafka:\n  bootstrap: 127.0.0.1:9092\n"), {}, data_dir=tmp_path)


def test_resuming_flow_that_is_not_suspended_keeps_what_the_streams_were_given(tmp_path: Path) -> None:
    # Recovery resumes flow again after resuming the stream partitions: records fetched in between
    # are the current assignment's and must reach the agents.
    flow = local_app(tmp_path).app.flow_control
    buffer = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.resume()
    buffer.put_nowait("record fetched after the seek")
    flow.resume()
    assert buffer.qsize() == 1

    flow.suspend()  # a rebalance: what was fetched for the old assignment goes
    flow.resume()
    assert buffer.qsize() == 0


def test_one_poll_fits_in_an_agent_buffer_past_the_mark_where_fetching_for_it_stops(tmp_path: Path) -> None:
    # A poll that overfills one agent's buffer holds up the records of every other agent.
    app = local_app(tmp_path).app
    conf = app.conf
    buffer: FlowControlQueue[Any] = FlowControlQueue(maxsize=conf.stream_buffer_maxsize, flow_control=app.flow_control)
    assert 0 < conf.broker_max_poll_records <= buffer.maxsize - buffer.pressure_high_size
