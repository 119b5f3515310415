/// Values seen by a quantizer during calibration, split into the groups that share one range:
/// one group per tensor, per channel or per block (see ``QuantGranularity``).
///
/// `values` holds `groupCount × groupSize` numbers, group-major (group 0's values first).
public struct CalibrationBatch: Sendable {
  /// Number of ranges (1 for per-tensor).
  public let groupCount: Int
  /// Values per group in this batch.
  public let groupSize: Int
  /// The values, group-major; may contain NaN / ±Inf, which calibrators skip and count.
  public let values: [Float]

  /// Creates a batch; `values.count` must be `groupCount × groupSize`.
  public init(groupCount: Int, groupSize: Int, values: [Float]) {
    precondition(groupCount * groupSize == values.count, "CalibrationBatch: \(values.count) values != \(groupCount)×\(groupSize)")
    self.groupCount = groupCount
    self.groupSize = groupSize
    self.values = values
  }
}

/// What a calibrator needs to know about the quantizer it serves when it turns statistics
/// into ranges.
public struct CalibrationTarget {
  /// The quantizer's number format.
  public let format: QuantFormat
  /// Fake-quantizes `values` (one group) with range `amax`, exactly as the quantizer's
  /// forward pass does; used by error-minimizing calibrators.
  public let fakeQuantize: ([Float], Float) -> [Float]

  /// Creates a target.
  public init(format: QuantFormat, fakeQuantize: @escaping ([Float], Float) -> [Float]) {
    self.format = format
    self.fakeQuantize = fakeQuantize
  }
}

/// Observes tensors during a calibration forward loop and yields ranges (`amax`), one per
/// group (tensor, channel or block), as ModelOpt's `_Calibrator`s do.
///
/// Contract: non-finite values (NaN, ±Inf) never enter a range; they are skipped and counted
/// in ``nonFiniteCount``. A group that saw only zeros gets `amax == 0`, which quantizes to 0
/// (ModelOpt's `amax <= 2^-24` rule). Plugins add calibrators by name through
/// ``QuantizationEnvironment/calibrators``.
public protocol Calibrator: AnyObject {
  /// Accumulates statistics of one batch. Every batch a calibrator sees has the same
  /// `groupCount`.
  func collect(_ batch: CalibrationBatch)
  /// The range per group from everything collected, or `nil` when nothing was collected.
  ///
  /// - Throws: When statistics cannot give a range (a calibrator's own errors).
  func computeAmax(for target: CalibrationTarget) throws -> [Float]?
  /// How many NaN / ±Inf values were skipped.
  var nonFiniteCount: Int { get }
  /// Forgets everything collected.
  func reset()
}

