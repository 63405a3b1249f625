"""Stock LSTM at batch 1: rnnkit backend="fused" (the panel matvec of csrc/matvec.h) against
torch.nn.LSTM (oneDNN), interleaved, minimum of 6 rounds, one thread. Prints one line per point;
results/kernels_batch1_vs_onednn.txt holds a run. Evidence for dispatch.auto_prefers_vendor."""
import time, torch, rnnkit
torch.set_num_threads(1)
def mk(layer, x, train):
    layer.train(train)
    def run():
        if train:
            layer.zero_grad(set_to_none=True); out, _ = layer(x); out.sum().backward()
        else:
            with torch.no_grad(): layer(x)
    return run
for H in (256, 512):
    for T in (50, 200):
        for train in (True, False):
            torch.manual_seed(0); x = torch.randn(T, 1, 128)
            f = rnnkit.LSTM(128, H, backend="fused"); n = torch.nn.LSTM(128, H)
            runs = {"fused": mk(f, x, train), "nn": mk(n, x, train)}; best = {k: 1e9 for k in runs}
            for _ in range(6):
                for k, r in runs.items():
                    r(); t = time.perf_counter(); r(); best[k] = min(best[k], time.perf_counter() - t)
            print(f"lstm {'train' if train else 'infer'} B1 H{H} T{T}: fused {best['fused']*1e3:.3f} ms  nn(oneDNN) {best['nn']*1e3:.3f} ms  fused/nn {best['fused']/best['nn']:.2f}", flush=True)
