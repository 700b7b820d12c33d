import Foundation
import Policy
import Store
import Testing

/// Audit kinds, decisions and `data` layouts are types; what they write is what searches read.
@Suite struct AuditRecordTests {
    @Test func everyKindIsWrittenAsItsStoredName() {
        #expect(AuditKind.sessionStart.rawValue == "session-start")
        #expect(AuditKind.guard.rawValue == "guard")
        #expect(AuditKind.confirmTokenUsed.rawValue == "confirm-token-used")
        #expect(Set(AuditKind.allCases.map(\.rawValue)).count == AuditKind.allCases.count)
        #expect(AuditKind.allCases.allSatisfy { $0.rawValue.utf8.allSatisfy { $0 == UInt8(ascii: "-") || (97...122).contains($0) } })
    }

    @Test func aLineEventsDataIsOneStableObject() {
        let data = LineAuditData(commands: [.init(argv: ["rm", "-rf", "/srv/old"], decision: .confirm, rule: "roles/operator.yaml:12:5",
                                                  reason: "deletes")], cwd: "/srv", alert: true)
        #expect(data.json == #"{"alert":true,"commands":[{"argv":["rm","-rf","/srv/old"],"decision":"confirm","reason":"deletes","rule":"roles/operator.yaml:12:5"}],"cwd":"/srv"}"#)
    }

    @Test func aClientStringCannotBreakOutOfTheSessionStartData() throws {
        let json = SessionStartData(mode: "exec", grant: 7, client: "10.0.0.1\",\"grant\":99,\"x\":\"\u{1b}[2J").json
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["grant"] as? Int == 7)
        #expect(object["client"] as? String == "10.0.0.1\",\"grant\":99,\"x\":\"\u{1b}[2J")
        #expect(object.count == 3)
    }

    @Test func aVerdictIsRecordedAsItsDecision() {
        #expect(AuditDecision(.allow) == .allow)
        #expect(AuditDecision(.deny) == .deny)
        #expect(AuditDecision(.confirm) == .confirm)
        #expect(AuditDecision.none.rawValue == "")
    }
}
