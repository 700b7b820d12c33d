import ShellSyntax

extension Decider {
    /// The decider for a tool's own dry run (`kubectl delete … --dry-run=server`, `git clean … --dry-run`):
    /// the role's deny and allow rules and the built-in protections, never its confirm rules. The
    /// dry run previews the confirmable command; deciding it as that command would refuse every one.
    public func forDryRuns() -> Decider {
        var p = policy
        for (name, role) in p.roles {
            p.roles[name] = CompiledRole(role: role.role, rules: role.rules.filter { $0.kind != .confirm }, writes: role.writes,
                                         environment: role.environment)
        }
        return Decider(p)
    }
}
