enum JitshVersion {
    static let number = "0.1.0"
    static var description: String { "jitsh \(number)" }
}
