"""Losses and metrics: Keras' documented values, torch twins, shapes, and bad labels."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.train import (Accuracy, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
                          get_loss, get_metrics)


def test_keras_documented_values():
    # values from the keras.io examples of the three cross-entropies
    y_pred = torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    assert float(get_loss("categorical_crossentropy")(y_pred, torch.tensor([[0.0, 1, 0], [0, 0, 1]]))) == pytest.approx(1.177, abs=1e-3)
    assert float(get_loss("sparse_categorical_crossentropy")(y_pred, torch.tensor([1, 2]))) == pytest.approx(1.177, abs=1e-3)
    bce = get_loss("binary_crossentropy")(torch.tensor([[0.6, 0.4], [0.4, 0.6]]), torch.tensor([[0.0, 1], [0, 0]]))
    assert float(bce) == pytest.approx(0.815, abs=1e-3)


def test_probability_losses_equal_torch_and_logit_variants():
    torch.manual_seed(0)
    logits = torch.randn(6, 5, 4)  # (B, T, C)
    labels = torch.randint(0, 4, (6, 5))
    probs = logits.softmax(-1)
    reference = F.cross_entropy(logits.reshape(-1, 4), labels.reshape(-1))
    assert torch.allclose(SparseCategoricalCrossentropy()(probs, labels), reference, atol=1e-5)
    assert torch.allclose(SparseCategoricalCrossentropy(from_logits=True)(logits, labels), reference, atol=1e-6)
    assert torch.allclose(SparseCategoricalCrossentropy()(probs, labels.unsqueeze(-1)), reference, atol=1e-5)
    one_hot = F.one_hot(labels, 4).float()
    assert torch.allclose(CategoricalCrossentropy()(probs, one_hot), reference, atol=1e-5)
    assert torch.allclose(CategoricalCrossentropy(from_logits=True)(logits, one_hot), reference, atol=1e-6)
    binary_logits, targets = torch.randn(10, 1), torch.randint(0, 2, (10, 1)).float()
    expected = F.binary_cross_entropy_with_logits(binary_logits, targets)
    assert torch.allclose(BinaryCrossentropy()(binary_logits.sigmoid(), targets), expected, atol=1e-5)
    assert torch.allclose(BinaryCrossentropy(from_logits=True)(binary_logits, targets), expected, atol=1e-6)
    assert torch.allclose(BinaryCrossentropy()(binary_logits.sigmoid(), targets.squeeze(1)), expected, atol=1e-5)


def test_probabilities_of_zero_and_one_stay_finite_as_in_keras():
    loss = get_loss("binary_crossentropy")(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]))
    high = torch.tensor(1 - 1e-7)  # the clip bound, as stored in float32
    expected = -(torch.log(torch.tensor(1e-7)) + torch.log1p(-high)) / 2
    assert torch.isfinite(loss) and float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_bad_labels_and_shapes_are_named():
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: expected labels in \[0, 3\] for 4 classes, got labels in \[0, 4\]"):
        get_loss("sparse_categorical_crossentropy")(torch.full((2, 4), 0.25), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: expected integer `targets` of shape \(2,\)"):
        get_loss("sparse_categorical_crossentropy")(torch.full((2, 4), 0.25), torch.tensor([[0, 1, 2], [1, 1, 1]]))
    with pytest.raises(ValueError, match=r"binary_crossentropy: expected targets in \[0, 1\], got values in \[0.0, 2.0\]"):
        get_loss("binary_crossentropy")(torch.full((2, 1), 0.5), torch.tensor([[0.0], [2.0]]))
    with pytest.raises(ValueError, match=r"categorical_crossentropy: expected `targets` of the same shape as the model's outputs \(2, 3\)"):
        get_loss("categorical_crossentropy")(torch.full((2, 3), 0.3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"mean_squared_error: expected `targets` of the same shape"):
        get_loss("mse")(torch.zeros(2, 3), torch.zeros(3, 3))


def test_accuracy_kind_follows_shapes_like_keras():
    accuracy = Accuracy()
    probs = torch.tensor([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    assert accuracy.kind_for(probs, torch.tensor([1, 0, 0])) == "sparse"
    assert float(accuracy(probs, torch.tensor([1, 0, 0]))) == pytest.approx(2 / 3)
    assert float(accuracy(probs, torch.tensor([[1], [0], [2]]))) == pytest.approx(1.0)
    assert accuracy.kind_for(probs, F.one_hot(torch.tensor([1, 1, 2]), 3)) == "categorical"
    assert float(accuracy(probs, F.one_hot(torch.tensor([1, 1, 2]), 3).float())) == pytest.approx(2 / 3)
    binary = torch.tensor([[0.9], [0.4], [0.51]])
    assert accuracy.kind_for(binary, torch.ones(3, 1)) == "binary"
    assert float(accuracy(binary, torch.tensor([[1.0], [0.0], [0.0]]))) == pytest.approx(2 / 3)
    logit_accuracy = get_metrics(["accuracy"], BinaryCrossentropy(from_logits=True))["accuracy"]
    assert float(logit_accuracy(torch.tensor([[0.2], [-0.1]]), torch.tensor([[1.0], [0.0]]))) == 1.0
    mae = get_metrics(["mae"])["mae"]
    assert float(mae(torch.tensor([[1.0], [2.0]]), torch.tensor([0.0, 4.0]))) == pytest.approx(1.5)


def test_metric_names_are_checked():
    with pytest.raises(ValueError, match="argument `metrics`.*'precision'"):
        get_metrics(["precision"])
    with pytest.raises(ValueError, match="reserved"):
        get_metrics({"val_x": lambda o, t: o.mean()})
    with pytest.raises(TypeError, match="argument `metrics`.*expected a callable"):
        get_metrics({"x": 3})
