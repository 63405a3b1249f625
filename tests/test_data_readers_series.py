import sys

import numpy as np
import pytest

from rnnkit.data import DataError, MissingDependencyError, read_time_series


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_univariate_csv_with_time_column(tmp_path):
    p = write(tmp_path / "s.csv", "month,value\n2020-01,1.5\n2020-02,2\n2020-03,-3e1\n")
    s = read_time_series(p, time_column="month")
    assert s.values.shape == (3, 1) and s.values[:, 0].tolist() == [1.5, 2.0, -30.0]
    assert s.columns == ["value"] and s.time.tolist() == ["2020-01", "2020-02", "2020-03"]
    train, test = s.split(1)
    assert len(train) == 2 and test.time.tolist() == ["2020-03"]


def test_multivariate_csv_column_selection(tmp_path):
    p = write(tmp_path / "m.csv", "a,b,c\n1,2,3\n4,5,6\n")
    assert read_time_series(p).values.tolist() == [[1, 2, 3], [4, 5, 6]]
    s = read_time_series(p, columns=["c", "a"])
    assert s.columns == ["c", "a"] and s.values.tolist() == [[3, 1], [6, 4]]
    assert read_time_series(p, columns="b").num_features == 1


def test_series_errors(tmp_path):
    p = write(tmp_path / "m.csv", "a,b\n1,2\n3,x\n")
    with pytest.raises(DataError, match="non-numeric value 'x' in column 'b' on line 3"):
        read_time_series(p)
    q = write(tmp_path / "q.csv", "a,b\n1,2\n3,\n")
    with pytest.raises(DataError, match="missing value in column 'b' on line 3"):
        read_time_series(q)
    with pytest.raises(DataError, match=r"column 'z' not found; available columns: \['a', 'b'\]"):
        read_time_series(q, columns=["z"])
    with pytest.raises(DataError, match="time column 'date' not found"):
        read_time_series(q, time_column="date")
    with pytest.raises(DataError, match="is empty: expected at least one row"):
        read_time_series(write(tmp_path / "e.csv", "a,b\n"))
    with pytest.raises(DataError, match="malformed line 2: expected 2 fields"):
        read_time_series(write(tmp_path / "f.csv", "a,b\n1\n"))
    with pytest.raises(DataError, match="missing or infinite value"):
        read_time_series(write(tmp_path / "g.csv", "a\nnan\n"))
    with pytest.raises(ValueError, match="`test_size`: expected fewer steps"):
        read_time_series(write(tmp_path / "h.csv", "a\n1\n2\n")).split(2)


def test_parquet_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"t": pd.date_range("2020-01-01", periods=4, freq="D"), "x": [1.0, 2, 3, 4], "y": [0, 1, 0, 1]})
    path = tmp_path / "s.parquet"
    frame.to_parquet(path)
    s = read_time_series(path, time_column="t")
    assert s.values.shape == (4, 2) and s.columns == ["x", "y"] and len(s.time) == 4
    frame.loc[2, "x"] = np.nan
    frame.to_parquet(path)
    with pytest.raises(DataError, match="in column 'x' on row 3"):
        read_time_series(path, time_column="t")
    corrupt = tmp_path / "bad.parquet"
    corrupt.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_time_series(corrupt)


def test_parquet_without_pyarrow_names_the_package(tmp_path, monkeypatch):
    path = tmp_path / "s.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` raise ImportError
    with pytest.raises(MissingDependencyError, match="Reading Parquet files needs the package 'pyarrow'.*pip install pyarrow"):
        read_time_series(path)
