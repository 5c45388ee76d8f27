/// The program interpreter (`PT_INTERP`, the dynamic loader) an ELF executable names,
/// read from the first bytes of the file, following `<elf.h>`'s `Elf64_Ehdr`/`Elf64_Phdr`
/// (and the 32-bit forms).
///
/// ```
///  0        4     5      6       16      18 (64-bit offsets)         32        54   56
///  ┌────────┬─────┬──────┬───────┬───────┬────────────────────────────┬─────────┬────┬────┐
///  │7f E L F│class│endian│ …     │e_type │ … e_phoff (8 @32) …         │ …       │ent │num │
///  └────────┴─────┴──────┴───────┴───────┴────────────────────────────┴─────────┴────┴────┘
///  program headers at e_phoff, e_phnum × e_phentsize:
///  ┌──────────┬────────────┬──────────┬──────┬──────┬──────────┬─────┐
///  │ p_type   │ p_flags    │ p_offset │ …    │ …    │ p_filesz │ …   │  PT_INTERP = 3:
///  └──────────┴────────────┴──────────┴──────┴──────┴──────────┴─────┘  "/lib64/ld-linux-x86-64.so.2\0"
/// ```
public enum ElfProgramInterpreter {
    public enum Result: Sendable, Equatable {
        /// Not an ELF file (a script, garbage).
        case notElf
        /// ELF without `PT_INTERP`: static, or a shared library.
        case none
        /// The interpreter path the kernel loads.
        case interpreter(String)
        /// The headers point past the bytes given: read at least `needed` bytes and ask again.
        case needsMoreBytes(needed: Int)
        /// The headers are inconsistent (a truncated or damaged file).
        case malformed(String)
    }

    /// Looks for `PT_INTERP` in `bytes`, a prefix of the file.
    public static func read(_ bytes: [UInt8]) -> Result {
        guard bytes.count >= 16, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            return .notElf
        }
        let is64: Bool
        switch bytes[4] {
        case 1: is64 = false
        case 2: is64 = true
        default: return .malformed("unknown ELF class \(bytes[4])")
        }
        let little: Bool
        switch bytes[5] {
        case 1: little = true
        case 2: little = false
        default: return .malformed("unknown ELF data encoding \(bytes[5])")
        }
        let headerSize = is64 ? 64 : 52
        guard bytes.count >= headerSize else { return .needsMoreBytes(needed: headerSize) }

        func field(_ offset: Int, _ width: Int) -> Int {
            var value = 0
            for i in 0..<width {
                let byte = Int(bytes[offset + (little ? width - 1 - i : i)])
                value = value << 8 | byte
            }
            return value
        }

        let phoff = is64 ? field(32, 8) : field(28, 4)
        let phentsize = is64 ? field(54, 2) : field(42, 2)
        let phnum = is64 ? field(56, 2) : field(44, 2)
        if phnum == 0 { return .none }
        let minimumEntry = is64 ? 56 : 32
        guard phentsize >= minimumEntry else { return .malformed("program header entry of \(phentsize) bytes") }
        // 0xffff program headers means the real count is elsewhere (PN_XNUM); executables
        // never need that many, and the bound keeps the arithmetic small.
        guard phnum < 0xffff, phoff >= 0, phoff <= Int(Int32.max) else {
            return .malformed("program header table at \(phoff) × \(phnum)")
        }
        let tableEnd = phoff + phnum * phentsize
        guard bytes.count >= tableEnd else { return .needsMoreBytes(needed: tableEnd) }

        for index in 0..<phnum {
            let entry = phoff + index * phentsize
            guard field(entry, 4) == 3 else { continue }   // PT_INTERP
            let offset = is64 ? field(entry + 8, 8) : field(entry + 4, 4)
            let size = is64 ? field(entry + 32, 8) : field(entry + 16, 4)
            guard size > 0, size <= 4096, offset >= 0, offset <= Int(Int32.max) else {
                return .malformed("PT_INTERP of \(size) bytes at \(offset)")
            }
            guard bytes.count >= offset + size else { return .needsMoreBytes(needed: offset + size) }
            let path = bytes[offset..<(offset + size)].prefix { $0 != 0 }
            return .interpreter(String(decoding: path, as: UTF8.self))
        }
        return .none
    }
}
