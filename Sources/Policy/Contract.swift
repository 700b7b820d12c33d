/// An access contract (`contracts/NAME.yaml`): who may hold which role where, for how long,
/// and how they get it.
public struct Contract: Sendable {
    public var name: String
    public var description: String
    public var ref: SourceRef
    public var role: String
    public var requesterGroups: [String]
    public var requesterPeople: [String]
    /// Host name globs; a host is covered if it matches one (or `hostTags` match).
    public var hostNames: [Glob]
    public var hostTags: HostCondition?
    public var defaultDuration: Int
    public var maxDuration: Int
    public var reasonRequired: Bool
    public var reasonPattern: String?
    public var approval: Approval
    /// Requests are refused while one of these windows holds (change freezes, weekends).
    public var denyWindows: [TimeWindow]
    /// Pending requests expire after this many seconds.
    public var pendingTTL: Int
    /// Automation without a terminal may confirm with the token a dry run printed
    /// (`ssh host confirm TOKEN 'LINE'`).
    public var confirmTokens = false
    /// `snapshot:` (and `snapshot_limit:`) in the contract: watched files for sessions under its
    /// grants, in place of the role's.
    public var snapshot: SnapshotSettings? = nil

    /// How requests under the contract are approved.
    public struct Approval: Sendable, Equatable {
        /// Who must approve; nil: the contract approves at once (`auto: true`).
        public var rule: ApprovalRule?
        /// A plug-in asked first (`auto_if:`); when it says no, the rule decides.
        public var onCall: OnCallCheck?

        public init(rule: ApprovalRule?, onCall: OnCallCheck? = nil) {
            self.rule = rule
            self.onCall = onCall
        }

        public static let automatic = Approval(rule: nil)

        /// `count` distinct approvers from these groups or people.
        public static func approvers(count: Int, groups: [String], people: [String]) -> Approval {
            Approval(rule: .approvers(count: count, groups: groups, people: people))
        }

        public var description: String {
            guard let rule else { return "approved at once" }
            let needs = "needs approval by \(rule.description)"
            return onCall == nil ? needs : "approved at once if on call, else \(needs)"
        }
    }

    public func covers(_ host: HostInfo) -> Bool {
        if hostNames.contains(where: { $0.matches(host.name) }) { return true }
        if let tags = hostTags, tags.matches(host) { return true }
        return hostNames.isEmpty && hostTags == nil
    }

    public func mayRequest(identity: String, groups: Set<String>) -> Bool {
        requesterPeople.contains(identity) || requesterGroups.contains(where: groups.contains)
    }

    public func mayApprove(identity: String, groups: Set<String>) -> Bool {
        approval.rule?.admits(identity: identity, groups: groups) ?? false
    }
}
