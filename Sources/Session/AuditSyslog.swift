import Foundation
import Store
#if canImport(Glibc)
import Glibc
#endif

/// Audit events to syslog (facility authpriv), one line each, for hosts that ship syslog to a SIEM.
enum AuditSyslog {
    nonisolated(unsafe) static var opened = false

    static func send(_ e: AuditEvent, priority: Int32? = nil) {
        if !opened {
            openlog("jitsh", LOG_PID, LOG_AUTHPRIV)
            opened = true
        }
        let text = "\(e.kind) identity=\(e.identity) session=\(e.sessionID ?? "-") decision=\(e.decision) rule=\(e.rule) line=\(e.line) reason=\(e.reason)" + (priority == nil ? "" : " data=\(e.data)")
        text.withCString { message in
            "%s".withCString { format in
                withVaList([message]) { vsyslog(priority ?? (e.decision == "deny" ? LOG_WARNING : LOG_INFO), format, $0) }
            }
        }
    }
}
