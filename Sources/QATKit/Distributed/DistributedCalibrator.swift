/// A calibrator whose statistics combine across the ranks of a data-parallel job, so that
/// calibrating with every rank observing its own shard of the data gives the ranges one process
/// computes over all of it.
///
/// The `quantize` mode, given a communicator of more than one rank (``CommunicatorKey``), calls
/// ``beginDistributed(_:)`` on every activation calibrator after the quantizer's
/// `beginCalibration`, runs the forward loop (each rank feeding its shard of every calibration
/// batch: every rank must run the same number of forward passes, empty shards included), then
/// ``reduce(over:)`` on each calibrator in model order, then computes the ranges as usual. Weight
/// calibration needs none of this (every rank holds the same weights). A calibrator that does not
/// conform makes a data-parallel `quantize` fail with an error naming it.
///
/// Built in: ``MaxCalibrator`` (per-group maxima reduce with MAX: bit-identical to one process)
/// and the histogram calibrators ``PercentileCalibrator``, ``MSECalibrator`` and
/// ``EntropyCalibrator``: the ranks agree on the first bin width when the first non-zero values
/// arrive (one MAX all-reduce of that batch's maxima), grow to the width the global maximum needs
/// and sum their counts, which gives the single-process histogram (widths are that first width
/// times powers of two and each merge halves bin indices exactly), hence the same ranges.
public protocol DistributedCalibrator: Calibrator {
  /// Starts a data-parallel calibration over `communicator` (called after ``Calibrator/reset()``).
  /// The calibrator may then make collective calls from ``Calibrator/collect(_:)``, which every
  /// rank calls the same number of times.
  func beginDistributed(_ communicator: any Communicator)
  /// Combines the statistics of every rank (a collective call); afterwards every rank holds the
  /// statistics of all the data and ``Calibrator/computeAmax(for:)`` gives the same ranges on
  /// every rank. Ends the data-parallel mode.
  ///
  /// - Throws: ``CommunicatorError`` when a collective failed (also one made while collecting)
  ///   or the ranks collected differently shaped statistics.
  func reduce(over communicator: any Communicator) throws
}

extension Communicator {
  /// Checks that every rank passes the same `value` (e.g. a number of groups).
  ///
  /// - Throws: ``CommunicatorError/unsupported(_:)`` naming `what` when ranks disagree.
  func checkSame(_ value: Int, _ what: String) throws {
    let r = try allReduce([Double(value), -Double(value)], .max)
    guard r[0] == -r[1] else {
      throw CommunicatorError.unsupported(
        "ranks disagree on \(what) (this rank \(value), others between \(Int(-r[1])) and \(Int(r[0]))): every rank must run "
          + "the same model over the same number of calibration batches")
    }
  }
}

extension MaxCalibrator: DistributedCalibrator {
  /// Nothing to set up: the maxima combine at the end.
  public func beginDistributed(_ communicator: any Communicator) {}

  /// Per-group maxima reduce with MAX, skipped-value counts with SUM.
  public func reduce(over communicator: any Communicator) throws {
    try communicator.checkSame(seen ? amax.count : 0, "the number of calibration groups")
    let counts = try communicator.allReduce([Double(seen ? 1 : 0), Double(nonFiniteCount)], .sum)
    nonFiniteCount = Int(counts[1])
    guard counts[0] > 0 else { return }
    amax = try communicator.allReduce(amax, .max)
    seen = true
  }
}

extension HistogramCalibratorBase {
  /// Attaches the communicator (see ``DistributedCalibrator``).
  public func beginDistributed(_ communicator: any Communicator) {
    self.communicator = communicator.size > 1 ? communicator : nil
    collectiveError = nil
  }

  /// While some group has no bin width yet, agrees across ranks on this batch's per-group
  /// maximum, so every rank starts its histograms with the width one process would pick from
  /// the whole batch.
  package func agreeOnFirstWidths(_ batch: CalibrationBatch, communicator: any Communicator) {
    guard collectiveError == nil, histograms.contains(where: { $0.width == 0 }) else { return }
    var maxima = [Float](repeating: 0, count: batch.groupCount)
    batch.values.withUnsafeBufferPointer { v in
      for g in 0..<batch.groupCount where histograms[g].width == 0 {
        var m: Float = 0
        for i in (g * batch.groupSize)..<((g + 1) * batch.groupSize) where v[i].isFinite { m = Swift.max(m, Swift.abs(v[i])) }
        maxima[g] = m
      }
    }
    do {
      maxima = try communicator.allReduce(maxima, .max)
    } catch {
      collectiveError = error
      return
    }
    for g in 0..<batch.groupCount where histograms[g].width == 0 && maxima[g] > 0 {
      histograms[g].startWidth(forMaximum: maxima[g])
    }
  }

  /// Grows every rank's histograms to the width the global maximum needs, then sums counts,
  /// totals and skipped values; maxima reduce with MAX.
  public func reduce(over communicator: any Communicator) throws {
    let attached = self.communicator != nil
    defer { self.communicator = nil }
    if let collectiveError { throw collectiveError }
    guard communicator.size > 1 else { return }
    guard attached else {
      throw CommunicatorError.unsupported(
        "histogram calibrator reduced without beginDistributed(_:): its ranks chose bin widths on their own and cannot merge exactly")
    }
    try communicator.checkSame(histograms.count, "the number of calibration groups")
    guard !histograms.isEmpty else { return }
    let maxima = try communicator.allReduce(histograms.map(\.maxSeen), .max)
    let groups = histograms.count
    var sums = [Double](repeating: 0, count: groups * (bins + 1) + 1)
    for g in 0..<groups {
      if histograms[g].width > 0 { histograms[g].cover(maxima[g]) }
      histograms[g].maxSeen = maxima[g]
      for b in 0..<bins { sums[g * (bins + 1) + b] = histograms[g].counts[b] }
      sums[g * (bins + 1) + bins] = histograms[g].total
    }
    sums[groups * (bins + 1)] = Double(nonFiniteCount)
    sums = try communicator.allReduce(sums, .sum)
    for g in 0..<groups {
      histograms[g].counts = Array(sums[(g * (bins + 1))..<(g * (bins + 1) + bins)])
      histograms[g].total = sums[g * (bins + 1) + bins]
    }
    nonFiniteCount = Int(sums[groups * (bins + 1)])
  }
}

extension PercentileCalibrator: DistributedCalibrator {}
extension MSECalibrator: DistributedCalibrator {}
extension EntropyCalibrator: DistributedCalibrator {}
