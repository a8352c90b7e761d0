"""The files source's schema: inferred from a sample and kept in the
checkpoint, hints, evolution modes (a new field halfway, then a field that
changes type), CSV and Parquet inputs, malformed CSV, clean_source. Every
value of every input record is found again, in its column or in
_rescued_data. Read back with deltalake."""
import gzip
import json

import pyarrow
import pyarrow.parquet

import pipeline
from test_files_source import read_rows


def write_json(path, records):
    path.write_bytes("".join(json.dumps(r) + "\n" for r in records).encode())


def files_cfg(tmp_path, name="sch", select=None, **files):
    p = {
        "name": name,
        "checkpoint": str(tmp_path / f"{name}-ckpt"),
        "source": {"files": {"path": str(tmp_path / "in"), **files}},
        "sink": {"delta": {"path": str(tmp_path / f"{name}-table")}},
    }
    if select:
        p["transform"] = [{"select": select}]
    return pipeline.write_config(tmp_path, p, name=f"{name}.json")


def evolving_inputs(tmp_path):
    """10 files of 20 records: from file 4 on a new field `country`, from
    file 7 on `amount` is sometimes a string. Returns every record by id."""
    src = tmp_path / "in"
    src.mkdir()
    records = {}
    for f in range(10):
        batch = []
        for k in range(20):
            i = f * 20 + k
            r = {"id": i, "user": f"u{i % 7}", "amount": i / 4}
            if f >= 4:
                r["country"] = ["NL", "FR", "JP"][i % 3]
            if f >= 7 and i % 2:
                r["amount"] = f"{i / 4:.2f} EUR"
            batch.append(r)
            records[i] = r
        write_json(src / f"f{f:02d}.json", batch)
    return records


def reconstruct(row):
    """The record a row came from: its non-null columns and its rescued members."""
    out = {k: v for k, v in row.items() if v is not None and k != "_rescued_data"}
    if row.get("_rescued_data"):
        rescued = json.loads(row["_rescued_data"])
        assert rescued["_file_path"].endswith(".json") and rescued["_line"] >= 1
        out.update({k: v for k, v in rescued.items() if not k.startswith("_")})
    return out


def check_nothing_lost(rows, records):
    got = {}
    for row in rows:
        r = reconstruct(row)
        got[r["id"]] = r
    assert sorted(got) == sorted(records)
    for i, r in records.items():
        assert got[i] == r, (i, got[i], r)


def test_add_new_columns(tmp_path, weir_bin):
    records = evolving_inputs(tmp_path)
    # the sample sees the first two files only: country is new later
    cfg = files_cfg(tmp_path, format="json", schema_inference_max_files=2, max_files_per_trigger=3)
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "new column(s) country" in r.stderr
    import deltalake
    t = deltalake.DeltaTable(str(tmp_path / "sch-table"))
    names = [f.name for f in t.schema().fields]
    assert names == ["id", "user", "amount", "_rescued_data", "country"]
    rows = t.to_pyarrow_table().to_pylist()
    assert len(rows) == 200
    check_nothing_lost(rows, records)
    # the type change is rescued, not dropped; country is a column
    bad = [x for x in rows if x["_rescued_data"]]
    assert len(bad) == 30 and all(x["amount"] is None and x["country"] for x in bad)
    log = sorted((tmp_path / "sch-ckpt" / "_schemas").iterdir())
    assert [p.name for p in log] == ["0", "1"]
    assert "country" in json.loads(log[1].read_text().split("\n")[1])["dataSchemaJson"]
    # a restart reads with version 1 and has nothing to do
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0 and len(read_rows(tmp_path / "sch-table")) == 200


