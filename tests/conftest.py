import torch

# Tests use small tensors, where a second thread only adds contention (and under
# pytest-xdist two workers already share the two cores).
torch.set_num_threads(1)
