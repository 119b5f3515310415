import QATKit

extension KDConfig {
  /// Creates a `kd_loss` configuration from JSON (the form of ``KDConfig/json``) and a live
  /// teacher, resolving every criterion and balancer `kind` through `registry`, so plugin
  /// criteria and balancers work by name exactly as the built-ins do:
  ///
  /// ```swift
  /// let json = try JSONValue(parsing: """
  ///   {"criteria": [{"student_layer": "", "teacher_layer": "", "criterion": {"kind": "rkd"}}],
  ///    "balancer": {"kind": "uncertainty"}}
  ///   """)
  /// let kd = try KDConfig(json: json, teacher: teacher, registry: InTreePlugins.registry)
  /// let model = try convert(student, modes: [.kdLoss(kd)], registry: InTreePlugins.registry)
  /// ```
  ///
  /// `.named("kd_loss", json)` cannot do this: a mode built from JSON alone has no teacher
  /// (it throws, pointing here).
  ///
  /// - Throws: ``ConfigError`` naming the key path: `criteria[0].criterion.kind` for an
  ///   unknown kind (with the registered ones and the nearest), `balancer.kd_weights` for a
  ///   balancer's own error, and so on.
  public init(json: JSONValue, teacher: Module?, registry: Registry) throws {
    try self.init(
      json: json, teacher: teacher, makeCriterion: { try registry.makeCriterion($0) },
      makeBalancer: { try registry.makeBalancer($0) })
  }
}