def test_rescue_and_none_keep_the_schema(tmp_path, weir_bin):
    records = evolving_inputs(tmp_path)
    for mode in ("rescue", "none"):
        cfg = files_cfg(tmp_path, name=mode, format="json", schema_inference_max_files=2,
                        schema_evolution_mode=mode)
        r = pipeline.run(weir_bin, cfg, "--available-now")
        assert r.returncode == 0, r.stderr[-3000:]
        import deltalake
        t = deltalake.DeltaTable(str(tmp_path / f"{mode}-table"))
        assert [f.name for f in t.schema().fields] == ["id", "user", "amount", "_rescued_data"]
        rows = t.to_pyarrow_table().to_pylist()
        check_nothing_lost(rows, records)
        assert sum(1 for x in rows if x["_rescued_data"] and "country" in x["_rescued_data"]) == 120


def test_fail_on_new_columns(tmp_path, weir_bin):
    evolving_inputs(tmp_path)
    cfg = files_cfg(tmp_path, format="json", schema_inference_max_files=2, max_files_per_trigger=2,
                    schema_evolution_mode="fail_on_new_columns")
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode != 0
    assert "new column(s) not in the schema" in r.stderr and 'country' in r.stderr and "f04.json" in r.stderr
    # the batches before the first new column are committed, no row of f04 is
    rows = read_rows(tmp_path / "sch-table")
    assert sorted(x["id"] for x in rows) == list(range(80))


def test_given_schema_with_evolution(tmp_path, weir_bin):
    records = evolving_inputs(tmp_path)
    cfg = files_cfg(tmp_path, format="json", schema="id LONG, user STRING, amount DOUBLE",
                    schema_evolution_mode="add_new_columns")
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = read_rows(tmp_path / "sch-table")
    assert "country" in rows[0]
    check_nothing_lost(rows, records)


def test_inference_hints_and_strings(tmp_path, weir_bin):
    src = tmp_path / "in"
    src.mkdir()
    write_json(src / "a.json", [{"id": 1, "amount": 10, "ts": "2024-01-02T03:04:05Z", "tags": ["x"],
                                 "geo": {"lat": 1.5}}])
    write_json(src / "b.json", [{"id": 2, "amount": 10.25, "ts": "2024-01-03T00:00:00Z", "flag": True}])
    cfg = files_cfg(tmp_path, format="json", schema_hints="amount DECIMAL(12,2), ts TIMESTAMP, extra STRING")
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    import deltalake
    t = deltalake.DeltaTable(str(tmp_path / "sch-table"))
    types = {f.name: str(f.type) for f in t.schema().fields}
    assert types["id"] == 'PrimitiveType("long")' and types["amount"] == 'PrimitiveType("decimal(12,2)")'
    assert types["ts"] == 'PrimitiveType("timestamp")' and types["flag"] == 'PrimitiveType("boolean")'
    assert "extra" in types and types["tags"].startswith("ArrayType") and types["geo"].startswith("StructType")
    rows = sorted(t.to_pyarrow_table().to_pylist(), key=lambda x: x["id"])
    assert [str(x["amount"]) for x in rows] == ["10.00", "10.25"]
    assert rows[0]["geo"] == {"lat": 1.5} and rows[1]["flag"] is True
    # infer_column_types false: every column a string, values as written
    cfg = files_cfg(tmp_path, name="str", format="json", infer_column_types=False)
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    t = deltalake.DeltaTable(str(tmp_path / "str-table"))
    assert {str(f.type) for f in t.schema().fields} == {'PrimitiveType("string")'}
    rows = sorted(t.to_pyarrow_table().to_pylist(), key=lambda x: x["id"])
    assert rows[0]["amount"] == "10" and rows[1]["amount"] == "10.25" and rows[0]["geo"] == '{"lat": 1.5}'


