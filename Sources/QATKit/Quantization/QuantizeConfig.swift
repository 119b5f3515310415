/// The `quantize` mode's configuration: an ordered list of wildcard rules over quantizer
/// paths, ModelOpt's list-format `quant_cfg`.
///
/// Rules apply in order and later rules win. A rule with `cfg` sets the full attributes of
/// every quantizer path it matches (absent keys take ``QuantizerAttributes`` defaults); a rule
/// with only `enable` switches quantizers that earlier rules configured on or off. Slots that
/// no rule configures stay empty (the identity). Unlike ModelOpt, a pattern that matches no
/// quantizer path is an error listing the paths that exist, unless the rule is marked
/// `optional` (the presets' `*lm_head*` rule is).
///
/// JSON:
/// ```json
/// {"quantCfg": [
///   {"quantizerName": "*weight_quantizer", "cfg": {"format": "int8", "axis": 0}},
///   {"quantizerName": "*input_quantizer", "cfg": {"format": "int8"}},
///   {"quantizerName": "*lm_head*", "enable": false, "optional": true},
///   {"quantizerName": "fc1.input_quantizer", "cfg": {"format": "int8"}}],
///  "algorithm": {"method": "smoothquant", "alpha": 0.5}}
/// ```
///
/// `algorithm` (optional, ModelOpt's key) names a ``CalibrationAlgorithm`` that calibrates the
/// quantizers instead of plain calibration and may transform the model on the way (AWQ,
/// SmoothQuant, GPTQ plugins); see ``CalibrationAlgorithmSpec``.
public struct QuantizeConfig: Codable, Hashable, Sendable {
  /// One rule.
  public struct Entry: Codable, Hashable, Sendable {
    /// The wildcard over quantizer paths (`fc1.weight_quantizer`).
    public var quantizerName: WildcardPattern
    /// Attributes for the matched quantizers, replacing earlier ones.
    public var cfg: QuantizerAttributes?
    /// Switches matched quantizers on or off (overrides `cfg.enable` when both are given).
    public var enable: Bool?
    /// Whether the pattern may match nothing.
    public var optional: Bool

    /// Creates a rule.
    public init(_ pattern: String, cfg: QuantizerAttributes? = nil, enable: Bool? = nil, optional: Bool = false) {
      quantizerName = WildcardPattern(pattern)
      self.cfg = cfg
      self.enable = enable
      self.optional = optional
    }

    private enum CodingKeys: String, CodingKey { case quantizerName, cfg, enable, optional }

    /// Decodes; `optional` defaults to `false`.
    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      quantizerName = try c.decode(WildcardPattern.self, forKey: .quantizerName)
      cfg = try c.decodeIfPresent(QuantizerAttributes.self, forKey: .cfg)
      enable = try c.decodeIfPresent(Bool.self, forKey: .enable)
      optional = try c.decodeIfPresent(Bool.self, forKey: .optional) ?? false
    }

    /// Encodes every key (unset ones as `null`).
    public func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(quantizerName, forKey: .quantizerName)
      try c.encode(cfg, forKey: .cfg)
      try c.encode(enable, forKey: .enable)
      try c.encode(optional, forKey: .optional)
    }
  }

  /// The rules, in order.
  public var quantCfg: [Entry]
  /// The calibration algorithm, or `nil` for plain calibration (each quantizer's calibrator).
  public var algorithm: CalibrationAlgorithmSpec?

  /// Creates a config from rules and, optionally, a calibration algorithm.
  public init(_ rules: [Entry], algorithm: CalibrationAlgorithmSpec? = nil) {
    quantCfg = rules
    self.algorithm = algorithm
  }

  /// A copy that calibrates with `algorithm` (`nil`: plain calibration).
  public func with(algorithm: CalibrationAlgorithmSpec?) -> QuantizeConfig {
    var c = self
    c.algorithm = algorithm
    return c
  }

  /// Decodes JSON strictly (unknown keys are errors naming their key path).
  ///
  /// - Throws: ``ConfigError``.
  public init(json: JSONValue) throws {
    self = try json.decode(QuantizeConfig.self, context: "quantize config")
  }

  /// Parses JSON text strictly.
  ///
  /// - Throws: ``ConfigError``.
  public init(jsonText: String) throws { try self.init(json: JSONValue(parsing: jsonText)) }

  /// The config as JSON.
  public var json: JSONValue { (try? JSONValue.encoding(self)) ?? .null }

  /// A copy with one more rule at the end (it wins over the earlier ones).
  public func adding(_ pattern: String, _ cfg: QuantizerAttributes) -> QuantizeConfig {
    var c = self
    c.quantCfg.append(Entry(pattern, cfg: cfg))
    return c
  }

  /// A copy with one more enable / disable rule at the end.
  public func setting(_ pattern: String, enabled: Bool, optional: Bool = false) -> QuantizeConfig {
    var c = self
    c.quantCfg.append(Entry(pattern, enable: enabled, optional: optional))
    return c
  }

  /// Resolves the rules over the quantizer paths that exist.
  ///
  /// - Parameter paths: Every quantizer path of the model (filled or not).
  /// - Returns: The final attributes of each configured path; unconfigured paths are absent.
  /// - Throws: ``ConfigError`` for a rule that matches nothing (listing `paths`), a rule with
  ///   neither `cfg` nor `enable`, or `enable: true` on a quantizer no earlier rule configured.
  public func resolve(paths: [String]) throws -> [String: QuantizerAttributes] {
    var result: [String: QuantizerAttributes] = [:]
    for (i, entry) in quantCfg.enumerated() {
      let keyPath = "quantCfg[\(i)]"
      let matched = paths.filter { entry.quantizerName.matches($0) }
      if matched.isEmpty && !entry.optional {
        throw ConfigError.invalidValue(
          "quantize config", path: "\(keyPath).quantizerName",
          "pattern '\(entry.quantizerName)' matches no quantizer; the model's quantizer paths are: "
            + paths.joined(separator: ", ") + " (mark the rule \"optional\": true to allow this)")
      }
      if entry.cfg == nil && entry.enable == nil {
        throw ConfigError.invalidValue(
          "quantize config", path: keyPath, "a rule needs 'cfg' or 'enable'")
      }
      for path in matched {
        if var cfg = entry.cfg {
          if let e = entry.enable { cfg.enable = e }
          result[path] = cfg
        } else if let e = entry.enable {
          if result[path] != nil {
            result[path]!.enable = e
          } else if e {
            throw ConfigError.invalidValue(
              "quantize config", path: "\(keyPath).enable",
              "'\(path)' has no attributes to enable; give the rule a 'cfg' or configure it in an earlier rule")
          }
        }
      }
    }
    return result
  }
}
