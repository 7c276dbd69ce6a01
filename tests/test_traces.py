"""Tests of the job-trace readers, the normalised table and the ``traces`` commands.

Synthetic files are written in ``tmp_path`` for every format; small real slices are in
``tests/data`` (provenance in ``tests/data/README.md``). Tests that read whole traces
from the shared trace folder skip when it is absent.
"""

from __future__ import annotations

import gzip
import json
import math
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.errors import LingangSimError, OutputError, TraceError
from simulator.traces import (
    FORMATS,
    TRACE_COLUMNS,
    detect_format,
    inspect_trace,
    read_trace,
    summarise,
)
from simulator.traces.commands import traces
from simulator.traces.schema import COLUMN_DTYPES

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"

KTH_SLICE = DATA / "kth-sp2-1996-2.1-cln.head200.swf.gz"
LLNL_SLICE = DATA / "llnl-thunder-2007-1.1-cln.head400.swf.gz"
ITP_SLICE = DATA / "itp-2021-cluster10.csv.gz"
PHILLY_SLICE = DATA / "philly-pollux.head300.csv.gz"
OPENB_SLICE = DATA / "openb-pod-list-default.head300.csv.gz"

SWF_HEADER = """\
; Version: 2.2
; Computer: Test machine
; Information: http://example.org/one
;              http://example.org/two
; UnixStartTime: 843480031
; TimeZoneString: Europe/Stockholm
; MaxNodes: 64
; MaxProcs: 128
; Note: first note
;       continues here
; Note: second note
;
"""


def swf_line(
    job: int,
    submit: float,
    wait: float = 0,
    run: float = 100,
    alloc: int = 4,
    req: int = 4,
    req_time: float = 600,
    status: int = 1,
    user: int = 7,
    queue: int = 2,
) -> str:
    fields = [job, submit, wait, run, alloc, -1, -1, req, req_time, -1, status, user, user, -1]
    fields += [queue, 1, -1, -1]
    return " ".join(str(f) for f in fields) + "\n"


def write(path: Path, text: str, *, compress: bool = False) -> Path:
    if compress:
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    return path


def check_contract(df: pd.DataFrame) -> None:
    """The table has the normalised columns, dtypes, order and sorting."""
    assert tuple(df.columns) == TRACE_COLUMNS
    for column, dtype in COLUMN_DTYPES.items():
        if dtype == "str":
            assert pd.api.types.is_string_dtype(df[column]), column
        else:
            assert df[column].dtype == np.dtype(dtype), column
    assert df["submit_s"].is_monotonic_increasing
    assert (df["run_s"] >= 0).all()
    assert set(df["status"]) <= {"completed", "failed", "cancelled", "unknown"}
    json.dumps(df.attrs)


# --------------------------------------------------------------------------- SWF


def test_swf_columns_and_header(tmp_path: Path) -> None:
    text = SWF_HEADER + "".join(
        [
            swf_line(1, 0, wait=10, run=100, alloc=4, req=4, req_time=600, status=1),
            swf_line(2, 5, wait=-1, run=50, alloc=-1, req=8, req_time=-1, status=0, user=-1),
            swf_line(3, 5, wait=0, run=0, alloc=2, req=2, status=5, queue=-1),
            swf_line(4, 9, status=3),
            swf_line(5, 9, status=4),
            swf_line(6, 12, status=-1, req_time=0),
        ]
    )
    df = read_trace(write(tmp_path / "t.swf", text), "swf")
    check_contract(df)
    assert list(df["job_id"]) == ["1", "2", "3", "4", "5", "6"]
    assert list(df["cards"]) == [4, 8, 2, 4, 4, 4]
    assert list(df["status"]) == [
        "completed",
        "failed",
        "cancelled",
        "completed",
        "failed",
        "unknown",
    ]
    assert df["recorded_start_s"].iloc[0] == 10.0
    assert math.isnan(df["recorded_start_s"].iloc[1])
    assert math.isnan(df["estimate_s"].iloc[1])
    assert math.isnan(df["estimate_s"].iloc[5])
    assert df["estimate_s"].iloc[0] == 600.0
    assert list(df["user"]) == ["7", "", "7", "7", "7", "7"]
    assert list(df["tenant"]) == ["2", "2", "", "2", "2", "2"]
    assert list(df["source_line"]) == list(range(13, 19))
    header = df.attrs["header"]
    assert header["MaxProcs"] == 128 and header["MaxNodes"] == 64
    assert header["UnixStartTime"] == 843480031
    assert header["Note"] == ["first note continues here", "second note"]
    assert header["Information"] == ["http://example.org/one http://example.org/two"]
    assert df.attrs["capacity"] == 128
    assert df.attrs["capacity_source"] == "header MaxProcs"
    assert "1996-09-23T12:00:31Z" in df.attrs["epoch"]
    assert df.attrs["clamped"] == {
        "cards from requested processors (allocated unknown or 0)": 1,
        "estimate <= 0 read as unknown": 1,
    }