def test_schema_kept_across_restarts(tmp_path, weir_bin):
    src = tmp_path / "in"
    src.mkdir()
    write_json(src / "a.json", [{"id": 1, "v": 10}])
    cfg = files_cfg(tmp_path, format="json", schema_evolution_mode="rescue")
    assert pipeline.run(weir_bin, cfg, "--available-now").returncode == 0
    # inferred again, this file would make v a string; the kept schema says long
    write_json(src / "b.json", [{"id": 2, "v": "ten"}])
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = sorted(read_rows(tmp_path / "sch-table"), key=lambda x: x["id"])
    assert rows[1]["v"] is None and json.loads(rows[1]["_rescued_data"])["v"] == "ten"
    assert [p.name for p in (tmp_path / "sch-ckpt" / "_schemas").iterdir()] == ["0"]
    # validate reads the kept schema and checks the steps against it
    bad = files_cfg(tmp_path, format="json", select=["id", "nope"])
    r = pipeline.run(weir_bin, bad, "--available-now")
    assert r.returncode != 0 and "nope" in r.stderr


CSV_A = (
    "id,name,amount,flag,note\n"
    "1,alice,10.5,true,plain\n"
    '2,"bob, jr",11,false,"two\nlines"\n'
    '3,carol,NA,true,"say ""hi"""\n'
    "4,dave,12.25,false,\n"
)
# a type mismatch, a record with more fields than the header, text after a
# closing quote, and a quote never closed at the end of the file
CSV_B = (
    "id,name,amount,flag,note\r\n"
    "5,erin,lots,true,x\r\n"
    "6,frank,13,false,y,surplus\r\n"
    '7,"gina"s,14,true,z\r\n'
    "8,hal,15,false,ok\r\n"
    '9,ivan,16,true,"open\r\n'
    "10,jo,17,false,lost?\r\n"
)


def test_csv(tmp_path, weir_bin):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.csv").write_text(CSV_A)
    (src / "b.csv.gz").write_bytes(gzip.compress(CSV_B.encode()))
    cfg = files_cfg(tmp_path, format="csv", null_value="NA", schema_inference_max_files=1)
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    import deltalake
    t = deltalake.DeltaTable(str(tmp_path / "sch-table"))
    types = {f.name: str(f.type) for f in t.schema().fields}
    assert types == {"id": 'PrimitiveType("long")', "name": 'PrimitiveType("string")',
                     "amount": 'PrimitiveType("double")', "flag": 'PrimitiveType("boolean")',
                     "note": 'PrimitiveType("string")', "_rescued_data": 'PrimitiveType("string")',
                     "_c5": 'PrimitiveType("string")'}
    rows = {x["id"]: x for x in t.to_pyarrow_table().to_pylist() if x["id"] is not None}
    assert rows[2]["name"] == "bob, jr" and rows[2]["note"] == "two\nlines"
    assert rows[3]["amount"] is None and rows[3]["note"] == 'say "hi"' and rows[4]["note"] is None
    assert rows[5]["amount"] is None and json.loads(rows[5]["_rescued_data"])["amount"] == "lots"
    assert json.loads(rows[5]["_rescued_data"])["_line"] == 2
    # the surplus field became a column (_c5) by schema evolution
    assert rows[6]["_c5"] == "surplus" and rows[6]["note"] == "y"
    assert rows[8]["note"] == "ok"
    whole = [json.loads(x["_rescued_data"]) for x in t.to_pyarrow_table().to_pylist() if x["id"] is None]
    assert len(whole) == 2
    junk = next(w for w in whole if w["_line"] == 4)
    assert junk["_corrupt_record"] == '7,"gina"s,14,true,z' and "closing quote" in junk["_error"]
    tail = next(w for w in whole if w["_line"] == 6)
    assert tail["_corrupt_record"].startswith('9,ivan,16,true,"open') and "10,jo,17" in tail["_corrupt_record"]
    assert "not closed" in tail["_error"]
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 8]


def test_csv_no_header_given_schema(tmp_path, weir_bin):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.tsv").write_text("1\t'x\ty'\t2024-05-01\n2\t''\t\n")
    cfg = files_cfg(tmp_path, format="csv", header=False, delimiter="\t", quote="'",
                    schema="_c0 INT, _c1 STRING, _c2 DATE")
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = sorted(read_rows(tmp_path / "sch-table"), key=lambda x: x["_c0"])
    assert rows[0]["_c1"] == "x\ty" and str(rows[0]["_c2"]) == "2024-05-01"
    assert rows[1]["_c1"] == "" and rows[1]["_c2"] is None and rows[1]["_rescued_data"] is None


