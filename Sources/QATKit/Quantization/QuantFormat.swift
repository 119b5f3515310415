/// The number format a quantizer maps values onto.
///
/// In JSON a format is a string: `"int8"`, `"int4"`, `"uint8"` (any width written as
/// `int<bits>` / `uint<bits>`), `"e4m3"`, `"e5m2"` (FP8), `"nvfp4"`, `"mxfp4"`, `"mxfp8"`.
/// Widths are checked by ``QuantizerAttributes/validate(path:)`` (2…8 bits), so a config
/// with `"int9"` decodes and then fails validation with the path named.
public enum QuantFormat: Hashable, Sendable, Codable, CustomStringConvertible {
  /// Symmetric integer with `bits` bits; `signed: false` is ModelOpt's `unsigned`.
  case int(bits: Int, signed: Bool)
  /// FP8 E4M3 (finite-only "fn" variant, max 448), scaled per tensor / channel / block.
  case e4m3
  /// FP8 E5M2 (max 57344), scaled per tensor / channel / block.
  case e5m2
  /// NVIDIA FP4: E2M1 elements in blocks of 16 with E4M3 block scales under a per-tensor
  /// FP32 scale `amax / (6·448)`.
  case nvfp4
  /// OCP MX FP4: E2M1 elements in blocks of 32 with power-of-two (E8M0) scales.
  case mxfp4
  /// OCP MX FP8: E4M3 elements in blocks of 32 with power-of-two (E8M0) scales.
  case mxfp8

  /// Signed 8-bit integers.
  public static let int8 = QuantFormat.int(bits: 8, signed: true)
  /// Signed 4-bit integers.
  public static let int4 = QuantFormat.int(bits: 4, signed: true)

  /// The JSON spelling.
  public var description: String {
    switch self {
    case .int(let b, let s): return (s ? "int" : "uint") + String(b)
    case .e4m3: return "e4m3"
    case .e5m2: return "e5m2"
    case .nvfp4: return "nvfp4"
    case .mxfp4: return "mxfp4"
    case .mxfp8: return "mxfp8"
    }
  }

  /// Every non-integer spelling, for error messages.
  public static let floatSpellings = ["e4m3", "e5m2", "nvfp4", "mxfp4", "mxfp8"]

  /// Parses the JSON spelling; `nil` when it is not a format.
  public init?(parsing text: String) {
    switch text {
    case "e4m3", "fp8", "fp8_e4m3": self = .e4m3
    case "e5m2", "fp8_e5m2": self = .e5m2
    case "nvfp4": self = .nvfp4
    case "mxfp4": self = .mxfp4
    case "mxfp8": self = .mxfp8
    default:
      if text.hasPrefix("uint"), let b = Int(text.dropFirst(4)) { self = .int(bits: b, signed: false) }
      else if text.hasPrefix("int"), let b = Int(text.dropFirst(3)) { self = .int(bits: b, signed: true) }
      else { return nil }
    }
  }

  /// Decodes the JSON spelling.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    let s = try c.decode(String.self)
    guard let f = QuantFormat(parsing: s) else {
      throw DecodingError.dataCorruptedError(
        in: c,
        debugDescription: "unknown format '\(s)'; use int<2…8>, uint<2…8>, \(Self.floatSpellings.joined(separator: ", "))")
    }
    self = f
  }

  /// Encodes the JSON spelling.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(description)
  }

  /// Whether this is an integer format.
  public var isInteger: Bool { if case .int = self { true } else { false } }

  /// Whether this is a block-scaled format (NVFP4, MX), which requires a block size and has
  /// no per-channel form.
  public var isBlockScaled: Bool {
    switch self {
    case .nvfp4, .mxfp4, .mxfp8: true
    default: false
    }
  }

  /// Whether the format has a calibrated (or dynamic) range `amax`. MX formats have only
  /// per-block power-of-two scales computed from the data.
  public var usesAmax: Bool {
    switch self {
    case .mxfp4, .mxfp8: false
    default: true
    }
  }

  /// The block size the format is defined with (16 for NVFP4, 32 for MX), else `nil`.
  public var defaultBlockSize: Int? {
    switch self {
    case .nvfp4: 16
    case .mxfp4, .mxfp8: 32
    default: nil
    }
  }

  /// The largest code magnitude the range `amax` maps to: `2^(b-1+unsigned) - 1` for
  /// integers (ModelOpt's `maxbound`, independent of narrow range), 448 (E4M3), 57344 (E5M2),
  /// 6 (E2M1 elements).
  public var maxBound: Float {
    switch self {
    case .int(let b, let s): Float((1 << (b - (s ? 1 : 0))) - 1)
    case .e4m3, .mxfp8: 448
    case .e5m2: 57344
    case .nvfp4, .mxfp4: 6
    }
  }

  /// Number of quantization levels on the positive side, for histogram (entropy) calibration:
  /// `2^(b-1+unsigned)` for integers, 128 for 8-bit floats, 8 for 4-bit floats.
  public var positiveLevels: Int {
    switch self {
    case .int(let b, let s): 1 << (b - (s ? 1 : 0))
    case .e4m3, .e5m2, .mxfp8: 128
    case .nvfp4, .mxfp4: 8
    }
  }

  /// Bits per stored element code.
  public var codeBits: Int {
    switch self {
    case .int(let b, _): b
    case .e4m3, .e5m2, .mxfp8: 8
    case .nvfp4, .mxfp4: 4
    }
  }
}
