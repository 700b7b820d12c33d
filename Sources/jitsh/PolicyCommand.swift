import ArgumentParser
import Foundation
import Policy
import Session

struct PolicyGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check and test policies before they ship.",
        discussion: """
            Example:
              jitsh policy lint policies && jitsh policy test policies
            """,
        subcommands: [Lint.self, Test.self, WhatIfCommand.self]
    )
}

extension PolicyGroup {
    struct Lint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report every error and warning in a policy directory, with file:line:column.",
            discussion: """
                Errors (unknown keys, bad globs, unknown or cyclic roles, bad time windows) mean the policy \
                does not load: sessions refuse to start. Warnings point at rules that can never apply or \
                repeat others. Exit status 1 when there are errors (or warnings, with --strict).

                Example:
                  jitsh policy lint /etc/jitsh/policies
                """
        )

        @Argument(help: "The policy directory.")
        var directory: String = "/etc/jitsh/policies"

        @Flag(help: "Treat warnings as errors.")
        var strict = false

        func run() throws {
            let files: [PolicyFile]
            do {
                files = try PolicyDirectoryReader.readNamed(directory)
            } catch {
                Console.error("\(error)")
                throw ExitCode(ExitStatus.error)
            }
            do {
                let policy = try PolicyLoader.load(files.filter { !$0.path.hasPrefix("tests/") })
                for w in policy.warnings { Console.line("\(w)") }
                let rules = policy.roles.values.reduce(0) { $0 + $1.role.rules.count }
                Console.line("ok: \(policy.roles.count) roles, \(rules) rules, \(policy.contracts.count) contracts"
                      + (policy.warnings.isEmpty ? "" : ", \(policy.warnings.count) warnings"))
                if strict && !policy.warnings.isEmpty { throw ExitCode(1) }
            } catch let error as PolicyError {
                for d in error.diagnostics { Console.line("\(d)") }
                let count = error.diagnostics.filter { $0.severity == .error }.count
                Console.line("the policy does not load: \(count) error\(count == 1 ? "" : "s")")
                throw ExitCode(1)
            }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the expectations in tests/*.yaml against the policy.",
            discussion: """
                Each case gives a line, a role and the expected decision (and optionally the rule that must \
                decide). Failures print with the decision's explanation; exit status 1 on any failure.

                Example case (policies/tests/readonly.yaml):
                  - line: "find /var/log -delete"
                    role: readonly
                    expect: deny
                """
        )

        @Argument(help: "The policy directory.")
        var directory: String = "/etc/jitsh/policies"

        @Flag(name: .shortAndLong, help: "Print every case, not only failures.")
        var verbose = false

        func run() throws {
            let files: [PolicyFile]
            let policy: Policy
            do {
                files = try PolicyDirectoryReader.readNamed(directory)
                policy = try PolicyLoader.load(files.filter { !$0.path.hasPrefix("tests/") })
            } catch {
                Console.error("policy error: \(error)")
                throw ExitCode(ExitStatus.error)
            }
            var cases: [PolicyTestCase] = []
            for file in files where file.path.hasPrefix("tests/") {
                do {
                    cases += try PolicyTesting.parse(file)
                } catch {
                    Console.error("\(error)")
                    throw ExitCode(ExitStatus.error)
                }
            }
            if cases.isEmpty {
                Console.error("no test cases in \(directory.visible)/tests")
                throw ExitCode(ExitStatus.error)
            }
            let results = PolicyTesting.run(cases, policy: policy, zones: SystemZones())
            for r in results where !r.passed || verbose {
                let c = r.testCase
                Console.line("\(r.passed ? "pass" : "FAIL") \(c.ref.description)  [\(c.role.visible)] \(c.line.visible)")
                if let failure = r.failure { Console.line("     \(failure.visible)") }
            }
            let failed = results.filter { !$0.passed }.count
            Console.line("\(results.count - failed) passed, \(failed) failed")
            if failed > 0 { throw ExitCode(1) }
        }
    }
}