def test_parquet(tmp_path, weir_bin):
    src = tmp_path / "in"
    src.mkdir()
    pyarrow.parquet.write_table(pyarrow.table({"id": pyarrow.array([1, 2], pyarrow.int32()),
                                               "name": ["a", "b"]}), src / "p1.parquet")
    # a new column, and name as a number: evolved and rescued
    pyarrow.parquet.write_table(pyarrow.table({"id": pyarrow.array([3], pyarrow.int64()),
                                               "name": pyarrow.array([7], pyarrow.int64()),
                                               "score": [0.5]}), src / "p2.parquet")
    (src / "p3.parquet").write_bytes(b"PAR1 not really")
    cfg = files_cfg(tmp_path, format="parquet", schema_inference_max_files=1)
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "p3.parquet" in r.stderr  # skipped whole, with a warning
    rows = sorted(read_rows(tmp_path / "sch-table"), key=lambda x: x["id"])
    assert [x["id"] for x in rows] == [1, 2, 3]
    assert rows[2]["score"] == 0.5 and rows[2]["name"] is None
    assert json.loads(rows[2]["_rescued_data"]) == {"name": 7, "_file_path": str(src / "p2.parquet"), "_row": 0}
    prog = pipeline.progress(r.stderr)
    assert sum(p["sources"][0]["metrics"]["numFilesCorrupt"] for p in prog) == 1


def test_clean_source(tmp_path, weir_bin):
    src = tmp_path / "in"
    (src / "d").mkdir(parents=True)
    write_json(src / "a.json", [{"id": 1}])
    write_json(src / "d" / "b.json", [{"id": 2}])
    archive = tmp_path / "archive"
    cfg = files_cfg(tmp_path, format="json", clean_source="move", clean_source_move_destination=str(archive),
                    max_files_per_trigger=1)
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(x["id"] for x in read_rows(tmp_path / "sch-table")) == [1, 2]
    assert not (src / "a.json").exists() and not (src / "d" / "b.json").exists()
    assert json.loads((archive / "d" / "b.json").read_text()) == {"id": 2}
    write_json(src / "c.json", [{"id": 3}])
    cfg = files_cfg(tmp_path, name="del", format="json", clean_source="delete")
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    assert [x["id"] for x in read_rows(tmp_path / "del-table")] == [3] and not (src / "c.json").exists()
    # files that were there before the stream (include_existing_files false) are never read, never cleaned
    write_json(src / "old.json", [{"id": 99}])
    cfg = files_cfg(tmp_path, name="new", format="json", schema="id LONG", clean_source="delete",
                    include_existing_files=False)
    assert pipeline.run(weir_bin, cfg, "--available-now").returncode == 0
    write_json(src / "d" / "new.json", [{"id": 4}])
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    assert [x["id"] for x in read_rows(tmp_path / "new-table")] == [4]
    assert (src / "old.json").exists() and not (src / "d" / "new.json").exists()
    # a destination inside the watched path is refused
    bad = files_cfg(tmp_path, name="bad", format="json", clean_source="move",
                    clean_source_move_destination=str(src / "done"))
    r = pipeline.run(weir_bin, bad, "--available-now")
    assert r.returncode != 0 and "must be outside path" in r.stderr


def big_inputs(tmp_path, new_column_at=None):
    """3 files of 24,000 lines (~2.4 MB each, so several 1 MiB runs per
    file): some amounts that do not fit (rescued), some lines that do not
    parse (rescued whole), blank lines; with new_column_at=(file, line) a
    field `country` appears from that line of that file on."""
    src = tmp_path / "in"
    src.mkdir()
    for f in range(3):
        out = []
        for k in range(24000):
            i = f * 24000 + k
            r = {"id": i, "user": f"user_{i % 13}", "amount": i / 8, "note": "n" * (i % 50)}
            if new_column_at and (f, k + 1) >= new_column_at:
                r["country"] = ["NL", "FR", "JP"][i % 3]
            if i % 997 == 0:
                r["amount"] = f"{i} EUR"
            line = json.dumps(r)
            if i % 1499 == 0:
                line = line[:-7]          # cut: does not parse
            if i % 2003 == 0:
                out.append("")            # a blank line before it
            out.append(line)
        (src / f"big{f}.json").write_text("\n".join(out) + "\n")


