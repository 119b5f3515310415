/// What PyTorch 2.13 + ModelOpt 0.47 reach on the same digits jobs (shared/reference/ANCHORS.md).
enum Reference {
  static let fp32: Float = 0.9722
  static let table: [String: (ptq: Float, qat: Float, qatKD: Float)] = [
    "int8": (0.9722, 0.9722, 0.9722),
    "w2a4": (0.9000, 0.9722, 0.9722),
    "w3a4-all": (0.2028, 0.2444, 0.2500),
  ]
}
