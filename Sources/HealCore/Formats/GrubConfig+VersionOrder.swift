extension GrubConfig {
    /// Orders kernel versions as grub-mkconfig's `version_find_latest` does on Debian, which
    /// asks `dpkg --compare-versions` (Debian's mkconfig_use_dpkg_version_comparison
    /// patch): the string splits into epoch (before the first `:`), upstream, and revision
    /// (after the last `-`), each compared in turn with dpkg's `verrevcmp`.
    /// - Returns: a negative number, zero or a positive number as `a` sorts before, with
    ///   or after `b`.
    public static func compareVersions(_ a: String, _ b: String) -> Int {
        func split(_ version: String) -> (epoch: Int, upstream: String, revision: String) {
            var rest = Substring(version)
            var epoch = 0
            if let colon = rest.firstIndex(of: ":"), let value = Int(rest[..<colon]) {
                epoch = value
                rest = rest[rest.index(after: colon)...]
            }
            guard let dash = rest.lastIndex(of: "-") else { return (epoch, String(rest), "") }
            return (epoch, String(rest[..<dash]), String(rest[rest.index(after: dash)...]))
        }
        let x = split(a), y = split(b)
        if x.epoch != y.epoch { return x.epoch < y.epoch ? -1 : 1 }
        let upstream = verrevcmp(x.upstream, y.upstream)
        return upstream != 0 ? upstream : verrevcmp(x.revision, y.revision)
    }

    /// dpkg's `verrevcmp` (lib/dpkg/version.c): runs of non-digits compare by character
    /// with letters before other characters and `~` before everything, even the end; runs
    /// of digits compare numerically.
    static func verrevcmp(_ a: String, _ b: String) -> Int {
        let x = Array(a.utf8), y = Array(b.utf8)
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        func order(_ c: UInt8?) -> Int {
            guard let c else { return 0 }
            if isDigit(c) { return 0 }
            if (c >= 65 && c <= 90) || (c >= 97 && c <= 122) { return Int(c) }
            if c == UInt8(ascii: "~") { return -1 }
            return Int(c) + 256
        }
        var i = 0, j = 0
        while i < x.count || j < y.count {
            var firstDiff = 0
            while (i < x.count && !isDigit(x[i])) || (j < y.count && !isDigit(y[j])) {
                let ac = order(i < x.count ? x[i] : nil), bc = order(j < y.count ? y[j] : nil)
                if ac != bc { return ac - bc }
                i += 1
                j += 1
            }
            while i < x.count && x[i] == 48 { i += 1 }
            while j < y.count && y[j] == 48 { j += 1 }
            while i < x.count && isDigit(x[i]) && j < y.count && isDigit(y[j]) {
                if firstDiff == 0 { firstDiff = Int(x[i]) - Int(y[j]) }
                i += 1
                j += 1
            }
            if i < x.count && isDigit(x[i]) { return 1 }
            if j < y.count && isDigit(y[j]) { return -1 }
            if firstDiff != 0 { return firstDiff }
        }
        return 0
    }
}
