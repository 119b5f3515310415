import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One measured item, in the shape of `torch_reference.py`'s results so ratios are 1:1.
struct BenchResult {
  var key: String
  var value: Double?
  var unit: String
  var higherIsBetter: Bool
  var work: String
  var medianS = 0.0, minS = 0.0, maxS = 0.0
  var runs = 0, warmup = 0
  var cpuUtil = 0.0
  var error: String?
  /// Extra numbers (e.g. fraction of memory bandwidth, GFLOP/s per core).
  var extra: [String: Double] = [:]

  var json: [String: Any] {
    var d: [String: Any] = [
      "value": value.map { $0 as Any } ?? NSNull(), "unit": unit, "higher_is_better": higherIsBetter, "work": work,
    ]
    if let error {
      d["error"] = error
    } else {
      d["median_s"] = medianS; d["min_s"] = minS; d["max_s"] = maxS
      d["runs"] = runs; d["warmup"] = warmup; d["cpu_util"] = cpuUtil
    }
    for (k, v) in extra { d[k] = v }
    return d
  }
}

/// Wall and process CPU clocks.
enum Clock {
  static func wall() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }

  static func cpu() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }
}

/// Timing loop: `warmup` untimed calls, then `runs` timed calls; statistics over the calls.
struct Timing {
  var median: Double, min: Double, max: Double, runs: Int, warmup: Int, cpuUtil: Double

  static func measure(runs: Int, warmup: Int, scale: Double, _ body: () -> Void) -> Timing {
    let runs = Swift.max(3, Int((Double(runs) * scale).rounded()))
    for _ in 0..<warmup { body() }
    var times: [Double] = []
    times.reserveCapacity(runs)
    let c0 = Clock.cpu(), w0 = Clock.wall()
    for _ in 0..<runs {
      let t = Clock.wall()
      body()
      times.append(Clock.wall() - t)
    }
    let cpu = Clock.cpu() - c0, wall = Clock.wall() - w0
    times.sort()
    let mid = times.count / 2
    let median = times.count % 2 == 1 ? times[mid] : (times[mid - 1] + times[mid]) / 2
    return Timing(median: median, min: times[0], max: times[times.count - 1], runs: runs, warmup: warmup,
                  cpuUtil: wall > 0 ? cpu / wall : 0)
  }
}

extension Timing {
  /// Times `body(0)`, `body(1)`, ..., `body(count - 1)` in turn, round after round, so all see
  /// the same machine state (clock, other processes, memory traffic): ratios of their medians stay
  /// stable even when absolute times drift between items. `prepare` runs, untimed, before every
  /// call (e.g. to evict the caches). `cpuUtil` covers all calls.
  static func measureInterleaved(
    count: Int, runs: Int, warmup: Int, scale: Double, prepare: () -> Void = {}, _ body: (Int) -> Void
  ) -> [Timing] {
    let runs = Swift.max(3, Int((Double(runs) * scale).rounded()))
    for _ in 0..<warmup {
      for i in 0..<count {
        prepare()
        body(i)
      }
    }
    var times = [[Double]](repeating: [], count: count)
    var cpu = 0.0, wall = 0.0
    for _ in 0..<runs {
      for i in 0..<count {
        prepare()
        let c0 = Clock.cpu(), t = Clock.wall()
        body(i)
        let dt = Clock.wall() - t
        times[i].append(dt)
        wall += dt
        cpu += Clock.cpu() - c0
      }
    }
    return times.map { v in
      let s = v.sorted()
      let mid = s.count / 2
      let median = s.count % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
      return Timing(median: median, min: s[0], max: s[s.count - 1], runs: runs, warmup: warmup,
                    cpuUtil: wall > 0 ? cpu / wall : 0)
    }
  }
}

extension BenchResult {
  /// A result whose value is derived from the median time.
  init(_ key: String, _ t: Timing, unit: String, value: Double, higherIsBetter: Bool, work: String) {
    self.init(key: key, value: value, unit: unit, higherIsBetter: higherIsBetter, work: work)
    medianS = t.median; minS = t.min; maxS = t.max
    runs = t.runs; warmup = t.warmup; cpuUtil = t.cpuUtil
  }

  /// A failed or skipped item.
  static func failed(_ key: String, unit: String, higherIsBetter: Bool, work: String, error: String) -> BenchResult {
    var r = BenchResult(key: key, value: nil, unit: unit, higherIsBetter: higherIsBetter, work: work)
    r.error = error
    return r
  }
}

/// Keeps values alive so the optimizer cannot drop the work that produced them.
enum Sink {
  nonisolated(unsafe) static var value: Float = 0
  static func consume(_ x: Float) { value += x }
}
