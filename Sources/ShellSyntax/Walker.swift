// One walk over the tree, in source order, that tells a visitor every node and the constructs
// around it. Extraction and the assignment pre-pass are both visitors of this walk.

public enum SyntaxNode {
    case statement(Statement)
    case word(Word)
    case part(WordPart)
    case arithmetic(Arithmetic)
    case assignment(Assignment)
    case redirect(Redirect)
}

public protocol SyntaxVisitor {
    /// Returns false to skip the node's children.
    mutating func visit(_ node: SyntaxNode, context: [ContextKind]) -> Bool
}

public enum SyntaxWalker {
    public static func walk<V: SyntaxVisitor>(_ script: Script, _ visitor: inout V, context: [ContextKind] = []) {
        for statement in script.statements { walk(statement, &visitor, context) }
    }

    static func walk<V: SyntaxVisitor>(_ s: Statement, _ v: inout V, _ context: [ContextKind]) {
        guard v.visit(.statement(s), context: context) else { return }
        let ctx = s.background ? context + [.background] : context
        switch s.command {
        case .simple(let sc):
            for a in sc.assignments { walk(a, &v, ctx) }
            for w in sc.words { walk(w, &v, ctx) }
        case .pipeline(let p):
            for c in p.commands { walk(c, &v, ctx + [.pipeline]) }
        case .andOr(let list):
            walk(list.first, &v, ctx)
            for link in list.rest { walk(link.statement, &v, ctx + [.andOr]) }
        case .subshell(let body):
            walk(body, &v, context: ctx + [.subshell])
        case .group(let body):
            walk(body, &v, context: ctx + [.group])
        case .ifClause(let c):
            for branch in c.branches {
                walk(branch.condition, &v, context: ctx + [.ifCondition])
                walk(branch.body, &v, context: ctx + [.ifBody])
            }
            if let e = c.elseBody { walk(e, &v, context: ctx + [.ifBody]) }
        case .loop(let l):
            walk(l.condition, &v, context: ctx + [.loopCondition])
            walk(l.body, &v, context: ctx + [.loopBody])
        case .forIn(let f):
            for w in f.items ?? [] { walk(w, &v, ctx) }
            walk(f.body, &v, context: ctx + [.loopBody])
        case .forArithmetic(let f):
            for a in [f.initializer, f.condition, f.update] { walk(a, &v, ctx + [.loopCondition]) }
            walk(f.body, &v, context: ctx + [.loopBody])
        case .caseClause(let c):
            walk(c.subject, &v, ctx)
            for item in c.items {
                for p in item.patterns { walk(p, &v, ctx + [.caseBody]) }
                walk(item.body, &v, context: ctx + [.caseBody])
            }
        case .function(let f):
            walk(f.body, &v, ctx + [.functionBody])
        case .arithmetic(let a):
            walk(a, &v, ctx)
        case .conditional(let c):
            for case .word(let w) in c.tokens { walk(w, &v, ctx + [.conditionalExpression]) }
        case .coproc(_, let body):
            walk(body, &v, ctx + [.coproc])
        case .time(_, let body):
            if let body { walk(body, &v, ctx) }
        }
        for r in s.redirects { walk(r, &v, ctx + [.redirection]) }
    }

    static func walk<V: SyntaxVisitor>(_ a: Assignment, _ v: inout V, _ context: [ContextKind]) {
        guard v.visit(.assignment(a), context: context) else { return }
        if let sub = a.index { walk(sub, &v, context + [.assignment]) }
        switch a.value {
        case .scalar(let w):
            walk(w, &v, context + [.assignment])
        case .array(let elements):
            for e in elements {
                if let key = e.key { walk(key, &v, context + [.assignment]) }
                walk(e.value, &v, context + [.assignment])
            }
        }
    }

    static func walk<V: SyntaxVisitor>(_ r: Redirect, _ v: inout V, _ context: [ContextKind]) {
        guard v.visit(.redirect(r), context: context) else { return }
        walk(r.target, &v, context)
        if let doc = r.hereDoc { walk(doc.body, &v, context + [.hereDocument]) }
    }

    public static func walk<V: SyntaxVisitor>(_ w: Word, _ v: inout V, _ context: [ContextKind]) {
        guard v.visit(.word(w), context: context) else { return }
        for p in w.parts { walk(p, &v, context) }
    }

    static func walk<V: SyntaxVisitor>(_ p: WordPart, _ v: inout V, _ context: [ContextKind]) {
        guard v.visit(.part(p), context: context) else { return }
        switch p {
        case .literal, .escaped, .singleQuoted, .ansiC:
            break
        case .doubleQuoted(let inner), .localized(let inner):
            for q in inner { walk(q, &v, context) }
        case .parameter(let pe):
            let ctx = context + [.parameterExpansion]
            if case .index(let w)? = pe.index { walk(w, &v, ctx) }
            switch pe.op {
            case .useDefault(_, let w), .assignDefault(_, let w), .errorIfUnset(_, let w), .useAlternative(_, let w),
                 .removePrefix(_, let w), .removeSuffix(_, let w):
                walk(w, &v, ctx)
            case .replace(_, let pattern, let replacement):
                walk(pattern, &v, ctx)
                if let r = replacement { walk(r, &v, ctx) }
            case .caseModification(_, _, let pattern):
                if let pattern { walk(pattern, &v, ctx) }
            case .substring(let offset, let length):
                walk(offset, &v, ctx)
                if let length { walk(length, &v, ctx) }
            case .transform, .namesWithPrefix, .arrayKeys, nil:
                break
            }
        case .commandSubstitution(let script, _, _):
            walk(script, &v, context: context + [.commandSubstitution])
        case .processSubstitution(let script, _, _):
            walk(script, &v, context: context + [.processSubstitution])
        case .arithmetic(let a):
            walk(a, &v, context + [.arithmetic])
        case .arrayLiteral(let elements):
            for e in elements {
                if let key = e.key { walk(key, &v, context) }
                walk(e.value, &v, context)
            }
        }
    }

    static func walk<V: SyntaxVisitor>(_ a: Arithmetic, _ v: inout V, _ context: [ContextKind]) {
        guard v.visit(.arithmetic(a), context: context) else { return }
        for case .expansion(let part) in a.tokens { walk(part, &v, context) }
    }
}