def test_swf_real_slice_matches_naive_parse() -> None:
    df = read_trace(KTH_SLICE)
    check_contract(df)
    raw = pd.read_csv(KTH_SLICE, sep=r"\s+", comment=";", header=None)
    assert len(df) == len(raw) == 200
    assert df.attrs["format"] == "swf"
    assert df.attrs["header"]["MaxProcs"] == 100
    assert df.attrs["header"]["Note"][0] == "uses the EASY scheduler"
    assert list(df["job_id"]) == [str(j) for j in raw[0]]
    np.testing.assert_array_equal(df["submit_s"], raw[1])
    np.testing.assert_array_equal(df["recorded_start_s"], raw[1] + raw[2])
    np.testing.assert_array_equal(df["run_s"], raw[3])
    np.testing.assert_array_equal(df["cards"], raw[4])
    np.testing.assert_array_equal(df["estimate_s"], raw[8])
    assert list(df["source_line"]) == list(range(25, 225))
    assert df["job_id"].iloc[0] == "15" and df["submit_s"].iloc[0] == 599850


def test_swf_real_slice_with_unknown_rows() -> None:
    with pytest.raises(TraceError, match=r"head400\.swf\.gz: line \d+: unknown submit time"):
        read_trace(LLNL_SLICE)
    df = read_trace(LLNL_SLICE, on_bad="skip")
    check_contract(df)
    skipped = df.attrs["skipped"]
    assert skipped["unknown submit time (-1)"] >= 2
    assert len(df) + sum(skipped.values()) == 400 == df.attrs["rows_read"]
    assert df["recorded_start_s"].isna().all()
    assert df.attrs["reordered"] == 0


def test_gzip_is_recognised_by_magic_bytes(tmp_path: Path) -> None:
    text = SWF_HEADER + swf_line(1, 0) + swf_line(2, 1)
    gz_without_suffix = write(tmp_path / "trace.swf", text, compress=True)
    plain_with_gz_suffix = write(tmp_path / "plain.swf.gz", text)
    a = read_trace(gz_without_suffix)
    b = read_trace(plain_with_gz_suffix)
    assert a.attrs["compressed"] and not b.attrs["compressed"]
    pd.testing.assert_frame_equal(a, b)


