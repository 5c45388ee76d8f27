/// Shell wildcard matching as fnmatch(3) does it with no flags, for loader.conf's
/// `default` (the knowledge base's simpler `Glob` knows only `*` and `?`): `*` any run of characters, `/` and a leading `.` included; `?` one
/// character; `[…]` a set with ranges (`a-z`), classes (`[:digit:]`) and `!` or `^` to
/// negate, `]` first taken literally; `\` takes the next character literally. An unclosed
/// `[` is a literal `[`; a trailing `\` matches nothing. Ranges and classes compare Unicode
/// scalar values, as the C locale compares bytes.
public enum Fnmatch {
    /// Whether `name` matches `pattern` as a whole.
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern.unicodeScalars), s = Array(name.unicodeScalars)
        var pi = 0, si = 0
        // The last `*` seen and where in `name` it is retried from: one star is enough to
        // backtrack to, since a later star can only match less.
        var star: (pattern: Int, name: Int)?
        while si < s.count {
            if pi < p.count, p[pi] == "*" {
                star = (pi, si)
                pi += 1
                continue
            }
            if pi < p.count, let step = matchOne(p, pi, s[si]) {
                pi += step
                si += 1
                continue
            }
            guard let last = star else { return false }
            star = (last.pattern, last.name + 1)
            pi = last.pattern + 1
            si = last.name + 1
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    /// How many pattern scalars at `pi` matched `c`, nil when they do not match it.
    static func matchOne(_ p: [Unicode.Scalar], _ pi: Int, _ c: Unicode.Scalar) -> Int? {
        switch p[pi] {
        case "?":
            return 1
        case "\\":
            return pi + 1 < p.count && p[pi + 1] == c ? 2 : nil
        case "[":
            guard let (matched, length) = bracket(p, pi, c) else { return c == "[" ? 1 : nil }
            return matched ? length : nil
        default:
            return p[pi] == c ? 1 : nil
        }
    }

    /// The bracket expression at `start` (`[`): whether it matches `c` and its length.
    /// Nil when it is never closed.
    static func bracket(_ p: [Unicode.Scalar], _ start: Int, _ c: Unicode.Scalar) -> (matched: Bool, length: Int)? {
        var i = start + 1
        var negated = false
        if i < p.count, p[i] == "!" || p[i] == "^" {
            negated = true
            i += 1
        }
        var matched = false
        var first = true
        while i < p.count {
            if p[i] == "]" && !first {
                return (matched != negated, i + 1 - start)
            }
            first = false
            if p[i] == "[", i + 1 < p.count, p[i + 1] == ":",
               let close = (i + 2..<p.count).first(where: { p[$0] == ":" && $0 + 1 < p.count && p[$0 + 1] == "]" }) {
                let name = String(String.UnicodeScalarView(p[(i + 2)..<close]))
                if isMember(c, ofClass: name) { matched = true }
                i = close + 2
                continue
            }
            var low = p[i]
            if low == "\\", i + 1 < p.count {
                i += 1
                low = p[i]
            }
            i += 1
            // `a-z`; a `-` before the closing `]` is literal.
            if i + 1 < p.count, p[i] == "-", p[i + 1] != "]" {
                var high = p[i + 1]
                i += 2
                if high == "\\", i < p.count {
                    high = p[i]
                    i += 1
                }
                if low.value <= c.value && c.value <= high.value { matched = true }
            } else if low == c {
                matched = true
            }
        }
        return nil
    }

    /// Whether `c` is in the POSIX class `name` of the C locale; nothing is in an unknown class.
    static func isMember(_ c: Unicode.Scalar, ofClass name: String) -> Bool {
        let digit = ("0"..."9").contains(c), lower = ("a"..."z").contains(c), upper = ("A"..."Z").contains(c)
        switch name {
        case "alpha": return lower || upper
        case "digit": return digit
        case "alnum": return digit || lower || upper
        case "upper": return upper
        case "lower": return lower
        case "xdigit": return digit || ("a"..."f").contains(c) || ("A"..."F").contains(c)
        case "space": return [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"].contains(c)
        case "blank": return c == " " || c == "\t"
        case "punct": return (0x21...0x7e).contains(c.value) && !(digit || lower || upper)
        case "cntrl": return c.value < 0x20 || c.value == 0x7f
        case "print": return (0x20...0x7e).contains(c.value)
        case "graph": return (0x21...0x7e).contains(c.value)
        default: return false
        }
    }
}
