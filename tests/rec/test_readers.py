"""Readers on real slices of ../shared/data/raw, and malformed logs."""

import gzip
import re

import numpy as np
import pytest

from via.rec.data.benchmark import load_benchmark, read_session_lines
from via.rec.data.errors import MalformedInputError, RowErrors
from via.rec.data.events import EventLogFormat, get_format, read_event_log


def test_diginetica_views(shared_data):
    path = shared_data / "raw" / "diginetica_sample_train-item-views.csv"
    log = read_event_log(path, "diginetica")
    first_lines = path.read_text().splitlines()[1:4]
    # 1;NA;81766;526309;2016-05-09 -> session 1, item 81766, 2016-05-09 + 526.309 s
    s, _, item, frame, date = first_lines[0].split(";")
    assert (log.session[0], log.item[0]) == (int(s), int(item))
    assert log.time[0] == pytest.approx(1462752000 + int(frame) / 1000)
    assert len(log) == len(path.read_text().splitlines()) - 1


def test_yoochoose_gru4rec_tsv(shared_data):
    path = shared_data / "raw" / "yoochoose-clicks-100k_test.tsv.gz"
    log = read_event_log(path, "gru4rec")
    assert len(log) == 13568
    with gzip.open(path, "rt") as f:
        f.readline()
        s, i, t = f.readline().split("\t")
    assert (log.session[0], log.item[0]) == (int(s), int(i))
    assert log.time[0] == pytest.approx(float(t))


def test_yoochoose_csv_without_header(tmp_path, shared_data):
    # the RecSys Challenge layout, built from the real slice: session,ISO time,item,category
    from datetime import datetime, timezone

    src = read_event_log(shared_data / "raw" / "yoochoose-clicks-100k_test.tsv.gz", "gru4rec")
    path = tmp_path / "yoochoose-clicks.dat"
    with open(path, "w") as f:
        for s, t, i in zip(src.session[:500], src.time[:500], src.item[:500]):
            stamp = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            f.write(f"{s},{stamp}Z,{i},0\n")
    log = read_event_log(path, "yoochoose")
    np.testing.assert_array_equal(log.item, src.item[:500])
    np.testing.assert_allclose(log.time, src.time[:500], atol=1e-3)


def test_visitor_log_is_cut_into_sessions(shared_data):
    # Diginetica's purchase log has user ids (NA for anonymous shoppers) and no session we use
    fmt = get_format(
        "visitor", delimiter=";", user="userId", item="itemId", time="timeframe",
        date="eventdate", event="ordernumber", time_unit="date+ms",
    )
    errors = RowErrors("skip")
    log = read_event_log(shared_data / "raw" / "diginetica_train-purchases.csv", fmt, errors)
    assert errors.count > 0 and "user id 'NA' is not an integer" in str(errors.rows[0])
    assert len(log) + errors.count == 18025
    # every session holds one user's clicks with no gap over 30 minutes
    order = np.lexsort((log.time, log.session))
    sess, time = log.session[order], log.time[order]
    same = sess[1:] == sess[:-1]
    assert (np.diff(time)[same] <= 1800).all()


def test_malformed_rows_report_file_and_line(tmp_path):
    path = tmp_path / "views.csv"
    path.write_text(
        "session_id;user_id;item_id;timeframe;eventdate\n"
        "1;NA;81766;526309;2016-05-09\n"
        "1;NA;abc;526310;2016-05-09\n"  # line 3: non-integer item
        "2;NA;5\n"  # line 4: missing fields
        "3;NA;7;12;2016-13-40\n"  # line 5: bad date
        "4;NA;8;100;2016-05-10\n"
    )
    with pytest.raises(MalformedInputError) as info:
        read_event_log(path, "diginetica")
    assert f"{path}:3: item id 'abc' is not an integer" in str(info.value)
    errors = RowErrors("skip")
    log = read_event_log(path, "diginetica", errors)
    assert log.item.tolist() == [81766, 8]
    assert errors.count == 3
    assert [r.line for r in errors.rows] == [3, 4, 5]
    assert "cannot be parsed" in errors.rows[2].reason


def test_missing_header_column_is_named(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("SessionId\tItem\tTime\n1\t2\t3\n")
    with pytest.raises(ValueError, match="lacks column"):
        read_event_log(path, "gru4rec")


def test_format_needs_a_way_to_cut_sessions():
    with pytest.raises(ValueError, match="session column or a user column"):
        EventLogFormat(delimiter=",", item="i", time="t", time_unit="seconds")


def test_benchmark_reader(shared_data, tmp_path):
    data = load_benchmark("yoochoose1_64")
    assert (len(data.train), data.train.n_clicks) == (116167, 486026)
    assert (len(data.test), data.test.n_clicks) == (15324, 71222)
    assert data.n_items == len(np.unique(data.train.items))
    # the raw ids of unseen test items map to 0 (369 such ids in this release)
    raw_test = np.concatenate(read_session_lines(shared_data / "benchmarks/yoochoose1_64/test.txt.gz"))
    unseen = ~np.isin(raw_test, data.item_ids[1:])
    assert len(np.unique(raw_test[unseen])) == 369
    assert (data.test.items == 0).sum() == unseen.sum()
    # item ids keep their raw order
    assert (np.diff(data.item_ids[1:]) > 0).all()


def test_benchmark_reader_reports_bad_line(tmp_path):
    (tmp_path / "train.txt").write_text("1 2 3\n4 x 5\n")
    (tmp_path / "test.txt").write_text("1 2\n")
    with pytest.raises(MalformedInputError, match=r"train.txt:2: item id 'x' is not an integer"):
        load_benchmark(tmp_path)


def test_empty_training_file_is_refused(tmp_path):
    (tmp_path / "train.txt").write_text("")
    (tmp_path / "test.txt").write_text("1 2\n")
    with pytest.raises(ValueError, match="no training sessions"):
        load_benchmark(tmp_path)


@pytest.mark.parametrize("field,reason", [("--5", "is not an integer"), ("-4", "is negative"),
                                          ("1_000", "is not an integer"), ("+4", "is not an integer")])
def test_benchmark_ids_are_plain_digits(tmp_path, field, reason):
    (tmp_path / "train.txt").write_text(f"1 2\n3 {field}\n")
    (tmp_path / "test.txt").write_text("1 2\n")
    with pytest.raises(MalformedInputError, match=re.escape(f"train.txt:2: item id '{field}' {reason}")):
        load_benchmark(tmp_path)
