import numpy as np
import pytest
import torch

from rnnkit.data import Scaler, holdout_windows, sliding_windows


def test_sliding_windows_univariate_multistep():
    series = np.arange(10.0)
    w = sliding_windows(series, lookback=3, horizon=2)
    assert w.inputs.shape == (6, 3, 1) and w.targets.shape == (6, 2, 1) and w.future_exogenous is None
    assert w.inputs[0, :, 0].tolist() == [0, 1, 2] and w.targets[0, :, 0].tolist() == [3, 4]
    assert w.inputs[-1, :, 0].tolist() == [5, 6, 7] and w.targets[-1, :, 0].tolist() == [8, 9]
    assert w.starts.tolist() == list(range(6))
    strided = sliding_windows(series, 3, 2, stride=2)
    assert strided.starts.tolist() == [0, 2, 4]


def test_sliding_windows_multivariate_targets_and_exogenous():
    series = np.stack([np.arange(8.0), 100 + np.arange(8.0)], axis=1)  # (8, 2)
    exo = -np.arange(8.0)
    w = sliding_windows(series, 2, 3, target_columns=[1], exogenous=exo)
    assert w.inputs.shape == (4, 2, 3)  # 2 series columns + 1 exogenous
    assert w.inputs[1].tolist() == [[1, 101, -1], [2, 102, -2]]
    assert w.targets.shape == (4, 3, 1) and w.targets[1, :, 0].tolist() == [103, 104, 105]
    assert w.future_exogenous[1, :, 0].tolist() == [-3, -4, -5]


def test_window_errors():
    with pytest.raises(ValueError, match=r"`horizon`: lookback \(5\) \+ horizon \(6\) = 11 steps is longer than the series \(10 steps\)"):
        sliding_windows(np.arange(10.0), 5, 6)
    with pytest.raises(ValueError, match="`lookback`"):
        sliding_windows(np.arange(10.0), 0)
    with pytest.raises(ValueError, match="`exogenous`: expected 10 steps"):
        sliding_windows(np.arange(10.0), 2, exogenous=np.arange(9.0))
    with pytest.raises(ValueError, match="`target_columns`"):
        sliding_windows(np.arange(10.0), 2, target_columns=[1])
    with pytest.raises(ValueError, match="`series`: expected finite numbers"):
        sliding_windows(np.array([1.0, np.nan, 2.0]), 1)


def test_holdout_windows_targets_tile_the_test_range():
    series = np.arange(20.0)
    train, test = holdout_windows(series, lookback=4, horizon=3, test_size=6)
    assert train.targets.max() <= 13  # training targets stay inside the first 14 steps
    assert train.inputs.max() <= 13
    assert test.targets[:, :, 0].tolist() == [[14, 15, 16], [17, 18, 19]]
    assert test.inputs[0, :, 0].tolist() == [10, 11, 12, 13]  # inputs reach back into training
    with pytest.raises(ValueError, match="`test_size`"):
        holdout_windows(series, 4, 3, test_size=20)


def test_scaler_fitted_on_train_only():
    train, test = np.array([[0.0, 10], [2, 10], [4, 10]]), np.array([[6.0, 12]])
    s = Scaler("standard").fit(train)
    assert np.allclose(s.transform(train).mean(axis=0), [0, 0])
    assert np.allclose(s.offset, [2, 10]) and np.allclose(s.scale, [np.std([0, 2, 4]), 1.0])  # constant column: scale 1
    assert np.allclose(s.transform(test), [[4 / np.std([0, 2, 4]), 2]])  # not refitted on test
    assert np.allclose(s.inverse_transform(s.transform(test)), test)
    m = Scaler("minmax").fit(train)
    assert np.allclose(m.transform(train)[:, 0], [0, 0.5, 1]) and np.allclose(m.transform(test), [[1.5, 2]])


def test_scaler_tensors_columns_and_state():
    s = Scaler().fit(np.array([[1.0, 100], [3, 300]]))
    t = torch.tensor([[2.0, 200]])
    out = s.transform(t)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and torch.allclose(out, torch.zeros(1, 2))
    # Inverse of predictions for the second column only (a target column of a multivariate series).
    pred = torch.tensor([[[1.0]]])
    assert s.inverse_transform(pred, columns=[1]).item() == pytest.approx(300)
    again = Scaler.from_state_dict(s.state_dict())
    assert np.allclose(again.transform(np.array([[3.0, 300]])), s.transform(np.array([[3.0, 300]])))
    u = Scaler().fit(np.arange(5.0))
    assert u.transform(np.arange(5.0)).shape == (5,)


def test_scaler_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        Scaler().transform(np.ones((2, 1)))
    with pytest.raises(ValueError, match="`kind`: expected one of"):
        Scaler("robust")
    s = Scaler().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"expected 2 columns \(as fitted\)"):
        s.transform(np.ones((3, 3)))
