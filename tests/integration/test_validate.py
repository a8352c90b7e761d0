"""`weir validate CONFIG` and `weir --help-config`: the example config is
valid; a broken one exits 2 and names every problem by key path; secrets
are never echoed."""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_example_configs_are_valid(run_weir):
    examples = sorted((ROOT / "examples").glob("*.json"))
    assert len(examples) >= 2
    for ex in examples:
        r = run_weir("validate", str(ex))
        assert r.returncode == 0, (ex, r.stderr)
        n = len(json.loads(ex.read_text())["pipelines"])
        assert f"ok ({n} pipeline{'s' if n > 1 else ''})" in r.stdout


def test_broken_config_reports_every_key_path(tmp_path, run_weir):
    cfg = {"pipelines": [{
        "name": "bad name",
        "checkpoint": "/tmp/x",
        "trigger": {"interval": "5 parsecs"},
        "source": {"kafka": {"topics": ["t"], "kafka": {"sasl.password": "hunter2-secret"},
                             "max_offsets_per_trigger": -3}},
        "transform": [{"decode": {"format": "json", "schema": "id LONG, x NOPE"}}, {"explode": "x"}],
        "sink": {"delta": {"path": "/d", "partiton_by": ["day"]}},
    }]}
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg))
    r = run_weir("validate", str(p))
    assert r.returncode == 2, (r.returncode, r.stderr)
    for path in ("pipelines[0].name", "pipelines[0].trigger.interval",
                 "pipelines[0].source.kafka.bootstrap_servers",
                 "pipelines[0].source.kafka.max_offsets_per_trigger",
                 "pipelines[0].transform[0].decode.schema", "pipelines[0].transform[1]",
                 "pipelines[0].sink.delta.partiton_by"):
        assert path in r.stderr, (path, r.stderr)
    assert "did you mean partition_by" in r.stderr
    assert "hunter2-secret" not in r.stderr + r.stdout


def test_malformed_json_names_line_and_column(tmp_path, run_weir):
    p = tmp_path / "torn.json"
    p.write_text('{"pipelines": [\n  {"name": "a",\n')
    r = run_weir("validate", str(p))
    assert r.returncode == 2
    assert "torn.json:3" in r.stderr, r.stderr


def test_missing_file_and_usage(run_weir, tmp_path):
    r = run_weir("validate", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and "nope.json" in r.stderr
    assert run_weir("validate").returncode == 2


def test_help_config_lists_options(run_weir):
    r = run_weir("--help-config")
    assert r.returncode == 0
    for key in ("pipelines[].name", "pipelines[].source.kafka.max_offsets_per_trigger", "pipelines[].sink.delta.path"):
        assert key in r.stdout, key


def test_transform_expressions_are_bound_against_the_source(tmp_path, run_weir):
    cfg = {"pipelines": [
        {"name": "a", "checkpoint": str(tmp_path / "a"), "source": {"datagen": {"schema": "id LONG, s STRING"}},
         "transform": [{"where": "nope > 1"}], "sink": {"console": {}}},
        {"name": "b", "checkpoint": str(tmp_path / "b"),
         "source": {"kafka": {"bootstrap_servers": "127.0.0.1:1", "topics": ["t"]}},
         "transform": [{"decode": {"format": "json", "schema": "id LONG"}}, {"select": ["id", "offset"]}],
         "sink": {"console": {}}},
        {"name": "c", "checkpoint": str(tmp_path / "c"),
         "source": {"kafka": {"bootstrap_servers": "127.0.0.1:1", "topics": ["t"]}},
         "transform": [{"decode": {"format": "json", "schema": "id LONG", "keep": ["offset"]}},
                       {"where": "offset >= 0 AND id IS NOT NULL"}, {"select": ["id", "offset AS o"]}],
         "sink": {"console": {}}},
    ]}
    p = tmp_path / "t.json"
    p.write_text(json.dumps(cfg))
    r = run_weir("validate", str(p))
    assert r.returncode == 2
    assert "pipelines[0].transform[0].where: unknown column 'nope'" in r.stderr, r.stderr
    assert "pipelines[1].transform[1].select[1]: unknown column 'offset'" in r.stderr, r.stderr
    assert "pipelines[2]" not in r.stderr, r.stderr
    assert not (tmp_path / "a").exists()  # validate touches nothing