def rows_by_id(rows):
    """id -> row; a record rescued whole has no id: keyed by its line instead."""
    got = {}
    for row in rows:
        key = row["id"]
        if key is None:
            info = json.loads(row["_rescued_data"])
            key = (info["_file_path"].rsplit("/", 1)[-1], info["_line"])
        assert key not in got
        got[key] = row
    return got


def test_parallel_decode_same_rows(tmp_path, weir_bin):
    """decode_parallelism 4 and 1 read the same files into the same rows:
    the same values, the same rescued members with the same line numbers
    and messages; and rows keep the order of each file."""
    big_inputs(tmp_path)
    schema = "id LONG, user STRING, amount DOUBLE, note STRING"
    tables = {}
    for par in (1, 4):
        name = f"p{par}"
        cfg = files_cfg(tmp_path, name=name, format="json", schema=schema, decode_parallelism=par,
                        select=["*", "_metadata.file_path AS src"])
        r = pipeline.run(weir_bin, cfg, "--available-now")
        assert r.returncode == 0, r.stderr[-3000:]
        tables[par] = read_rows(tmp_path / f"{name}-table")
    serial, parallel = rows_by_id(tables[1]), rows_by_id(tables[4])
    assert len(serial) == 3 * 24000
    assert serial == parallel
    rescued = [r for r in tables[4] if r["_rescued_data"]]
    whole = [json.loads(r["_rescued_data"]) for r in rescued if r["id"] is None]
    assert len(whole) == len([i for i in range(72000) if i % 1499 == 0])
    # the line numbers count blank lines, and the message names the same line
    for info in whole:
        assert f"record {info['_line']} " in info["_error"], info
    # each file's rows in file order (one batch, files written in order)
    for f in range(3):
        ids = [r["id"] for r in tables[4] if r["src"].endswith(f"big{f}.json") and r["id"] is not None]
        assert ids == sorted(ids) and len(ids) > 23000


def test_parallel_decode_new_column_mid_file(tmp_path, weir_bin):
    """A new column met by one decode worker in the middle of a file:
    add_new_columns evolves the schema and loses nothing, as the serial read
    does; fail_on_new_columns names the file and line."""
    big_inputs(tmp_path, new_column_at=(1, 15000))
    cfg = files_cfg(tmp_path, name="fail", format="json", schema="id LONG, user STRING, amount DOUBLE, note STRING",
                    decode_parallelism=4, schema_evolution_mode="fail_on_new_columns")
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode != 0
    assert "big1.json: line 15" in r.stderr and "country" in r.stderr, r.stderr[-2000:]
    tables = {}
    for par in (1, 4):
        name = f"add{par}"
        cfg = files_cfg(tmp_path, name=name, format="json", schema="id LONG, user STRING, amount DOUBLE, note STRING",
                        decode_parallelism=par, schema_evolution_mode="add_new_columns")
        r = pipeline.run(weir_bin, cfg, "--available-now")
        assert r.returncode == 0, r.stderr[-3000:]
        assert "new column(s)" in r.stderr and "big1.json line 15" in r.stderr, r.stderr[-2000:]
        tables[par] = read_rows(tmp_path / f"{name}-table")
    assert rows_by_id(tables[1]) == rows_by_id(tables[4])
    got = rows_by_id(tables[4])
    assert got[24000 + 14999]["country"] == ["NL", "FR", "JP"][(24000 + 14999) % 3]
    assert got[24000 + 14998]["country"] is None and len(got) == 72000