def test_truncated_gzip_raises_with_file_and_line(tmp_path: Path) -> None:
    data = KTH_SLICE.read_bytes()
    cut = write(tmp_path / "cut.swf.gz", "")
    cut.write_bytes(data[: len(data) // 2])
    decoder = zlib.decompressobj(31)
    readable = decoder.decompress(data[: len(data) // 2]).count(b"\n")
    for on_bad in ("error", "skip"):
        with pytest.raises(TraceError) as err:
            read_trace(cut, "swf", on_bad=on_bad)
        assert f"cut.swf.gz: line {readable + 1}: the gzip data is truncated" in str(err.value)
        assert f"only the first {readable} line(s) can be read" in str(err.value)


def test_corrupt_gzip_raises(tmp_path: Path) -> None:
    data = bytearray(KTH_SLICE.read_bytes())
    data[40:60] = b"\x00" * 20
    bad = tmp_path / "bad.swf.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(TraceError, match="truncated or corrupt"):
        read_trace(bad, "swf")


def test_swf_wrong_field_count(tmp_path: Path) -> None:
    text = SWF_HEADER + swf_line(1, 0) + "2 3 4\n" + swf_line(3, 5) + swf_line(4, 6)[:-1] + " 9\n"
    path = write(tmp_path / "fields.swf", text)
    with pytest.raises(TraceError) as err:
        read_trace(path, "swf")
    message = str(err.value)
    assert f"{path}: line 14: wrong number of fields (expected 18, found 3)" in message
    assert "on_bad='skip'" in message
    df = read_trace(path, "swf", on_bad="skip")
    assert list(df["job_id"]) == ["1", "3"]
    assert df.attrs["skipped"] == {"wrong number of fields": 2}
    assert df.attrs["rows_read"] == 4


def test_swf_non_numeric_field(tmp_path: Path) -> None:
    text = swf_line(1, 0) + swf_line(2, 1).replace(" 100 ", " abc ", 1)
    path = write(tmp_path / "nan.swf", text)
    with pytest.raises(TraceError, match=r"line 2: non-numeric field \('abc'\)"):
        read_trace(path, "swf")
    assert read_trace(path, "swf", on_bad="skip").attrs["skipped"] == {"non-numeric field": 1}


def test_swf_negative_unknown_and_zero_rows(tmp_path: Path) -> None:
    text = "".join(
        [
            swf_line(1, 0),
            swf_line(2, 1, run=-5),
            swf_line(3, 2, run=-1),
            swf_line(4, 3, alloc=0, req=-1),
            swf_line(5, -1),
            swf_line(6, 4),
        ]
    )
    path = write(tmp_path / "bad.swf", text)
    with pytest.raises(TraceError, match=r"bad\.swf: line 2: negative run time \(value: -5\)"):
        read_trace(path, "swf")
    df = read_trace(path, "swf", on_bad="skip")
    assert list(df["job_id"]) == ["1", "6"]
    assert df.attrs["skipped"] == {
        "negative run time": 1,
        "unknown run time (-1)": 1,
        "zero cards": 1,
        "unknown submit time (-1)": 1,
    }


def test_swf_infinite_value(tmp_path: Path) -> None:
    path = write(tmp_path / "inf.swf", swf_line(1, 0) + swf_line(2, 1, run=math.inf))
    with pytest.raises(TraceError, match="line 2: infinite value"):
        read_trace(path, "swf")


def test_error_names_the_earliest_bad_line(tmp_path: Path) -> None:
    text = swf_line(1, 0) + swf_line(2, 1, run=-1) + "1 2\n" + swf_line(4, 3, alloc=0, req=0)
    with pytest.raises(TraceError, match="line 2: unknown run time"):
        read_trace(write(tmp_path / "x.swf", text), "swf")


def test_out_of_order_submits(tmp_path: Path) -> None:
    text = swf_line(1, 0) + swf_line(2, 50) + swf_line(3, 20) + swf_line(4, 60)
    path = write(tmp_path / "order.swf", text)
    with pytest.raises(
        TraceError, match=r"line 3: submit time out of order \(20 is earlier than 50"
    ):
        read_trace(path, "swf")
    df = read_trace(path, "swf", on_bad="skip")
    assert list(df["job_id"]) == ["1", "3", "2", "4"]
    assert list(df["source_line"]) == [1, 3, 2, 4]
    assert df.attrs["reordered"] == 1 and df.attrs["skipped"] == {}


def test_blank_lines_and_comments_between_jobs(tmp_path: Path) -> None:
    text = swf_line(1, 0) + "\n   \n; Note: late comment\n" + swf_line(2, 1)
    df = read_trace(write(tmp_path / "blank.swf", text), "swf")
    assert list(df["source_line"]) == [1, 5]
    assert df.attrs["blank_lines"] == 2
    assert df.attrs["header"]["Note"] == ["late comment"]


def test_empty_swf_gives_empty_table(tmp_path: Path) -> None:
    df = read_trace(write(tmp_path / "empty.swf", SWF_HEADER), "swf")
    check_contract(df)
    assert len(df) == 0 and df.attrs["header"]["MaxProcs"] == 128


swf_rows = st.lists(
    st.tuples(
        st.integers(0, 1000),  # submit increment
        st.integers(-1, 5000),  # wait
        st.integers(0, 10**6),  # run
        st.integers(1, 4096),  # alloc
        st.sampled_from([-1, 0, 1, 5]),  # status
    ),
    min_size=0,
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(rows=swf_rows, chunk_rows=st.integers(1, 7))
def test_swf_round_trip_any_chunking(
    rows: list[tuple[int, int, int, int, int]], chunk_rows: int
) -> None:
    submit = np.cumsum([r[0] for r in rows]).astype(float)
    text = SWF_HEADER + "".join(
        swf_line(i + 1, s, wait=w, run=r, alloc=a, status=st_)
        for i, (s, (_, w, r, a, st_)) in enumerate(zip(submit, rows, strict=True))
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "h.swf.gz", text, compress=True)
        df = read_trace(path, "swf", chunk_rows=chunk_rows)
        whole = read_trace(path, "swf")
    pd.testing.assert_frame_equal(df, whole)
    check_contract(df)
    np.testing.assert_array_equal(df["submit_s"], submit)
    np.testing.assert_array_equal(df["run_s"], [r[2] for r in rows])
    np.testing.assert_array_equal(df["cards"], [r[3] for r in rows])
    waits = np.array([r[1] for r in rows], dtype=float)
    expected_start = np.where(waits < 0, np.nan, submit + waits)
    np.testing.assert_array_equal(df["recorded_start_s"], expected_start)


# --------------------------------------------------------------------------- ITP


ITP_TEXT = """\
job_id,submission_time,duration,num_gpu
a1,100,600,8
a2,160,1200,1
a3,160,30,64
"""


def test_itp_synthetic(tmp_path: Path) -> None:
    df = read_trace(write(tmp_path / "cluster07.csv.gz", ITP_TEXT, compress=True), "itp")
    check_contract(df)
    assert list(df["job_id"]) == ["a1", "a2", "a3"]
    assert list(df["cards"]) == [8, 1, 64]
    assert list(df["submit_s"]) == [100.0, 160.0, 160.0]
    assert set(df["tenant"]) == {"cluster07"}
    assert (df["status"] == "unknown").all() and (df["user"] == "").all()
    assert df["estimate_s"].isna().all() and df["recorded_start_s"].isna().all()
    assert list(df["source_line"]) == [2, 3, 4]


def test_itp_real_slice() -> None:
    df = read_trace(ITP_SLICE)
    check_contract(df)
    raw = pd.read_csv(ITP_SLICE)
    assert df.attrs["format"] == "itp"
    assert len(df) == len(raw) == 260
    assert set(df["tenant"]) == {"cluster10"}
    assert (df["cards"] * df["run_s"]).sum() == (raw["num_gpu"] * raw["duration"]).sum()


def test_csv_missing_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "cluster01.csv", "job_id,submit,duration\nx,1,2\n")
    with pytest.raises(TraceError) as err:
        read_trace(path, "itp", on_bad="skip")
    message = str(err.value)
    assert f"{path}: line 1: missing column(s) 'submission_time', 'num_gpu'" in message
    assert "found column(s): 'job_id', 'submit', 'duration'" in message


def test_csv_wrong_field_count_and_bad_values(tmp_path: Path) -> None:
    text = ITP_TEXT + "a4,170,60\n" + 'a5,"180",60,2,extra\n' + "a6,190,-3,1\n"
    text += "a7,200,,1\n" + "a8,x,60,1\n" + "a9,210,60,0\n" + "a10,220,60,1.5\n" + "a11,230,60,2\n"
    path = write(tmp_path / "cluster02.csv", text)
    with pytest.raises(
        TraceError, match=r"cluster02\.csv: line 5: wrong number of fields \(expected 4"
    ):
        read_trace(path, "itp")
    df = read_trace(path, "itp", on_bad="skip")
    assert list(df["job_id"]) == ["a1", "a2", "a3", "a11"]
    assert df.attrs["skipped"] == {
        "wrong number of fields": 2,
        "negative run time": 1,
        "missing value in column 'duration'": 1,
        "non-numeric value in column 'submission_time'": 1,
        "zero cards": 1,
        "fractional card count": 1,
    }
    assert df.attrs["rows_read"] == 11


def test_csv_negative_run_message(tmp_path: Path) -> None:
    path = write(tmp_path / "cluster03.csv", ITP_TEXT + "a4,170,-3,1\n")
    with pytest.raises(
        TraceError, match=r"cluster03\.csv: line 5: negative run time \(value: -3\)"
    ):
        read_trace(path, "itp")


def test_csv_out_of_order(tmp_path: Path) -> None:
    path = write(tmp_path / "cluster04.csv", ITP_TEXT + "a4,120,60,1\n")
    with pytest.raises(TraceError, match="line 5: submit time out of order"):
        read_trace(path, "itp")
    df = read_trace(path, "itp", on_bad="skip")
    assert list(df["job_id"]) == ["a1", "a4", "a2", "a3"]
    assert df.attrs["reordered"] == 1


def test_csv_missing_job_id_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "cluster08.csv"
    path.write_bytes(("\ufeff" + ITP_TEXT + ",170,60,1\n").encode("utf-8"))
    with pytest.raises(TraceError, match=r"line 5: missing value in column 'job_id'"):
        read_trace(path)
    df = read_trace(path, on_bad="skip")
    assert df.attrs["header"]["columns"][0] == "job_id"
    assert df.attrs["skipped"] == {"missing value in column 'job_id'": 1}


def test_empty_csv(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="empty"):
        read_trace(write(tmp_path / "cluster05.csv", "\n\n"), "itp")


def test_csv_chunking_gives_the_same_table(tmp_path: Path) -> None:
    rows = "".join(f"j{i},{i * 10},{i + 1},{1 + i % 8}\n" for i in range(50))
    path = write(tmp_path / "cluster06.csv", "job_id,submission_time,duration,num_gpu\n" + rows)
    pd.testing.assert_frame_equal(read_trace(path, chunk_rows=7), read_trace(path))


# --------------------------------------------------------------------------- Philly


PHILLY_TEXT = """\
timestamp,duration,num_gpus,gpu_time,cluster
2017-10-09 07:01:55,66.0,1,66.0,11cb48
2017-10-09 06:13:03,2951.0,2,5902.0,6214e9
2017-09-29 07:58:32,860662.0,1,860662.0,6c71a0
"""


def test_philly_synthetic_sorted_and_rebased(tmp_path: Path) -> None:
    df = read_trace(write(tmp_path / "philly.csv", PHILLY_TEXT), "philly")
    check_contract(df)
    assert df.attrs["epoch"] == "2017-09-29T00:00:00"
    assert df.attrs["time_format"] == "datetime"
    assert df["submit_s"].iloc[0] == 7 * 3600 + 58 * 60 + 32
    assert list(df["source_line"]) == [4, 3, 2]
    assert list(df["job_id"]) == ["4", "3", "2"]
    assert list(df["tenant"]) == ["6c71a0", "6214e9", "11cb48"]
    assert list(df["cards"]) == [1, 2, 1]
    assert df.attrs["reordered"] == 2
    assert df.attrs["gpu_time_mismatch"] == 0


def test_philly_bad_timestamp(tmp_path: Path) -> None:
    path = write(tmp_path / "philly.csv", PHILLY_TEXT + "yesterday,5,1,5,aa\n")
    with pytest.raises(TraceError, match=r"line 5: unreadable date-time in column 'timestamp'"):
        read_trace(path, "philly")


def test_philly_real_slice() -> None:
    df = read_trace(PHILLY_SLICE)
    check_contract(df)
    raw = pd.read_csv(PHILLY_SLICE)
    assert df.attrs["format"] == "philly" and len(df) == 300
    assert df["cards"].sum() == raw["num_gpus"].sum()
    stamps = pd.to_datetime(raw["timestamp"])
    epoch = pd.Timestamp(df.attrs["epoch"])
    expected = np.sort(((stamps - epoch) / pd.Timedelta(seconds=1)).to_numpy())
    np.testing.assert_array_equal(df["submit_s"], expected)


# --------------------------------------------------------------------------- openb

OPENB_TEXT = """\
name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
p0,12000,16384,1,1000,,LS,Succeeded,0,500,10
p1,6000,12288,1,460,,BE,Failed,5,100,20
p2,8000,8192,0,0,,LS,Running,6,900,6
p3,8000,8192,2,1000,,LS,Pending,7,900,
p4,8000,8192,8,1000,,Burstable,Running,9,1000,8
"""


def test_openb_synthetic(tmp_path: Path) -> None:
    path = write(tmp_path / "openb_pod_list.csv", OPENB_TEXT)
    with pytest.raises(TraceError, match=r"line 5: never scheduled \(no run time\)"):
        read_trace(path, "openb")
    df = read_trace(path, "openb", on_bad="skip")
    check_contract(df)
    assert list(df["job_id"]) == ["p0", "p1", "p4"]
    assert list(df["run_s"]) == [490.0, 80.0, 992.0]
    assert list(df["status"]) == ["completed", "failed", "unknown"]
    assert list(df["tenant"]) == ["LS", "BE", "Burstable"]
    assert df.attrs["filtered"] == {"CPU-only pod (num_gpu = 0, gpu_only)": 1}
    assert df.attrs["skipped"] == {"never scheduled (no run time)": 1}
    assert df.attrs["fractional_gpu_jobs"] == 1
    assert df.attrs["clamped"] == {"recorded start before submit, wait clamped to 0": 1}
    assert df["recorded_start_s"].iloc[2] == 9.0
    everything = read_trace(path, "openb", on_bad="skip", gpu_only=False)
    assert list(everything["cards"]) == [1, 1, 0, 8]


def test_openb_real_slice() -> None:
    raw = pd.read_csv(OPENB_SLICE)
    with pytest.raises(TraceError, match="never scheduled"):
        read_trace(OPENB_SLICE)
    df = read_trace(OPENB_SLICE, on_bad="skip")
    check_contract(df)
    gpu = raw[raw["num_gpu"] > 0]
    assert df.attrs["filtered"] == {
        "CPU-only pod (num_gpu = 0, gpu_only)": (raw["num_gpu"] == 0).sum()
    }
    assert df.attrs["skipped"] == {
        "never scheduled (no run time)": gpu["scheduled_time"].isna().sum()
    }
    assert len(df) == gpu["scheduled_time"].notna().sum()
    assert (
        df.attrs["fractional_gpu_jobs"] == ((raw["num_gpu"] == 1) & (raw["gpu_milli"] < 1000)).sum()
    )


# --------------------------------------------------------------------------- Helios

HELIOS_TEXT = """\
job_id,user,vc,jobname,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue
j1,uA,vc1,train,8,48,1,COMPLETED,2020-04-01 00:00:06,2020-04-01 00:00:10,2020-04-01 01:00:10,3600,4
j2,uB,vc2,cpujob,0,4,1,COMPLETED,2020-04-01 00:01:00,2020-04-01 00:01:00,2020-04-01 00:02:00,60,0
j3,uA,vc1,eval,1,6,1,CANCELLED by 12,2020-04-01 00:02:00,,,0,
j4,uC,vc2,big,16,96,2,FAILED,2020-04-02 23:59:59,2020-04-03 00:10:00,2020-04-03 02:10:00,7200,601
j5,uC,vc2,x,2,12,1,TIMEOUT,2020-04-03 00:00:00,2020-04-03 00:00:01,2020-04-03 00:00:03,2,1
"""


def test_helios_synthetic(tmp_path: Path) -> None:
    df = read_trace(write(tmp_path / "cluster_log.csv", HELIOS_TEXT), "helios")
    check_contract(df)
    assert list(df["job_id"]) == ["j1", "j3", "j4", "j5"]
    assert df.attrs["epoch"] == "2020-04-01T00:00:00"
    assert list(df["submit_s"]) == [6.0, 120.0, 86400 + 86399.0, 2 * 86400.0]
    assert df["recorded_start_s"].iloc[0] == 10.0
    assert math.isnan(df["recorded_start_s"].iloc[1])
    assert list(df["status"]) == ["completed", "cancelled", "failed", "failed"]
    assert list(df["user"]) == ["uA", "uA", "uC", "uC"]
    assert list(df["tenant"]) == ["vc1", "vc1", "vc2", "vc2"]
    assert list(df["cards"]) == [8, 1, 16, 2]
    assert df.attrs["filtered"] == {"CPU job (gpu_num = 0, gpu_only)": 1}
    everything = read_trace(tmp_path / "cluster_log.csv", "helios", gpu_only=False)
    assert len(everything) == 5 and everything["cards"].iloc[1] == 0


def test_helios_numeric_times_without_duration(tmp_path: Path) -> None:
    text = (
        "job_id,cluster,gpu_num,state,submit_time,start_time,end_time\n"
        "1,Earth,4,COMPLETED,100,130,1130\n"
        "2,Earth,1,FAILED,150,,\n"
    )
    path = write(tmp_path / "all_cluster_log.csv", text)
    with pytest.raises(TraceError, match=r"line 3: missing value in column 'end_time'"):
        read_trace(path, "helios")
    df = read_trace(path, "helios", on_bad="skip")
    assert df.attrs["time_format"] == "seconds"
    assert list(df["run_s"]) == [1000.0] and list(df["tenant"]) == ["Earth"]
    assert df["recorded_start_s"].iloc[0] == 130.0


def test_helios_needs_a_run_time_column(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", "job_id,gpu_num,submit_time,start_time\n1,1,5,6\n")
    with pytest.raises(
        TraceError, match=r"missing column\(s\) one of 'duration' or 'start_time'\+'end_time'"
    ):
        read_trace(path, "helios")


# --------------------------------------------------------------------------- autodetection


def test_detect_format(tmp_path: Path) -> None:
    assert detect_format(KTH_SLICE) == "swf"
    assert detect_format(write(tmp_path / "noheader.swf", swf_line(1, 0))) == "swf"
    assert detect_format(ITP_SLICE) == "itp"
    assert detect_format(PHILLY_SLICE) == "philly"
    assert detect_format(OPENB_SLICE) == "openb"
    assert detect_format(write(tmp_path / "h.csv", HELIOS_TEXT)) == "helios"
    with pytest.raises(TraceError, match="cannot recognise the trace format"):
        detect_format(write(tmp_path / "other.csv", "a,b,c\n1,2,3\n"))
    with pytest.raises(TraceError, match="no such file"):
        read_trace(tmp_path / "missing.swf")
    with pytest.raises(TraceError, match="unknown trace format"):
        read_trace(KTH_SLICE, "nope")
    with pytest.raises(TraceError, match="on_bad"):
        read_trace(KTH_SLICE, on_bad="ignore")  # type: ignore[arg-type]
    assert set(FORMATS) == {"swf", "helios", "philly", "itp", "openb"}


def test_binary_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "blob.swf"
    path.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(TraceError, match="not UTF-8"):
        read_trace(path, "swf")


# --------------------------------------------------------------------------- inspect


def test_summarise_statistics(tmp_path: Path) -> None:
    text = SWF_HEADER + "".join(
        [
            swf_line(1, 0, wait=0, run=3600, alloc=1),
            swf_line(2, 100, wait=100, run=3600, alloc=8),
            swf_line(3, 200, wait=200, run=7200, alloc=64),
            swf_line(4, 3600, wait=300, run=3600, alloc=128),
        ]
    )
    df = read_trace(write(tmp_path / "s.swf", text))
    summary = summarise(df)
    assert summary["jobs"] == 4
    assert summary["time"]["span_s"] == 3600.0
    assert summary["capacity"] == {"cards": 128, "source": "header MaxProcs"}
    card_s = 1 * 3600 + 8 * 3600 + 64 * 7200 + 128 * 3600
    assert summary["offered_load"] == pytest.approx(card_s / (128 * 3600))
    assert summary["card_hours"] == pytest.approx(card_s / 3600)
    by_size = {row["size"]: row["jobs"] for row in summary["size_classes"]}
    assert by_size == {"1": 1, "2-8": 1, "9-64": 1, "65-1024": 1, ">1024": 0}
    assert summary["wait_s"]["mean"] == 150.0 and summary["wait_s"]["p50"] == 150.0
    assert summary["status"]["completed"] == 4
    assert summarise(df, capacity=256)["offered_load"] == pytest.approx(card_s / (256 * 3600))
    no_wait = inspect_trace(ITP_SLICE)
    assert no_wait["wait_s"] is None and no_wait["offered_load"] is None
    with pytest.raises(TraceError, match="capacity"):
        summarise(df, capacity=0)


# --------------------------------------------------------------------------- commands


def test_import_writes_parquet_atomically(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "kth.parquet"
    result = runner.invoke(traces, ["import", str(KTH_SLICE), "--format", "swf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Imported 200 jobs" in result.output
    back = pd.read_parquet(out)
    check_contract(back)
    assert back.attrs["header"]["MaxProcs"] == 100
    pd.testing.assert_frame_equal(back, read_trace(KTH_SLICE))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kth.parquet"]

    again = runner.invoke(traces, ["import", str(KTH_SLICE), "--out", str(out)])
    assert again.exit_code != 0 and isinstance(again.exception, OutputError)
    assert "--force" in str(again.exception)
    forced = runner.invoke(traces, ["import", str(ITP_SLICE), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert len(pd.read_parquet(out)) == 260
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kth.parquet"]


def test_import_reports_skipped_rows(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "llnl.parquet"
    failed = runner.invoke(traces, ["import", str(LLNL_SLICE), "--out", str(out)])
    assert isinstance(failed.exception, TraceError) and isinstance(
        failed.exception, LingangSimError
    )
    assert "unknown submit time" in str(failed.exception)
    assert not out.exists()
    result = runner.invoke(
        traces, ["import", str(LLNL_SLICE), "--out", str(out), "--on-bad", "skip"]
    )
    assert result.exit_code == 0, result.output
    assert "unknown submit time (-1)" in result.output
    assert "skipped" in result.output


def test_import_default_output_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(traces, ["import", str(ITP_SLICE)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "itp-2021-cluster10.parquet").exists()


def test_inspect_command(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(traces, ["inspect", str(KTH_SLICE)])
    assert result.exit_code == 0, result.output
    for text in (
        "jobs",
        "200",
        "offered load",
        "header MaxProcs",
        "65-1024",
        "p95",
        "recorded wait",
    ):
        assert text in result.output, text
    with_capacity = runner.invoke(traces, ["inspect", str(ITP_SLICE), "--capacity", "512"])
    assert with_capacity.exit_code == 0, with_capacity.output
    assert "given" in with_capacity.output
    assert "not in this trace" in with_capacity.output
    as_json = runner.invoke(traces, ["inspect", str(ITP_SLICE), "--capacity", "512", "--json"])
    summary = json.loads(as_json.output)
    assert summary["offered_load"] == pytest.approx(
        inspect_trace(ITP_SLICE, capacity=512)["offered_load"]
    )
    out = tmp_path / "itp.parquet"
    assert runner.invoke(traces, ["import", str(ITP_SLICE), "--out", str(out)]).exit_code == 0
    from_parquet = runner.invoke(traces, ["inspect", str(out), "--json"])
    assert json.loads(from_parquet.output)["jobs"] == 260
    missing = runner.invoke(traces, ["inspect", str(tmp_path / "nope.swf")])
    assert isinstance(missing.exception, TraceError)


def test_inspect_empty_trace_and_missing_output_folder(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.swf", SWF_HEADER)
    summary = inspect_trace(empty)
    assert summary["jobs"] == 0 and summary["offered_load"] is None
    result = CliRunner().invoke(traces, ["inspect", str(empty)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "no" / "such" / "t.parquet"
    failed = CliRunner().invoke(traces, ["import", str(empty), "--out", str(out)])
    assert isinstance(failed.exception, OutputError)


def test_inspect_rejects_foreign_parquet(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(TraceError, match="not a normalised job table"):
        inspect_trace(path)


# --------------------------------------------------------------------------- full traces


def shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(
            f"shared trace folder not available: {path} (tests run from a clone without ../shared)"
        )
    return path


def test_full_kth_matches_header_and_naive_parse() -> None:
    path = shared("pwa-swf/KTH-SP2-1996-2.1-cln.swf.gz")
    df = read_trace(path)
    raw = pd.read_csv(path, sep=r"\s+", comment=";", header=None)
    assert len(df) == len(raw) == 27_992
    assert df.attrs["header"]["MaxProcs"] == 100
    np.testing.assert_array_equal(df["run_s"], raw[3])
    np.testing.assert_array_equal(df["cards"], raw[4])


def test_full_itp_totals() -> None:
    folder = shared("microsoft-itp-2021")
    frames = [read_trace(p) for p in sorted(folder.glob("cluster*.csv.gz"))]
    assert len(frames) == 10
    jobs = sum(len(f) for f in frames)
    gpu_hours = sum(float((f["cards"] * f["run_s"]).sum()) for f in frames) / 3600
    assert jobs == 69_351
    assert gpu_hours == pytest.approx(1_632_719.7, abs=0.1)


def test_full_philly() -> None:
    df = read_trace(shared("philly-jobs-pollux/philly.csv.gz"))
    assert len(df) == 82_247
    assert df["cards"].mean() == pytest.approx(1.30, abs=0.005)
    assert df["tenant"].nunique() == 15


def test_full_openb_counts_add_up() -> None:
    path = shared("alibaba-openb-2023/openb_pod_list_default.csv.gz")
    df = read_trace(path, on_bad="skip", gpu_only=False)
    assert df.attrs["skipped"] == {"never scheduled (no run time)": 897}
    assert len(df) + 897 == 8_152


def test_full_llnl_counts_add_up() -> None:
    df = read_trace(shared("pwa-swf/LLNL-Thunder-2007-1.1-cln.swf.gz"), on_bad="skip")
    assert len(df) + sum(df.attrs["skipped"].values()) == 121_039
    assert df.attrs["skipped"]["unknown submit time (-1)"] == 1_190
    assert df.attrs["reordered"] == 0


def test_full_ricc_without_header() -> None:
    df = read_trace(shared("pwa-swf/RICC-2010-2.swf.gz"))
    assert len(df) == 447_794
    assert df.attrs["capacity"] is None and df.attrs["header"] == {}
    assert df["cards"].max() == 8_192
