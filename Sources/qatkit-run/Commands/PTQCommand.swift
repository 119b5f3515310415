/// `qatkit-run ptq`: PTQ accuracy on digits of every preset × calibrator.
struct PTQCommand: Command {
  static let name = "ptq"
  static let abstract = "PTQ accuracy on digits for every preset and calibrator"
  static let usage = ["ptq"]
  static let discussion = """
    Quantizes the FP32 weights PyTorch trained (bundled, so max calibration compares one to one
    with ModelOpt) and weights trained here, with the max, percentile, MSE and entropy calibrators.
    """

  init(_ arguments: ParsedArguments) throws {}

  func run() throws { try PTQReport().run() }
}
