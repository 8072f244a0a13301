"""CUDA-event timing shared by the peer scripts (do_bench style): warm-up calls, then events around
each call, the median in ms; optionally a 256 MB write between calls so L2 holds none of the inputs."""
import statistics


def event_median_ms(torch, fn, repeats, warmup, flush=False):
    cache = torch.empty(256 * 1024 * 1024 // 4, dtype=torch.int32, device="cuda") if flush else None
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        if cache is not None:
            cache.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)
